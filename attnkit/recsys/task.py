"""Click-through prediction over long behaviour sequences (DARE, TWIN, DIN) as a task family."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import polars as pl

from attnkit.data.splits import DataSplit
from attnkit.errors import AttnkitError, ConfigError, DataError
from attnkit.recsys.batches import BehaviourBatches
from attnkit.recsys.log_readers import collect_log, scan_log
from attnkit.recsys.metrics import ctr_metrics
from attnkit.recsys.model import LongSequenceCTR
from attnkit.recsys.preprocessor import SequenceIdMaps
from attnkit.recsys.raw_inputs import FIELDS, parse_records, read_records
from attnkit.recsys.sequences import (
    BehaviourLog,
    Examples,
    ExampleSpec,
    build_log,
    make_examples,
)
from attnkit.tasks.base import Task
from attnkit.tasks.registry import register_model, register_task

TASK_NAME = "sequential_ctr"
register_model("long_sequence_ctr", task=TASK_NAME)(LongSequenceCTR)
#: Raw ids shown per history in a logged input example.
EXAMPLE_HISTORY = 20


@dataclass(frozen=True)
class SequenceSplit(DataSplit):
    """Examples (``user``, ``end``, ``item``, ``category``, ``label`` codes) over ``log``."""

    log: BehaviourLog | None = None


def _spec(data: Mapping[str, Any]) -> ExampleSpec:
    step, count = data["train_offset_step"], data["train_targets"]
    if step <= 0 or count < 0:
        raise ConfigError("data.train_offset_step must be positive, data.train_targets >= 0")
    offsets = tuple(data["train_offset_start"] + step * i for i in range(count))
    return ExampleSpec(offsets, data["dev_offset"], data["test_offset"], data["negatives"],
                       data["min_history"], data["min_behaviours"])


@register_task
class SequentialCTRTask(Task):
    """A user's behaviour history and a candidate item in, a click probability out.

    Data: an interaction log (MovieLens ``ratings.dat``/``u.data`` with genres as categories,
    Taobao ``UserBehavior.csv``, or a CSV/Parquet with user, item, category, timestamp
    columns), turned into DARE's examples by :mod:`attnkit.recsys.sequences`. Scores global
    AUC, GAUC (per user) and log loss. ``predict`` takes ``{"history": [...], "candidates":
    [...]}`` records of raw item ids and answers one score per candidate.

    Example:
        >>> SequentialCTRTask().parse_raw({"history": ["1", "2"], "candidates": ["3"]}).height
        1
    """

    name = TASK_NAME
    input_fields = FIELDS
    primary_metric = "auc"
    metric_names = ("auc", "gauc", "logloss")
    data_arguments = ("num_items", "num_categories", "max_length")
    data_defaults = {
        "format": "auto",
        "log": "",
        "categories": "",
        "behaviours": ["pv"],
        "user_column": "user",
        "item_column": "item",
        "category_column": "category",
        "timestamp_column": "timestamp",
        "min_behaviours": 20,
        "min_history": 1,
        "train_offset_start": 3,
        "train_offset_step": 5,
        "train_targets": 19,
        "dev_offset": 2,
        "test_offset": 1,
        "negatives": 2,
    }
    preprocess_defaults = {"max_length": 200, "min_item_count": 1}

    # --- data ---
    def _log(self, path: Path, data: Mapping[str, Any]) -> BehaviourLog:
        columns = {column: data[f"{column}_column"]
                   for column in ("user", "item", "category", "timestamp")}
        lazy, file = scan_log(Path(path), data["format"], data["log"], data["categories"],
                              data["behaviours"], columns)
        return build_log(collect_log(lazy, file), file, data["min_behaviours"])

    def read_splits(self, path: Path, data: Mapping[str, Any], seed: int) -> dict[str, DataSplit]:
        log = self._log(path, data)
        examples = make_examples(log, _spec(data), seed)
        return {name: SequenceSplit(name, log.path, split.frame, log)
                for name, split in examples.items()}

    def read_file(self, path: Path, data: Mapping[str, Any], labelled: bool) -> DataSplit:
        """Labelled: a log, whose test examples are built as ``fit`` builds them, but with
        seed 0 for the negatives (a folder passed to ``evaluate`` uses the recipe's seed).
        Unlabelled: JSON Lines of prediction records."""
        path = Path(path)
        if not labelled:
            if path.suffix not in (".jsonl", ".json"):
                raise DataError(path, "predict input must be JSON Lines of {\"history\": [...], "
                                      "\"candidates\": [...]} records (.jsonl)")
            return DataSplit("input", path, read_records(path))
        log = self._log(path, data)
        test = make_examples(log, _spec(data), seed=0, splits=("test",))["test"]
        return SequenceSplit("test", log.path, test.frame, log)

    def fit_preprocessor(self, train: DataSplit, preprocess: Mapping[str, Any]) -> SequenceIdMaps:
        if not isinstance(train, SequenceSplit):
            raise DataError(train.path, "training data must be an interaction log")
        return SequenceIdMaps.fit(train.log, Examples(train.frame), preprocess["max_length"],
                                  preprocess["min_item_count"])

    def load_preprocessor(self, data: Mapping[str, Any]) -> SequenceIdMaps:
        return SequenceIdMaps.from_dict(data)

    def batches(self, preprocessor: SequenceIdMaps, split: DataSplit, batch_size: int,
                shuffle: bool, seed: int, labelled: bool = True) -> BehaviourBatches:
        if isinstance(split, SequenceSplit):
            item_map, category_map = preprocessor.log_maps(split.log)
            frame = split.frame
            labels = frame["label"].to_numpy() if labelled else None
            return BehaviourBatches(
                item_map[split.log.items], category_map[split.log.categories],
                split.log.starts[frame["user"].to_numpy()], frame["end"].to_numpy(),
                item_map[frame["item"].to_numpy()], category_map[frame["category"].to_numpy()],
                labels, preprocessor.max_length, batch_size, shuffle, seed)
        if labelled:
            raise DataError(split.path, "labelled data must be an interaction log")
        return self._record_batches(preprocessor, split.frame, batch_size)

    def _record_batches(self, preprocessor: SequenceIdMaps, frame: pl.DataFrame,
                        batch_size: int) -> BehaviourBatches:
        """One example per (record, candidate): the record's last N behaviours and the item."""
        histories = [h[-preprocessor.max_length:] for h in frame["history"].to_list()]
        candidates = frame["candidates"].to_list()
        flat = preprocessor.encode_items([item for h in histories for item in h])
        bounds = np.concatenate([[0], np.cumsum([len(h) for h in histories])]).astype(np.int64)
        counts = np.array([len(c) for c in candidates], dtype=np.int64)
        record = np.repeat(np.arange(len(candidates)), counts)
        items = preprocessor.encode_items([item for c in candidates for item in c])
        return BehaviourBatches(
            flat, preprocessor.categories_of(flat), bounds[record], bounds[record + 1],
            items, preprocessor.categories_of(items), None, preprocessor.max_length, batch_size)

    def input_example(self, split: DataSplit, rows: int = 3) -> pd.DataFrame:
        """Raw records (the last ``EXAMPLE_HISTORY`` behaviours) of a split's first rows."""
        if not isinstance(split, SequenceSplit):
            return super().input_example(split, rows)
        log, frame = split.log, split.frame.head(rows)
        records = []
        for user, end, item in frame.select("user", "end", "item").iter_rows():
            begin = max(int(log.starts[user]), int(end) - EXAMPLE_HISTORY)
            records.append({
                "history": [str(x) for x in log.item_vocabulary[log.items[begin:end]]],
                "candidates": [str(log.item_vocabulary[item])],
            })
        return pd.DataFrame(records)

    # --- model ---
    def model_arguments(self, preprocessor: SequenceIdMaps) -> dict[str, Any]:
        return {"num_items": preprocessor.num_items, "num_categories": preprocessor.num_categories,
                "max_length": preprocessor.max_length}

    def loss(self, recipe: Mapping[str, Any] | None = None) -> keras.losses.Loss:
        # The model adds its auxiliary loss itself (LongSequenceCTR.compute_loss).
        return keras.losses.BinaryCrossentropy()

    # --- scoring and outputs ---
    def labels(self, preprocessor: SequenceIdMaps, split: DataSplit) -> np.ndarray:
        """(n, 2): each example's 0/1 label and its user (for GAUC)."""
        if not isinstance(split, SequenceSplit):
            raise DataError(split.path, "labelled data must be an interaction log")
        frame = split.frame
        return np.stack([frame["label"].to_numpy().astype(np.int64),
                         frame["user"].to_numpy().astype(np.int64)], axis=1)

    def score(self, preprocessor, targets: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
        targets = np.asarray(targets)
        return ctr_metrics(targets[:, 0], np.asarray(outputs).reshape(-1), targets[:, 1])

    def parse_raw(self, records: Any) -> pl.DataFrame:
        return parse_records(records)

    def format_outputs(self, preprocessor, frame: pl.DataFrame, outputs: np.ndarray,
                       explanations: list[Any] | None = None) -> list[dict[str, Any]]:
        if explanations is not None:
            raise AttnkitError(f"task {self.name!r} has no explanation")
        outputs = np.asarray(outputs).reshape(-1)
        answers, start = [], 0
        for candidates in frame["candidates"].to_list():
            scores = outputs[start : start + len(candidates)]
            start += len(candidates)
            answers.append({"candidates": candidates,
                            "scores": [round(float(score), 6) for score in scores]})
        return answers
