"""The Keras callback that connects a ``fit`` run to its Optuna trial.

It is :class:`optuna_integration.KerasPruningCallback` (each epoch's dev metric is reported
to the trial, and the pruner is asked), except that a prune *stops* training instead of
raising out of ``fit``: the run then ends normally, with its best epoch scored and its
checkpoint removed, and ``tune`` marks the trial pruned.

Example:
    >>> reporter = TrialReporter(trial, "dev_accuracy", {"optuna.trial": "3"})  # doctest: +SKIP
    >>> fit("sample-lama", callbacks=[reporter])  # doctest: +SKIP
    >>> reporter.pruned_at  # the epoch (0-based) it was pruned after, or None  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna_integration import KerasPruningCallback

from attnkit.pipelines.study_runs import RUN_ATTR


class TrialReporter(KerasPruningCallback):
    """Report ``monitor`` to ``trial`` per epoch; on a prune, set ``pruned_at`` and stop.

    ``tags`` are set on the MLflow run at the start of training, and the trial records the
    run id (user attribute ``mlflow_run_id``), so a trial killed mid-way points at its run.
    """

    def __init__(self, trial: optuna.Trial, monitor: str, tags: dict[str, str]) -> None:
        super().__init__(trial, monitor)
        self.trial = trial
        self.tags = tags
        self.pruned_at: int | None = None

    @property
    def pruned(self) -> bool:
        return self.pruned_at is not None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        import mlflow

        run = mlflow.active_run()
        if run is not None:
            mlflow.set_tags(self.tags)
            self.trial.set_user_attr(RUN_ATTR, run.info.run_id)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        try:
            super().on_epoch_end(epoch, logs)
        except optuna.TrialPruned:
            self.pruned_at = epoch
            self.model.stop_training = True
