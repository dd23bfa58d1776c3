"""The interface between a task family and the pipelines.

A task family (text classification, ABSA, text pairs, NER, recommendation, ...) is one
folder under ``attnkit/tasks`` (or ``attnkit/recsys``) with one :class:`Task` subclass.
Pipelines (fit, evaluate, predict, tune, serve) talk to tasks only through these methods
and never special-case one. Model builders are registered separately with
:func:`attnkit.tasks.registry.register_model`.

A task's *preprocessor* is any object with ``to_dict()`` (JSON-serialisable) that
``Task.load_preprocessor`` turns back into the object; it is saved beside the Keras
model so a saved model takes raw inputs.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import keras
import numpy as np
import polars as pl

from attnkit.data.splits import DataSplit
from attnkit.errors import DataError


class Task(abc.ABC):
    """One task family. Subclasses set ``name``, ``input_fields`` and the defaults below."""

    #: Registry name used by recipes (``task = "..."``).
    name: ClassVar[str]
    #: The raw input fields one example has (``("text",)`` for text classification).
    input_fields: ClassVar[tuple[str, ...]]
    #: Model-builder arguments that ``model_arguments`` fills from the data, not the recipe.
    data_arguments: ClassVar[tuple[str, ...]] = ()
    #: The measures ``score`` returns (``training.monitor`` must be ``dev_<one of them>``).
    metric_names: ClassVar[tuple[str, ...]] = ("loss",)
    #: The metric selected on (``dev_<primary_metric>``) unless a recipe says otherwise.
    primary_metric: ClassVar[str] = "accuracy"
    #: Defaults of the recipe's ``[data]`` section specific to this task (reader options).
    data_defaults: ClassVar[Mapping[str, Any]] = {}
    #: Defaults of the recipe's ``[preprocess]`` section.
    preprocess_defaults: ClassVar[Mapping[str, Any]] = {}
    #: Task-specific keys of the recipe's ``[training]`` section (e.g. the choice of loss).
    training_defaults: ClassVar[Mapping[str, Any]] = {}

    # --- reading and preparing data -------------------------------------------------
    @abc.abstractmethod
    def read_splits(self, path: Path, data: Mapping[str, Any], seed: int) -> dict[str, DataSplit]:
        """Read the ``train``/``dev``(/``test``) splits under ``path`` (a file or folder)."""

    @abc.abstractmethod
    def read_file(self, path: Path, data: Mapping[str, Any], labelled: bool) -> DataSplit:
        """Read one file (for ``evaluate`` with labels, ``predict`` without)."""

    def read_unlabelled(self, path: Path, data: Mapping[str, Any]) -> DataSplit:
        """Read unlabelled inputs for semi-supervised strategies (VAT/iVAT).

        Any file ``read_file`` reads; labels in it are ignored, except that a non-empty
        ``data.unlabelled_labels`` keeps only the rows with those labels (e.g. the *other*
        AG News classes) before they are dropped.
        """
        split = self.read_file(path, data, labelled=False)
        keep = data.get("unlabelled_labels") or []
        frame = split.frame
        if keep:
            frame = frame.filter(pl.col("label").is_in(list(keep)))
            if frame.height == 0:
                raise DataError(path, f"no rows with a label in {list(keep)}", field="label")
        frame = frame.with_columns(pl.lit(None, pl.Utf8).alias("label"))
        return DataSplit("unlabelled", Path(path), frame)

    @abc.abstractmethod
    def fit_preprocessor(self, train: DataSplit, preprocess: Mapping[str, Any]) -> Any:
        """Learn the preprocessor (vocabulary, label map, ...) from the training split."""

    @abc.abstractmethod
    def load_preprocessor(self, data: Mapping[str, Any]) -> Any:
        """Rebuild a preprocessor from its ``to_dict()`` form."""

    @abc.abstractmethod
    def batches(
        self, preprocessor: Any, split: DataSplit, batch_size: int, shuffle: bool, seed: int,
        labelled: bool = True,
    ) -> keras.utils.PyDataset:
        """Model-ready batches (``unsort`` restores row order of their predictions)."""

    # --- models ---------------------------------------------------------------------
    @abc.abstractmethod
    def model_arguments(self, preprocessor: Any) -> dict[str, Any]:
        """Builder arguments that come from the data (vocabulary size, class count)."""

    def initialize_model(  # noqa: B027 (an optional hook, deliberately a no-op by default)
        self, model: keras.Model, preprocessor: Any, recipe: Mapping[str, Any]
    ) -> None:
        """Set initial weights from outside sources (e.g. pretrained embeddings); default none."""

    @abc.abstractmethod
    def loss(self, recipe: Mapping[str, Any] | None = None) -> keras.losses.Loss | str:
        """The training loss for this task's model outputs and labels.

        ``recipe`` is the resolved recipe (``fit`` passes it; None means the defaults), for
        tasks whose loss is configurable (e.g. focal loss through ``training_defaults`` keys).
        """

    def keras_metrics(self) -> list:
        """Cheap metrics shown in the progress display while training."""
        return []

    # --- scoring and outputs ----------------------------------------------------------
    @abc.abstractmethod
    def labels(self, preprocessor: Any, split: DataSplit) -> np.ndarray:
        """The encoded targets of a labelled split."""

    @abc.abstractmethod
    def score(self, preprocessor: Any, targets: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
        """Metrics by measure name (``accuracy``, ``macro_f1``, ...) without a split prefix."""

    @abc.abstractmethod
    def parse_raw(self, records: Any) -> pl.DataFrame:
        """Raw inputs (strings, dicts, a DataFrame) -> a frame with ``input_fields`` columns.

        Raises :class:`attnkit.errors.AttnkitError` naming the record and field on bad input.
        """

    def input_example(self, split: DataSplit, rows: int = 3) -> Any:
        """A few raw inputs of ``split`` for the logged model's example (``parse_raw`` takes
        them); the default is the first ``rows`` rows of its ``input_fields`` columns."""
        return split.frame.select(list(self.input_fields)).head(rows).to_pandas()

    @abc.abstractmethod
    def format_outputs(
        self, preprocessor: Any, frame: pl.DataFrame, outputs: np.ndarray,
        explanations: list[Any] | None = None,
    ) -> list[dict[str, Any]]:
        """One JSON-able answer per input row (labels, probabilities, optional explanation)."""

    def explain(
        self, model: keras.Model, preprocessor: Any, frame: pl.DataFrame, batch_size: int
    ) -> list[Any]:
        """Per-example explanations (e.g. token attention); tasks without one raise."""
        raise NotImplementedError(f"task {self.name!r} has no explanation")
