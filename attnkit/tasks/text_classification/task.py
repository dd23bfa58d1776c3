"""Text classification as an attnkit task family (binary and multi-class)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import polars as pl

from attnkit.data.batches import BucketedBatches
from attnkit.data.files import nonblank_lines
from attnkit.data.splits import DataSplit, load_splits
from attnkit.data.text_readers import read_text_file, unescape_ag_news
from attnkit.errors import AttnkitError, DataError
from attnkit.tasks.base import Task
from attnkit.tasks.initial_embeddings import assign_tables, initial_table
from attnkit.tasks.registry import register_model, register_task
from attnkit.tasks.text_classification.metrics import classification_metrics
from attnkit.tasks.text_classification.model import TextClassifier
from attnkit.tasks.text_classification.preprocessor import TextClassificationPreprocessor

register_model("text_classifier", task="text_classification")(TextClassifier)

_SPLITS = ("train", "dev", "test")


def _keep_labels(split: DataSplit, keep: list[str]) -> DataSplit:
    """Only the rows whose label is in ``keep`` (all rows when ``keep`` is empty)."""
    if not keep:
        return split
    missing = sorted(set(keep) - set(split.frame["label"].drop_nulls().unique().to_list()))
    if missing and split.name == "train":
        raise DataError(split.path, f"data.keep_labels names labels not in the file: {missing}",
                        field="label")
    frame = split.frame.filter(pl.col("label").is_in(keep))
    return DataSplit(split.name, split.path, frame)


@register_task
class TextClassificationTask(Task):
    """Raw text in, one label out. Inputs: ``{"text": str}``; outputs: label + probabilities.

    Example:
        >>> task = TextClassificationTask()
        >>> task.parse_raw(["great film"]).to_dicts()
        [{'text': 'great film'}]
    """

    name = "text_classification"
    input_fields = ("text",)
    primary_metric = "accuracy"
    metric_names = ("accuracy", "macro_f1", "loss", "auc")
    data_arguments = ("vocabulary_size", "num_classes")
    data_defaults = {
        "format": "auto",
        "train": "",
        "dev": "",
        "test": "",
        "dev_fraction": 0.1,
        "test_fraction": 0.1,
        "text_column": "text",
        "label_column": "label",
        "include_title": False,
        "unescape_backslashes": False,
        "encoding": "utf-8",
        "keep_labels": [],
        "unlabelled": "",
        "unlabelled_labels": [],
    }
    preprocess_defaults = {
        "max_length": 64,
        "vocab_size": 30000,
        "min_frequency": 2,
        "lowercase": True,
        "vocab_file": "",
        "pretrained": "",
        "word_vectors": "",
        "word_vectors_limit": 50000,
    }

    # --- data ---
    def _reader(self, data: Mapping[str, Any]):
        read = partial(
            read_text_file,
            include_title=data["include_title"],
            text_column=data["text_column"],
            label_column=data["label_column"],
            encoding=data["encoding"],
        )
        if not data["unescape_backslashes"]:
            return read

        def read_unescaped(path, format="auto"):
            frame = read(path, format)
            return frame.with_columns(
                pl.col("text").map_elements(unescape_ag_news, return_dtype=pl.Utf8)
            )

        return read_unescaped

    def read_splits(self, path: Path, data: Mapping[str, Any], seed: int) -> dict[str, DataSplit]:
        files = {split: data[split] for split in _SPLITS if data[split]} or None
        formats = {split: data["format"] for split in _SPLITS}
        splits = load_splits(
            path,
            files=files,
            formats=formats,
            dev_fraction=data["dev_fraction"],
            test_fraction=data["test_fraction"],
            seed=seed,
            read=self._reader(data),
        )
        for split in splits.values():
            if split.frame["label"].null_count() == split.frame.height:
                raise DataError(split.path, f"the {split.name} split has no labels", field="label")
        return {name: _keep_labels(split, data["keep_labels"]) for name, split in splits.items()}

    def read_file(self, path: Path, data: Mapping[str, Any], labelled: bool) -> DataSplit:
        path = Path(path)
        if path.suffix == ".txt" and not labelled:
            rows = nonblank_lines(path, encoding=data["encoding"])
            frame = pl.DataFrame(
                {"text": [text for _, text in rows], "label": [None] * len(rows),
                 "_line": [line for line, _ in rows]},
                schema={"text": pl.Utf8, "label": pl.Utf8, "_line": pl.Int64},
            )
        else:
            frame = self._reader(data)(path, data["format"])
        if labelled and frame["label"].null_count() == frame.height:
            raise DataError(path, "no labels found; evaluate needs labelled data", field="label")
        split = DataSplit("test" if labelled else "input", path, frame)
        return _keep_labels(split, data.get("keep_labels") or []) if labelled else split

    def fit_preprocessor(self, train: DataSplit, preprocess: Mapping[str, Any]):
        return TextClassificationPreprocessor.fit(
            train.frame["text"].to_list(), train.frame["label"].to_list(), **preprocess
        )

    def load_preprocessor(self, data: Mapping[str, Any]) -> TextClassificationPreprocessor:
        return TextClassificationPreprocessor.from_dict(dict(data))

    def batches(self, preprocessor, split, batch_size, shuffle, seed, labelled=True):
        token_ids = preprocessor.encode_texts(split.frame["text"].to_list())
        labels = preprocessor.encode_labels(split) if labelled else None
        return BucketedBatches({"token_ids": token_ids}, labels, batch_size, shuffle, seed)

    # --- model ---
    def model_arguments(self, preprocessor) -> dict[str, Any]:
        return {
            "vocabulary_size": preprocessor.vocabulary_size,
            "num_classes": preprocessor.num_classes,
        }

    def initialize_model(self, model, preprocessor, recipe: Mapping[str, Any]) -> None:
        """Copy a pretrained checkpoint's word embeddings (``preprocess.pretrained``) or
        pretrained word vectors (``preprocess.word_vectors``) into the model's table."""
        initial = initial_table(preprocessor, recipe)
        if initial is not None:
            assign_tables([model.get_layer("embedding")], *initial)

    def loss(self, recipe=None):
        return keras.losses.SparseCategoricalCrossentropy()

    def keras_metrics(self) -> list:
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    # --- scoring and outputs ---
    def labels(self, preprocessor, split: DataSplit) -> np.ndarray:
        return preprocessor.encode_labels(split)

    def score(self, preprocessor, targets: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
        return classification_metrics(targets, outputs)

    def parse_raw(self, records: Any) -> pl.DataFrame:
        if isinstance(records, pd.DataFrame):
            records = pl.from_pandas(records)
        if isinstance(records, pl.DataFrame):
            if "text" not in records.columns:
                raise AttnkitError(
                    f"input has no 'text' column (columns: {records.columns})"
                )
            records = records["text"].to_list()
        if isinstance(records, (str, dict)):
            records = [records]
        texts = []
        for index, record in enumerate(records):
            text = record.get("text") if isinstance(record, dict) else record
            if not isinstance(text, str):
                raise AttnkitError(
                    f"record {index}: field 'text' must be a string, got {type(text).__name__}"
                )
            texts.append(text)
        return pl.DataFrame({"text": texts}, schema={"text": pl.Utf8})

    def format_outputs(self, preprocessor, frame, outputs, explanations=None):
        answers = []
        for row, probabilities in enumerate(outputs):
            answer = {
                "label": preprocessor.labels[int(np.argmax(probabilities))],
                "probabilities": {
                    label: round(float(p), 6) for label, p in zip(preprocessor.labels, probabilities, strict=True)
                },
            }
            if explanations is not None:
                answer["attention"] = explanations[row]
            answers.append(answer)
        return answers

    def explain(self, model, preprocessor, frame, batch_size):
        texts = frame["text"].to_list()
        split = DataSplit("input", Path("<input>"), frame.with_columns(pl.lit(None, pl.Utf8).alias("label")))
        batches = self.batches(preprocessor, split, batch_size, shuffle=False, seed=0, labelled=False)
        weights = [model.token_attention(batches[i][0]) for i in range(len(batches))]
        explanations: list[Any] = [None] * len(texts)
        for rows, batch_weights in zip(batches.order, weights, strict=True):
            for row, row_weights in zip(rows, batch_weights, strict=True):
                tokens = preprocessor.tokens(texts[row])
                explanations[row] = [
                    [token, round(float(w), 6)] for token, w in zip(tokens, row_weights[: len(tokens)], strict=True)
                ]
        return explanations
