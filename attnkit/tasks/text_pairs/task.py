"""Text-pair classification (plagiarism / paraphrase detection) as an attnkit task family."""

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
from attnkit.tasks.base import Task
from attnkit.tasks.initial_embeddings import assign_tables, initial_table
from attnkit.tasks.registry import register_model, register_task
from attnkit.tasks.text_classification.task import TextClassificationTask
from attnkit.tasks.text_pairs.metrics import pair_metrics
from attnkit.tasks.text_pairs.model import LEXICAL_INPUT, SENTENCE_LAYER, AttentionPairClassifier
from attnkit.tasks.text_pairs.preprocessor import TextPairPreprocessor
from attnkit.tasks.text_pairs.readers import read_pair_file
from attnkit.training.losses import FocalLoss

TASK_NAME = "text_pair_classification"
register_model("attention_pair_classifier", task=TASK_NAME)(AttentionPairClassifier)

_SPLITS = ("train", "dev", "test")
_FIELDS = ("text_a", "text_b")
LOSSES = ("focal", "cross_entropy")


@register_task
class TextPairTask(Task):
    """Two raw texts in (``{"text_a": source, "text_b": suspicious}``), one label out, with
    probabilities (e.g. plagiarised or not). Scores accuracy and the positive class's F1.

    The loss is a ``[training]`` choice: ``loss = "focal"`` (default; ``focal_alpha`` weights
    the positive class, negative for none, ``focal_gamma`` focuses on hard pairs) or
    ``"cross_entropy"``.

    Example:
        >>> TextPairTask().parse_raw([("a cat sat", "the cat sat")]).to_dicts()
        [{'text_a': 'a cat sat', 'text_b': 'the cat sat'}]
    """

    name = TASK_NAME
    input_fields = _FIELDS
    primary_metric = "accuracy"
    metric_names = ("accuracy", "f1", "precision", "recall", "macro_f1", "loss", "auc")
    data_arguments = ("vocabulary_size", "num_classes", "cls_id", "sep_id", "lexical_features")
    data_defaults = {
        "format": "auto",
        "train": "",
        "dev": "",
        "test": "",
        "dev_fraction": 0.1,
        "test_fraction": 0.1,
        "text_a_column": "text_a",
        "text_b_column": "text_b",
        "label_column": "label",
        "encoding": "utf-8",
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
        "positive_label": "1",
        "lexical_features": False,
        "word_bag_scores": False,
        "word_bag_c": 0.1,
        "swap_pairs": False,
    }
    training_defaults = {"loss": "focal", "focal_alpha": -1.0, "focal_gamma": 2.0,
                         "bert_disk_cache": True}

    # --- data ---
    def _reader(self, data: Mapping[str, Any]):
        return partial(
            read_pair_file,
            text_a_column=data["text_a_column"],
            text_b_column=data["text_b_column"],
            label_column=data["label_column"],
            encoding=data["encoding"],
        )

    def read_splits(self, path: Path, data: Mapping[str, Any], seed: int) -> dict[str, DataSplit]:
        files = {split: data[split] for split in _SPLITS if data[split]} or None
        splits = load_splits(
            path,
            files=files,
            formats={split: data["format"] for split in _SPLITS},
            dev_fraction=data["dev_fraction"],
            test_fraction=data["test_fraction"],
            seed=seed,
            read=self._reader(data),
        )
        for split in splits.values():
            if split.frame["label"].null_count() == split.frame.height:
                raise DataError(split.path, f"the {split.name} split has no labels", field="label")
        return splits

    def read_file(self, path: Path, data: Mapping[str, Any], labelled: bool) -> DataSplit:
        frame = self._reader(data)(Path(path), data["format"])
        if labelled and frame["label"].null_count() == frame.height:
            raise DataError(path, "no labels found; evaluate needs labelled data", field="label")
        return DataSplit("test" if labelled else "input", Path(path), frame)

    def fit_preprocessor(self, train: DataSplit, preprocess: Mapping[str, Any]):
        frame = train.frame
        return TextPairPreprocessor.fit(
            frame["text_a"].to_list(), frame["text_b"].to_list(), frame["label"].to_list(),
            **preprocess,
        )

    def load_preprocessor(self, data: Mapping[str, Any]) -> TextPairPreprocessor:
        return TextPairPreprocessor.from_dict(dict(data))

    def batches(self, preprocessor, split, batch_size, shuffle, seed, labelled=True):
        texts_a, texts_b = split.frame["text_a"].to_list(), split.frame["text_b"].to_list()
        training = labelled and split.name == "train"
        orders = [(texts_a, texts_b)]
        if training and preprocessor.swap_pairs:  # every training pair also b-first
            orders.append((texts_b, texts_a))
        inputs: dict[str, Any] = {"token_ids_a": [], "token_ids_b": []}
        lexical = []
        for first, second in orders:
            ids_first, ids_second = preprocessor.encode_pairs(first, second)
            inputs["token_ids_a"] += ids_first
            inputs["token_ids_b"] += ids_second
            if preprocessor.lexical_size:
                # The training pairs' word-bag scores come out of fold (see TextPairPreprocessor),
                # each order on its own: a pair's swapped copy must not score it.
                fold_labels = split.frame["label"].to_list() if training else None
                lexical.append(preprocessor.encode_lexical(first, second, fold_labels))
        if lexical:
            inputs[LEXICAL_INPUT] = np.concatenate(lexical, axis=0)
        labels = np.tile(preprocessor.encode_labels(split), len(orders)) if labelled else None
        return BucketedBatches(inputs, labels, batch_size, shuffle, seed)

    # --- model ---
    def model_arguments(self, preprocessor) -> dict[str, Any]:
        special = {name: preprocessor.tokenizer.token_to_id(token)
                   for name, token in (("cls_id", "[CLS]"), ("sep_id", "[SEP]"))}
        return {
            "vocabulary_size": preprocessor.vocabulary_size,
            "num_classes": preprocessor.num_classes,
            "lexical_features": preprocessor.lexical_size,
            **{name: -1 if value is None else value for name, value in special.items()},
        }

    def initialize_model(self, model, preprocessor, recipe: Mapping[str, Any]) -> None:
        """Load the checkpoint named by ``preprocess.pretrained``: the whole BERT encoder when
        the model runs one (``model.bert_layers``; with ``model.static_embeddings`` its input
        word embeddings too), else its input word embeddings; and the sentence encoder of
        ``model.sentence_features``.

        A frozen BERT with ``training.bert_disk_cache`` (default on) keeps its outputs under
        ``$ATTNKIT_HOME/cache/bert`` so later runs reuse them."""
        pretrained = recipe["preprocess"]["pretrained"]
        cache = {**self.training_defaults, **recipe.get("training", {})}["bert_disk_cache"]

        def load(encoder, option: str) -> None:
            if not pretrained:
                raise ConfigError(f"model.{option} needs preprocess.pretrained (a BERT checkpoint)")
            encoder.load_checkpoint(resolve_checkpoint(pretrained))
            if cache and not encoder.trainable and encoder.cache_size:
                encoder.use_disk_cache(attnkit_home() / "cache" / "bert")

        if getattr(model, "sentence_features", False):
            load(model.get_layer(SENTENCE_LAYER), "sentence_features")
        if recipe["model"].get("bert_layers"):
            load(model.get_layer("bert"), "bert_layers")
            if recipe["model"].get("static_embeddings"):  # the table beside BERT
                assign_tables([model.get_layer("static_embedding")],
                              *initial_table(preprocessor, recipe))
            return
        # An embedding table: filled from the checkpoint as text classification fills its own.
        TextClassificationTask.initialize_model(self, model, preprocessor, recipe)

    def loss(self, recipe: Mapping[str, Any] | None = None):
        training = {**self.training_defaults, **((recipe or {}).get("training") or {})}
        if training["loss"] == "cross_entropy":
            return keras.losses.SparseCategoricalCrossentropy()
        if training["loss"] != "focal":
            raise ConfigError(f"training.loss must be one of {LOSSES}, got {training['loss']!r}")
        try:  # the positive label is always the last class (see TextPairPreprocessor)
            return FocalLoss(training["focal_alpha"], training["focal_gamma"], positive_class=-1)
        except ValueError as error:
            raise ConfigError(f"training.focal_*: {error}") from None

    # --- scoring and outputs (metrics, targets and answers as in text classification) ---
    keras_metrics = TextClassificationTask.keras_metrics
    labels = TextClassificationTask.labels
    format_outputs = TextClassificationTask.format_outputs

    def score(self, preprocessor, targets: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
        return pair_metrics(targets, outputs, preprocessor.positive_index)

    def parse_raw(self, records: Any) -> pl.DataFrame:
        if isinstance(records, pd.DataFrame):
            records = pl.from_pandas(records)
        if isinstance(records, pl.DataFrame):
            missing = [field for field in _FIELDS if field not in records.columns]
            if missing:
                raise AttnkitError(
                    f"input has no {missing[0]!r} column (columns: {records.columns})"
                )
            records = records.select(list(_FIELDS)).to_dicts()
        if isinstance(records, dict):
            records = [records]
        rows: dict[str, list[str]] = {field: [] for field in _FIELDS}
        for index, record in enumerate(records):
            if isinstance(record, dict):
                values = [record.get(field) for field in _FIELDS]
            elif isinstance(record, (list, tuple)) and len(record) == 2:
                values = list(record)
            else:
                raise AttnkitError(
                    f"record {index}: expected an object with 'text_a' and 'text_b' or a pair of "
                    f"texts, got {type(record).__name__}"
                )
            for field, value in zip(_FIELDS, values, strict=True):
                if not isinstance(value, str):
                    raise AttnkitError(
                        f"record {index}: field {field!r} must be a string, got "
                        f"{type(value).__name__}"
                    )
                rows[field].append(value)
        return pl.DataFrame(rows, schema={field: pl.Utf8 for field in _FIELDS})

    def explain(self, model, preprocessor, frame, batch_size):
        """Each text's tokens with their attention weights: ``{"text_a": [[token, weight],
        ...], "text_b": [...]}`` per pair."""
        unlabelled = frame.select(list(_FIELDS)).with_columns(pl.lit(None, pl.Utf8).alias("label"))
        split = DataSplit("input", Path("<input>"), unlabelled)
        batches = self.batches(preprocessor, split, batch_size, shuffle=False, seed=0,
                               labelled=False)
        explanations: list[Any] = [None] * frame.height
        for index, rows in enumerate(batches.order):
            weights_a, weights_b = model.pair_attention(batches[index][0])
            for position, row in enumerate(rows):
                explanations[row] = {
                    field: _token_weights(preprocessor.tokens(frame[field][int(row)]),
                                          weights[position])
                    for field, weights in (("text_a", weights_a), ("text_b", weights_b))
                }
        return explanations


def _token_weights(tokens: list[str], weights: np.ndarray) -> list[list[Any]]:
    return [[token, round(float(w), 6)] for token, w in zip(tokens, weights[: len(tokens)], strict=True)]
