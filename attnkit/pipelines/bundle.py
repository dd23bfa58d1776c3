"""A saved attnkit model: the Keras model plus its task and preprocessor, so it takes raw inputs.

Layout of a bundle directory::

    model.keras     the Keras model (weights and architecture)
    attnkit.json    task name, preprocessor state, the resolved recipe, versions

Example:
    >>> loaded = load_bundle("path/to/bundle")  # doctest: +SKIP
    >>> loaded.predict(["a warm and funny film"])[0]["label"]  # doctest: +SKIP
    '1'
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from attnkit.data.splits import DataSplit
from attnkit.errors import ModelNotFoundError
from attnkit.tasks.registry import get_task

BUNDLE_FILE = "attnkit.json"
MODEL_FILE = "model.keras"
FORMAT_VERSION = 1


@dataclass
class LoadedModel:
    """A trained model ready for raw inputs: ``predict``, ``evaluate``, ``explain``."""

    task: Any
    model: keras.Model
    preprocessor: Any
    recipe: dict[str, Any]

    def outputs(self, split: DataSplit, batch_size: int = 256) -> np.ndarray:
        """Model outputs for every row of ``split``, in row order."""
        batches = self.task.batches(
            self.preprocessor, split, batch_size, shuffle=False, seed=0, labelled=False
        )
        if split.frame.height == 0:
            return np.zeros((0, 0), dtype="float32")
        # predict_on_batch per batch, not model.predict: predict's epoch iterator and callback
        # machinery cost ~5 ms per call, more than the model itself on one short text.
        items = (batches[i] for i in range(len(batches)))
        outputs = [self.model.predict_on_batch(_inputs_of(item)) for item in items]
        joined = keras.tree.map_structure(lambda *parts: np.concatenate(parts), *outputs)
        return batches.unsort(joined)

    def predict(self, records: Any, explain: bool = False, batch_size: int = 256) -> list[dict]:
        """Answers for raw inputs (see the task's ``parse_raw``)."""
        frame = self.task.parse_raw(records)
        split = DataSplit("input", Path("<input>"), frame)
        outputs = self.outputs(split, batch_size)
        explanations = (
            self.task.explain(self.model, self.preprocessor, frame, batch_size) if explain else None
        )
        return self.task.format_outputs(self.preprocessor, frame, outputs, explanations)

    def evaluate(self, split: DataSplit, batch_size: int = 256) -> dict[str, float]:
        """The task's metrics on a labelled split, named ``<split>_<measure>``."""
        targets = self.task.labels(self.preprocessor, split)
        scores = self.task.score(self.preprocessor, targets, self.outputs(split, batch_size))
        return {f"{split.name}_{name}": value for name, value in scores.items()}


def _inputs_of(item: Any) -> Any:
    """A batch's model inputs: a PyDataset item is ``(x,)``, ``(x, y)`` or ``x``."""
    return item[0] if isinstance(item, tuple) else item


def save_bundle(
    directory: str | Path, model: keras.Model, task: Any, preprocessor: Any, recipe: dict
) -> Path:
    """Write a bundle into ``directory`` (created; must not hold another bundle)."""
    from attnkit import __version__

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / MODEL_FILE)
    manifest = {
        "format_version": FORMAT_VERSION,
        "attnkit_version": __version__,
        "keras_version": keras.__version__,
        "task": task.name,
        "preprocessor": preprocessor.to_dict(),
        "recipe": recipe,
    }
    (directory / BUNDLE_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    return directory


def load_bundle(directory: str | Path) -> LoadedModel:
    """Load a bundle directory written by :func:`save_bundle`."""
    directory = Path(directory)
    manifest_path = directory / BUNDLE_FILE
    if not manifest_path.is_file():
        raise ModelNotFoundError(f"{directory}: not an attnkit model (no {BUNDLE_FILE})")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelNotFoundError(
            f"{manifest_path}: bundle format {manifest.get('format_version')} is not supported "
            f"by this attnkit (expects {FORMAT_VERSION})"
        )
    task = get_task(manifest["task"])
    model = keras.saving.load_model(directory / MODEL_FILE, compile=False)
    preprocessor = task.load_preprocessor(manifest["preprocessor"])
    return LoadedModel(task, model, preprocessor, manifest["recipe"])


def temporary_bundle(model: keras.Model, task: Any, preprocessor: Any, recipe: dict) -> Path:
    """Save a bundle in a fresh temporary directory (the caller removes it)."""
    directory = Path(tempfile.mkdtemp(prefix="attnkit-bundle-"))
    try:
        return save_bundle(directory / "bundle", model, task, preprocessor, recipe)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
