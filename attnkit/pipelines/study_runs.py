"""The MLflow side of a study: one parent run per study, the trials nested under it.

The parent run's id is kept in the study (user attribute ``attnkit.parent_run_id``), so every
worker and every later ``attnkit tune`` of the same study logs under the same parent. The
parent holds the study's settings as parameters (storage URL with any password masked, study
name, direction, searched fields) and, updated after each trial, the best trial: tags
``attnkit.best_trial``, ``attnkit.best_run_id``, ``attnkit.best_model_uri``,
``attnkit.best_params`` (JSON) and ``best.<field>``, and the metric ``best_<monitor>``.

Example:
    >>> parent = ensure_parent_run(study, "attnkit", "sqlite:///optuna.db", {})  # doctest: +SKIP
    >>> record_best(parent, study, "dev_accuracy")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

PARENT_ATTR = "attnkit.parent_run_id"
STUDY_KEY_TAG = "attnkit.study_key"
MODEL_ATTR = "model_uri"
RUN_ATTR = "mlflow_run_id"


def _usable(client: Any, run_id: str, experiment_id: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException:
        return False
    return run.info.lifecycle_stage == "active" and run.info.experiment_id == experiment_id


def ensure_parent_run(study: Any, experiment: str, storage_url: str, params: dict[str, Any]) -> str:
    """The study's parent run id in ``experiment``, created (with ``params``) on first use.

    Workers that start together may each create one; all of them then keep the oldest (by
    start time, then id) and the others delete their own, so the study still has one parent.
    """
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Param, ViewType

    client = MlflowClient()
    experiment_id = mlflow.set_experiment(experiment).experiment_id
    existing = study.user_attrs.get(PARENT_ATTR)
    if existing and _usable(client, existing, experiment_id):
        return existing
    key = hashlib.sha256(
        f"{storage_url}\n{study.study_name}\n{experiment_id}".encode()
    ).hexdigest()[:20]
    mine = client.create_run(
        experiment_id,
        run_name=f"tune-{study.study_name}",
        tags={STUDY_KEY_TAG: key, "attnkit.study": study.study_name},
    ).info.run_id
    candidates = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{STUDY_KEY_TAG}` = '{key}'",
        run_view_type=ViewType.ACTIVE_ONLY,
        max_results=100,
    )
    winner = min(candidates, key=lambda run: (run.info.start_time, run.info.run_id)).info.run_id
    if winner != mine:
        client.delete_run(mine)
    else:
        client.log_batch(mine, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
    study.set_user_attr(PARENT_ATTR, winner)
    return winner


def trial_counts(study: Any) -> dict[str, int]:
    """How many trials are in each state (``complete``, ``pruned``, ``fail``, ``running``...)."""
    counts = Counter(trial.state.name.lower() for trial in study.get_trials(deepcopy=False))
    return {
        state: counts.get(state, 0)
        for state in ("complete", "pruned", "fail", "running", "waiting")
    }


def best_summary(study: Any) -> dict[str, Any] | None:
    """The best complete trial: number, value, params, run id and model URI (None if none)."""
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    best = study.best_trial
    return {
        "trial": best.number,
        "value": best.value,
        "params": best.params,
        "run_id": best.user_attrs.get(RUN_ATTR),
        "model_uri": best.user_attrs.get(MODEL_ATTR),
    }


def record_best(parent_run_id: str, study: Any, monitor: str) -> dict[str, Any] | None:
    """Write the trial counts and the best trial so far to the parent run; returns the best."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, RunTag

    client = MlflowClient()
    counts = trial_counts(study)
    finished = counts["complete"] + counts["pruned"]
    timestamp = _now_ms()
    metrics = [
        Metric(f"trials_{state}", float(n), timestamp, finished) for state, n in counts.items()
    ]
    tags = []
    best = best_summary(study)
    if best is not None:
        metrics.append(Metric(f"best_{monitor}", float(best["value"]), timestamp, finished))
        tags = [
            RunTag("attnkit.best_trial", str(best["trial"])),
            RunTag("attnkit.best_run_id", str(best["run_id"] or "")),
            RunTag("attnkit.best_model_uri", str(best["model_uri"] or "")),
            RunTag("attnkit.best_params", json.dumps(best["params"])),
            *(RunTag(f"best.{key}", str(value)) for key, value in best["params"].items()),
        ]
    client.log_batch(parent_run_id, metrics=metrics, tags=tags)
    return best


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
