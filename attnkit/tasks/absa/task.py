"""Aspect-based sentiment analysis (aspect-term polarity) as an attnkit task family."""

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
from attnkit.data.pretrained import resolve_checkpoint
from attnkit.data.splits import DataSplit, load_splits
from attnkit.errors import AttnkitError, ConfigError, DataError
from attnkit.pipelines.checkpoints import attnkit_home
from attnkit.tasks.absa.memnet import MemNet
from attnkit.tasks.absa.preprocessor import AbsaPreprocessor
from attnkit.tasks.absa.readers import SCHEMA, read_absa_file, resolve_aspect
from attnkit.tasks.absa.tnet import TNetATT
from attnkit.tasks.base import Task
from attnkit.tasks.initial_embeddings import assign_tables, initial_table
from attnkit.tasks.registry import register_model, register_task
from attnkit.tasks.text_classification.metrics import classification_metrics

TASK_NAME = "aspect_sentiment"
register_model("memnet", task=TASK_NAME)(MemNet)
register_model("tnet_att", task=TASK_NAME)(TNetATT)

_SPLITS = ("train", "dev", "test")
_FIELDS = ("sentence", "aspect")


@register_task
class AspectSentimentTask(Task):
    """A sentence and one of its aspects in (a term, or a character span ``[from, to]``),
    the aspect's polarity out (``negative``, ``neutral``, ``positive``) with probabilities;
    ``explain`` adds the model's aspect attention over the context tokens.

    Data: SemEval-2014 XML, the ``.seg`` format, or JSON Lines (see
    :mod:`attnkit.tasks.absa.readers`). Scores accuracy and macro-F1.

    Example:
        >>> AspectSentimentTask().parse_raw([{"sentence": "Great pizza.", "aspect": "pizza"}]).select(
        ...     "aspect", "from", "to").row(0)
        ('pizza', 6, 11)
    """

    name = TASK_NAME
    input_fields = _FIELDS
    primary_metric = "accuracy"
    metric_names = ("accuracy", "macro_f1", "loss", "auc")
    data_arguments = ("vocabulary_size", "num_classes", "cls_id", "sep_id")
    data_defaults = {
        "format": "auto",
        "train": "",
        "dev": "",
        "test": "",
        "dev_fraction": 0.1,
        "test_fraction": 0.1,
        "encoding": "utf-8",
    }
    preprocess_defaults = {
        "max_length": 100,
        "vocab_size": 30000,
        "min_frequency": 1,
        "lowercase": True,
        "pretrained": "",
        "word_vectors": "",
        "word_vectors_limit": 50000,
    }
    training_defaults = {"bert_disk_cache": True}

    # --- data ---
    def read_splits(self, path: Path, data: Mapping[str, Any], seed: int) -> dict[str, DataSplit]:
        files = {split: data[split] for split in _SPLITS if data[split]} or None
        return load_splits(
            path,
            files=files,
            formats={split: data["format"] for split in _SPLITS},
            dev_fraction=data["dev_fraction"],
            test_fraction=data["test_fraction"],
            seed=seed,
            read=partial(_read, encoding=data["encoding"]),
        )

    def read_file(self, path: Path, data: Mapping[str, Any], labelled: bool) -> DataSplit:
        frame = _read(Path(path), data["format"], encoding=data["encoding"])
        if labelled and frame["label"].null_count() == frame.height:
            raise DataError(path, "no polarities found; evaluate needs labelled data",
                            field="polarity")
        return DataSplit("test" if labelled else "input", Path(path), frame)

    def fit_preprocessor(self, train: DataSplit, preprocess: Mapping[str, Any]):
        return AbsaPreprocessor.fit(train.frame["sentence"].to_list(), **preprocess)

    def load_preprocessor(self, data: Mapping[str, Any]) -> AbsaPreprocessor:
        return AbsaPreprocessor.from_dict(dict(data))

    def encode(self, preprocessor: AbsaPreprocessor, split: DataSplit):
        frame = split.frame
        names = [f"{split.path}, {sid}" for sid in frame["sid"].to_list()]
        try:
            return preprocessor.encode(frame["sentence"].to_list(), frame["from"].to_list(),
                                       frame["to"].to_list(), names)
        except AttnkitError as error:
            if split.name == "input":  # raw prediction inputs: a 4xx-style message
                raise
            raise DataError(split.path, str(error).removeprefix(f"{split.path}, ")) from None

    def batches(self, preprocessor, split, batch_size, shuffle, seed, labelled=True):
        encoded = self.encode(preprocessor, split)
        inputs = {
            "sentence_ids": encoded.sentence_ids,
            "aspect_ids": encoded.aspect_ids,
            "context_mask": encoded.context_mask,
            "positions": encoded.positions,
            "row": np.arange(split.frame.height, dtype="int32"),
        }
        labels = preprocessor.encode_labels(split) if labelled else None
        return BucketedBatches(inputs, labels, batch_size, shuffle, seed)

    # --- model ---
    def model_arguments(self, preprocessor) -> dict[str, Any]:
        special = {name: preprocessor.tokenizer.token_to_id(token)
                   for name, token in (("cls_id", "[CLS]"), ("sep_id", "[SEP]"))}
        return {"vocabulary_size": preprocessor.vocabulary_size,
                "num_classes": preprocessor.num_classes,
                **{name: -1 if value is None else value for name, value in special.items()}}

    def initialize_model(self, model, preprocessor, recipe: Mapping[str, Any]) -> None:
        """Load ``preprocess.pretrained``: the BERT encoder's weights when the model runs one
        (``model.bert_layers``), and its input word embeddings into every embedding table
        (TNet-ATT's ``static_embeddings`` is one next to BERT); or ``preprocess.word_vectors``
        into every table (neither: trained from scratch).

        A frozen BERT with ``training.bert_disk_cache`` (default on) also keeps its outputs
        under ``$ATTNKIT_HOME/cache/bert``, so other seeds and later runs skip BERT for every
        sentence an earlier run saw (a sentence with PSS-erased words is a sequence of its
        own, with its own entry)."""
        pretrained = recipe["preprocess"]["pretrained"]
        if recipe["model"].get("bert_layers"):
            if not pretrained:
                raise ConfigError("model.bert_layers needs preprocess.pretrained (a BERT checkpoint)")
            bert = model.get_layer("bert")
            bert.load_checkpoint(resolve_checkpoint(pretrained))
            training = {**self.training_defaults, **(recipe.get("training") or {})}
            if training["bert_disk_cache"] and not bert.trainable and bert.cache_size:
                bert.use_disk_cache(attnkit_home() / "cache" / "bert")
        tables = [layer for layer in model.layers if isinstance(layer, keras.layers.Embedding)]
        initial = initial_table(preprocessor, recipe) if tables else None
        if initial is not None:
            assign_tables(tables, *initial)

    def loss(self, recipe: Mapping[str, Any] | None = None):
        return keras.losses.SparseCategoricalCrossentropy()

    def keras_metrics(self) -> list:
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    # --- scoring and outputs ---
    def labels(self, preprocessor, split: DataSplit) -> np.ndarray:
        return preprocessor.encode_labels(split)

    def score(self, preprocessor, targets: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
        return classification_metrics(targets, outputs)

    def parse_raw(self, records: Any) -> pl.DataFrame:
        """Records with a ``sentence`` and an ``aspect`` (a term, found at its first
        occurrence, or a span ``[from, to]``) or ``from``/``to`` fields; also
        ``(sentence, aspect)`` pairs and DataFrames with those columns."""
        if isinstance(records, pd.DataFrame):
            records = pl.from_pandas(records)
        if isinstance(records, pl.DataFrame):
            if "sentence" not in records.columns:
                raise AttnkitError(f"input has no 'sentence' column (columns: {records.columns})")
            if "aspect" not in records.columns and "from" not in records.columns:
                raise AttnkitError("input needs an 'aspect' column (or 'from' and 'to')")
            records = records.to_dicts()
        if isinstance(records, dict):
            records = [records]
        rows = []
        for index, record in enumerate(records):
            if isinstance(record, (list, tuple)) and len(record) == 2:
                record = {"sentence": record[0], "aspect": record[1]}
            if not isinstance(record, dict):
                raise AttnkitError(
                    f"record {index}: expected an object with 'sentence' and 'aspect' (or "
                    f"'from'/'to'), got {type(record).__name__}"
                )
            try:
                sentence, aspect, start, end = resolve_aspect(record, f"record {index}")
            except ValueError as error:
                raise AttnkitError(str(error)) from None
            rows.append({"sentence": sentence, "aspect": aspect, "from": start, "to": end,
                         "label": None, "sid": f"record {index}", "_line": None})
        return pl.DataFrame(rows, schema=SCHEMA)

    def format_outputs(self, preprocessor, frame, outputs, explanations=None):
        answers = []
        aspects = frame["aspect"].to_list() if "aspect" in frame.columns else [None] * len(outputs)
        for row, probabilities in enumerate(outputs):
            answer = {
                "aspect": aspects[row],
                "label": preprocessor.labels[int(np.argmax(probabilities))],
                "probabilities": {
                    label: round(float(p), 6)
                    for label, p in zip(preprocessor.labels, probabilities, strict=True)
                },
            }
            if explanations is not None:
                answer["attention"] = explanations[row]
            answers.append(answer)
        return answers

    def explain(self, model, preprocessor, frame, batch_size):
        """Each example's context tokens with the aspect attention: ``[[token, weight], ...]``
        (the aspect's own tokens are not context and are left out)."""
        split = DataSplit("input", Path("<input>"), frame)
        encoded = self.encode(preprocessor, split)
        batches = self.batches(preprocessor, split, batch_size, shuffle=False, seed=0,
                               labelled=False)
        explanations: list[Any] = [None] * frame.height
        for index, rows in enumerate(batches.order):
            _, attention = model.with_attention(batches[index][0])
            attention = keras.ops.convert_to_numpy(attention)
            for position, row in enumerate(rows):
                tokens, mask = encoded.tokens[int(row)], encoded.context_mask[int(row)]
                explanations[int(row)] = [
                    [token, round(float(attention[position, i]), 6)]
                    for i, (token, keep) in enumerate(zip(tokens, mask, strict=True)) if keep
                ]
        return explanations


def _read(path: Path, fmt: str, encoding: str = "utf-8") -> pl.DataFrame:
    return read_absa_file(path, fmt, encoding=encoding)
