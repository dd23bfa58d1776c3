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


def beats(value: float, best: float | None, mode: str) -> bool:
    """Whether ``value`` improves on ``best`` (``None``: nothing to beat yet) under ``mode``.

    Example:
        >>> beats(0.8, 0.7, "max"), beats(0.8, 0.7, "min"), beats(0.8, None, "min")
        (True, False, True)
    """
    if best is None:
        return True
    return value > best if mode == "max" else value < best


def epoch_metrics(logs: dict | None) -> dict[str, float]:
    """The finite numeric entries of Keras epoch logs, as floats."""
    items = (logs or {}).items()
    metrics = {k: float(v) for k, v in items if np.isscalar(v) and not isinstance(v, str)}
    return {k: v for k, v in metrics.items() if math.isfinite(v)}


class MlflowEpochLogger(keras.callbacks.Callback):
    """Log every numeric epoch metric to the active MLflow run, with the epoch as step.

    It runs after :class:`CheckpointAndEarlyStop`, so a process killed in between has a
    checkpoint of an epoch whose metrics are not logged yet; :func:`log_unlogged_epoch`
    logs them when the run resumes, and each epoch is logged exactly once.
    """

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        import mlflow

        mlflow.log_metrics(epoch_metrics(logs), step=epoch)


def log_unlogged_epoch(run_id: str, state: dict[str, Any]) -> bool:
    """Log the checkpointed epoch's metrics (kept in ``state``) if the run lacks them.

    Example:
        >>> log_unlogged_epoch("0123", {"epoch": 0})  # no metrics kept: nothing to do
        False
    """
    from mlflow import MlflowClient

    logs = state.get("epoch_metrics") or {}
    if not logs:
        return False
    client = MlflowClient()
    probe = sorted(logs)[0]
    if any(m.step == state["epoch"] for m in client.get_metric_history(run_id, probe)):
        return False
    import mlflow

    mlflow.log_metrics(logs, step=state["epoch"])
    return True


class CheckpointAndEarlyStop(keras.callbacks.Callback):
    """Keep the best weights by ``monitor``, stop after ``patience`` epochs without gain, and
    save a resumable checkpoint (weights, optimizer variables, state) after every epoch.

    ``state`` carries ``epoch``, ``best``, ``best_epoch``, ``wait`` and the epoch's metrics
    (``epoch_metrics``) across a resume. It must run before any callback with side effects
    outside the process (MLflow logging, trial reports), so that those never get ahead of the
    checkpoint that a resumed run starts from.
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
        return beats(value, self.state.get("best"), self.mode)

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
        self.state["epoch_metrics"] = epoch_metrics(logs)
        self.state["stopped_early"] = self.state["wait"] >= self.patience
        save_training_state(self.directory, self.model, self.state)
        if self.state["stopped_early"]:
            self.model.stop_training = True

    def restore_best(self) -> None:
        best = self.directory / self.BEST
        if best.is_file():
            self.model_to_save.load_weights(str(best))
