"""Keras callbacks used by ``fit``: dev-set scoring, MLflow logging, checkpoints and early stopping."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import keras
import numpy as np

from attnkit.pipelines.checkpoints import save_training_state


class DevEvaluation(keras.callbacks.Callback):
    """Score the dev split with the task's metrics after each epoch (adds ``dev_*`` to logs).

    Training metrics Keras reports (``loss``, ``accuracy``) are renamed ``train_*``.
    """

    def __init__(self, task: Any, preprocessor: Any, dev_batches, dev_targets: np.ndarray) -> None:
        super().__init__()
        self.task = task
        self.preprocessor = preprocessor
        self.dev_batches = dev_batches
        self.dev_targets = dev_targets

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        outputs = self.dev_batches.unsort(self.model.predict(self.dev_batches, verbose=0))
        scores = self.task.score(self.preprocessor, self.dev_targets, outputs)
        for name in list(logs):
            if not name.startswith(("dev_", "train_")):
                logs[f"train_{name}"] = logs.pop(name)
        logs.update({f"dev_{name}": value for name, value in scores.items()})


class MlflowEpochLogger(keras.callbacks.Callback):
    """Log every numeric epoch metric to the active MLflow run, with the epoch as step."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        import mlflow

        metrics = {k: float(v) for k, v in (logs or {}).items() if np.isscalar(v)}
        mlflow.log_metrics({k: v for k, v in metrics.items() if math.isfinite(v)}, step=epoch)


class CheckpointAndEarlyStop(keras.callbacks.Callback):
    """Keep the best weights by ``monitor``, stop after ``patience`` epochs without gain, and
    save a resumable checkpoint (weights, optimizer variables, state) after every epoch.

    ``state`` carries ``epoch``, ``best``, ``best_epoch`` and ``wait`` across a resume.
    """

    BEST = "best.weights.h5"

    def __init__(
        self,
        directory: Path,
        monitor: str,
        mode: str,
        patience: int,
        state: dict[str, Any],
        model_to_save: keras.Model,
    ) -> None:
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.directory = Path(directory)
        self.monitor = monitor
        self.mode = mode
        self.patience = patience
        self.state = state
        self.model_to_save = model_to_save

    def _improved(self, value: float) -> bool:
        best = self.state.get("best")
        if best is None:
            return True
        return value > best if self.mode == "max" else value < best

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(f"monitor {self.monitor!r} is not among the epoch metrics {sorted(logs)}")
        value = float(logs[self.monitor])
        if self._improved(value):
            self.state.update(best=value, best_epoch=epoch, wait=0)
            temporary = self.directory / f".tmp-{self.BEST}"
            self.model_to_save.save_weights(str(temporary))
            os.replace(temporary, self.directory / self.BEST)
        else:
            self.state["wait"] = self.state.get("wait", 0) + 1
        self.state["epoch"] = epoch
        self.state["stopped_early"] = self.state["wait"] >= self.patience
        save_training_state(self.directory, self.model, self.state)
        if self.state["stopped_early"]:
            self.model.stop_training = True

    def restore_best(self) -> None:
        best = self.directory / self.BEST
        if best.is_file():
            self.model_to_save.load_weights(str(best))
