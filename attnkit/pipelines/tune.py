"""``attnkit tune``: an Optuna search over a recipe's ``[search]`` space, tracked in MLflow.

Each trial is a ``fit`` of the recipe with the trial's values applied as ``--set``
overrides, nested (MLflow run ``trial-<n>``) under one parent run per study. The dev metric
(``training.monitor``) is reported each epoch, so a pruner can stop a poor trial early. A
trial logs its model only if it is the best so far when it ends, so the best trial's model is
always logged.

``trials`` is the study's *total* target of finished (complete or pruned) trials: running the
same command again after an interruption continues the study up to that number, and a
larger number extends it. Workers (``workers`` processes here, or other ``attnkit tune``
invocations with the same storage and study) share the trials; each checks the target
before starting one.

Example:
    >>> result = tune("sample-lama", trials=8, data="data/sample")  # doctest: +SKIP
    >>> result.best_params, result.model_uri  # doctest: +SKIP
    ({'training.learning_rate': 0.0042, 'model.dropout': 0.13, 'model.units': 32}, 'models:/m-...')
"""

from __future__ import annotations

import gc
import hashlib
import json
import multiprocessing
import os
import socket
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

from attnkit.errors import AttnkitError, ConfigError, DataError
from attnkit.pipelines.fit import _monitor, _resolve_data_path, fit
from attnkit.pipelines.recipes import flatten, load_recipe_and_search
from attnkit.pipelines.registry import check_names
from attnkit.pipelines.search_space import SearchSpace
from attnkit.pipelines.study_runs import (
    MODEL_ATTR,
    RUN_ATTR,
    ensure_parent_run,
    record_best,
    trial_counts,
)
from attnkit.pipelines.study_storage import (
    default_storage_url,
    has_heartbeat,
    mask_url,
    open_storage,
)
from attnkit.pipelines.tracking import configure_tracking

CONFIG_ATTR = "attnkit.config_key"
ORIGIN_ATTR = "attnkit.origin_trial"
WORKER_ATTR = "attnkit.worker"
DEFAULT_HEARTBEAT = 60
#: How long the first worker waits for the others to start (seconds).
READY_TIMEOUT = 300
MAX_FAILED_IN_A_ROW = 5


class TuneError(AttnkitError):
    """A search that cannot go on (every trial fails)."""


@dataclass
class TuneResult:
    """What ``tune`` returns (and ``--json`` prints)."""

    study: str
    storage: str
    parent_run_id: str
    monitor: str
    best_trial: int | None
    best_value: float | None
    best_params: dict[str, Any] = field(default_factory=dict)
    best_run_id: str | None = None
    model_uri: str | None = None
    trials: dict[str, int] = field(default_factory=dict)
    registered: dict[str, Any] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass(frozen=True)
class _Job:
    """Everything a worker needs; picklable, so spawned worker processes get it too."""

    recipe: str
    data: str | None
    overrides: tuple[str, ...]
    experiment: str
    storage_url: str
    study_name: str
    trials: int
    deadline: float | None
    heartbeat: int
    parent_run_id: str
    monitor: str
    maximize: bool
    workers: int
    pruner: Any


def _say(message: str) -> None:
    print(f"[attnkit] {message}", flush=True)


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _format(values: dict[str, Any]) -> str:
    return ", ".join(
        f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
        for key, value in values.items()
    )


def _release_memory() -> None:
    import keras
    import torch

    keras.utils.clear_session(free_memory=True)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _default_pruner():
    import optuna

    # Median of earlier trials at the same epoch, once 4 trials have finished; never on the
    # first epoch, whose dev score says little yet.
    return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1)


class _Objective:
    """One trial: draw values, ``fit`` with them, return the dev metric (or raise pruned)."""

    def __init__(self, job: _Job, space: SearchSpace, study: Any) -> None:
        self.job = job
        self.space = space
        self.study = study
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def _best_so_far(self, value: float) -> bool:
        from optuna.trial import TrialState

        done = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not done:
            return True
        values = [trial.value for trial in done]
        return value >= max(values) if self.job.maximize else value <= min(values)

    def __call__(self, trial: Any) -> float:
        import optuna
        from mlflow import MlflowClient

        from attnkit.pipelines.trial_reporter import TrialReporter

        # A retried trial (its worker died) inherits the user attributes of the one it
        # replaces, so it keeps that trial's number, run name and resume checkpoint.
        origin = trial.user_attrs.get(ORIGIN_ATTR, trial.number)
        previous_run = trial.user_attrs.get(RUN_ATTR)
        trial.set_user_attr(ORIGIN_ATTR, origin)
        trial.set_user_attr(WORKER_ATTR, self.worker)
        values = self.space.suggest(trial)
        retry = f" (retry of trial {origin})" if origin != trial.number else ""
        _say(f"trial {trial.number}{retry} started on {self.worker}: {_format(values)}")
        reporter = TrialReporter(
            trial,
            self.job.monitor,
            {
                "optuna.study": self.job.study_name,
                "optuna.trial": str(trial.number),
                "attnkit.worker": self.worker,
            },
        )
        _release_memory()
        try:
            result = fit(
                self.job.recipe,
                data=self.job.data,
                overrides=[*self.job.overrides, *self.space.overrides(values)],
                experiment=self.job.experiment,
                verbose=0,
                callbacks=[reporter],
                parent_run_id=self.job.parent_run_id,
                run_name=f"trial-{origin}",
                log_model=lambda metrics: (
                    not reporter.pruned and self._best_so_far(metrics[self.job.monitor])
                ),
            )
        except KeyboardInterrupt:
            # Ctrl-C: queue this trial again, so the next run resumes it (same values, same
            # run name, hence the same checkpoint and MLflow run) rather than drawing anew.
            attrs = {k: v for k, v in trial.user_attrs.items() if k in (ORIGIN_ATTR, RUN_ATTR)}
            self.study.enqueue_trial(values, user_attrs=attrs)
            raise
        finally:
            _release_memory()
        client = MlflowClient()
        trial.set_user_attr(RUN_ATTR, result.run_id)
        if previous_run and previous_run != result.run_id:
            client.set_tag(previous_run, "error", f"worker died; retried as trial {trial.number}")
            client.set_terminated(previous_run, status="KILLED")
        value = result.metrics[self.job.monitor]
        if reporter.pruned:
            client.set_tag(result.run_id, "optuna.state", "PRUNED")
            epoch = reporter.pruned_at + 1
            _say(
                f"trial {trial.number} pruned after epoch {epoch} ({self.job.monitor} {value:.4f})"
            )
            raise optuna.TrialPruned(f"pruned after epoch {epoch}")
        client.set_tag(result.run_id, "optuna.state", "COMPLETE")
        if result.model_uri:
            trial.set_user_attr(MODEL_ATTR, result.model_uri)
        _say(f"trial {trial.number} finished: {self.job.monitor} {value:.4f}")
        return value


def _claimed(study: Any, count_running: bool) -> int:
    """Trials that count toward the target: finished ones, and running ones where a dead
    worker's trial is detected (heartbeat), so K workers do not overshoot by K - 1."""
    counts = trial_counts(study)
    return counts["complete"] + counts["pruned"] + (counts["running"] if count_running else 0)


def _work(job: _Job, ready: Any = None) -> int:
    """Run trials until the study has ``job.trials`` or the deadline passes; returns how many.

    ``ready`` (a shared counter) is incremented once the worker can start trials."""
    import optuna

    if job.workers > 1:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // job.workers))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(job.storage_url, job.heartbeat)
    study = optuna.load_study(study_name=job.study_name, storage=storage, pruner=job.pruner)
    _, space = load_recipe_and_search(job.recipe, list(job.overrides))
    objective = _Objective(job, space, study)
    heartbeat = has_heartbeat(job.storage_url)
    if ready is not None:
        with ready.get_lock():
            ready.value += 1
    states: list[str] = []

    def remember(_: Any, trial: Any) -> None:
        states.append(trial.state.name)

    while job.deadline is None or time.time() < job.deadline:
        with warnings.catch_warnings():  # "experimental" since Optuna 2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        if _claimed(study, heartbeat) >= job.trials:
            break
        study.optimize(objective, n_trials=1, gc_after_trial=True, callbacks=[remember])
        best = record_best(job.parent_run_id, study, job.monitor)
        if best is not None:
            _say(f"best so far: trial {best['trial']}, {job.monitor} {best['value']:.4f}")
        # A trial whose dev metric is NaN fails without an exception; stop if all do.
        if len(states) >= MAX_FAILED_IN_A_ROW and set(states[-MAX_FAILED_IN_A_ROW:]) == {"FAIL"}:
            raise TuneError(
                f"the last {MAX_FAILED_IN_A_ROW} trials failed ({job.monitor} was not a number); "
                "narrow the [search] ranges (e.g. a lower training.learning_rate)"
            )
    return len(states)


def _worker_process(job: _Job, ready: Any) -> None:
    """Entry point of a spawned worker process."""
    import attnkit  # noqa: F401  (selects the torch backend before anything imports keras)

    configure_tracking()
    _work(job, ready)


def _check_study(study: Any, config_key: str, recipe: str) -> None:
    known = study.user_attrs.get(CONFIG_ATTR)
    if known is None:
        study.set_user_attr(CONFIG_ATTR, config_key)
        study.set_user_attr("attnkit.recipe", recipe)
    elif known != config_key:
        raise ConfigError(
            f"study {study.study_name!r} was started with a different recipe, --set values or "
            f"search space (recipe {study.user_attrs.get('attnkit.recipe')!r}); "
            "give another --study name, or the same settings"
        )


def _register_best(model_uri: str, name: str, alias: str) -> dict[str, Any]:
    """Register the best model, unless ``name@alias`` already is that model (a rerun)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from attnkit.pipelines.registry import register

    try:
        current = MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        current = None
    if current is not None and model_uri in (current.source, f"models:/{current.model_id}"):
        return {
            "name": name,
            "version": int(current.version),
            "alias": alias,
            "model_uri": f"models:/{name}@{alias}",
        }
    return register(model_uri, name, alias)


def tune(
    recipe: str,
    trials: int,
    data: str | None = None,
    overrides: list[str] | None = None,
    storage: str | None = None,
    study: str | None = None,
    workers: int = 1,
    timeout: float | None = None,
    experiment: str = "attnkit",
    register: str | None = None,
    alias: str = "champion",
    heartbeat: int = DEFAULT_HEARTBEAT,
    pruner: Any = None,
) -> TuneResult:
    """Search ``recipe``'s ``[search]`` space until the study has ``trials`` finished trials.

    ``storage`` is an Optuna storage URL or journal file (default: ``optuna.db`` next to the
    MLflow runs); ``study`` defaults to the recipe name plus a hash of the settings, so the
    same command continues the same study. ``workers`` processes run trials here; ``timeout``
    (seconds) stops starting new trials. With ``register``, the best model becomes a version
    of that registered model and ``alias`` points at it. ``pruner`` is an Optuna pruner
    (default: median of earlier trials per epoch).
    """
    import mlflow
    import optuna

    from attnkit.tasks.registry import get_task

    configure_tracking()
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ConfigError(f"--trials must be a positive integer, got {trials!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"--workers must be a positive integer, got {workers!r}")
    if timeout is not None and not timeout > 0:
        raise ConfigError(f"--timeout must be a positive number of seconds, got {timeout!r}")
    if register:
        check_names(register, alias)
    resolved, space = load_recipe_and_search(recipe, overrides)
    if not space:
        raise ConfigError(
            f"recipe {recipe!r} has nothing to search: add a [search] table (e.g. "
            '"training.learning_rate" = {low = 1e-4, high = 1e-2, log = true}), '
            "or fix fewer of its fields with --set"
        )
    monitor, mode = _monitor(resolved, get_task(resolved["task"]))
    data_path = _resolve_data_path(resolved, data)
    if not data_path.exists():
        raise DataError(data_path, "no such file or folder")

    settings = {"recipe": resolved, "search": space.to_dict(), "monitor": monitor}
    config_key = _digest(settings)[:16]
    storage_url = storage or default_storage_url(mlflow.get_tracking_uri())
    study_name = study or f"{resolved['name']}-{_digest([settings, str(data_path.resolve())])[:8]}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = pruner if pruner is not None else _default_pruner()
    opened = optuna.create_study(
        storage=open_storage(storage_url, heartbeat),
        study_name=study_name,
        direction="maximize" if mode == "max" else "minimize",
        pruner=pruner,
        load_if_exists=True,
    )
    _check_study(opened, config_key, resolved["name"])
    masked = mask_url(storage_url)
    parent_params = {
        "optuna.storage": masked,
        "optuna.study": study_name,
        "optuna.direction": opened.direction.name.lower(),
        "optuna.monitor": monitor,
        **{f"search.{key}": d.describe() for key, d in space.dimensions.items()},
        **{k: v for k, v in flatten(resolved).items() if k not in space.dimensions},
    }
    parent = ensure_parent_run(opened, experiment, masked, parent_params)
    client = mlflow.MlflowClient()
    client.update_run(parent, status="RUNNING")
    job = _Job(
        recipe=recipe,
        data=data,
        overrides=tuple(overrides or ()),
        experiment=experiment,
        storage_url=storage_url,
        study_name=study_name,
        trials=trials,
        deadline=time.time() + timeout if timeout else None,
        heartbeat=heartbeat,
        parent_run_id=parent,
        monitor=monitor,
        maximize=mode == "max",
        workers=workers,
        pruner=pruner,
    )
    counts = trial_counts(opened)
    _say(
        f"study {study_name} | storage {masked} | {counts['complete'] + counts['pruned']} of "
        f"{trials} trials finished | parent run {parent} | {workers} worker(s) | "
        f"searching {', '.join(space.keys())}"
    )
    status = "FAILED"
    try:
        _run_workers(job)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        best = record_best(parent, opened, monitor)
        client.set_terminated(parent, status=status)

    registered = None
    if register:
        if best is None or not best["model_uri"]:
            raise ConfigError(
                f"study {study_name!r} has no completed trial with a model to register"
            )
        registered = _register_best(best["model_uri"], register, alias)
        _say(f"registered {registered['model_uri']} (version {registered['version']})")
    result = TuneResult(
        study=study_name,
        storage=masked,
        parent_run_id=parent,
        monitor=monitor,
        best_trial=best["trial"] if best else None,
        best_value=best["value"] if best else None,
        best_params=best["params"] if best else {},
        best_run_id=best["run_id"] if best else None,
        model_uri=best["model_uri"] if best else None,
        trials=trial_counts(opened),
        registered=registered,
    )
    if best is None:
        _say(f"done: study {study_name} has no completed trial yet")
    else:
        _say(
            f"done: best trial {best['trial']} | {monitor} {best['value']:.4f} | "
            f"{_format(best['params'])} | model {best['model_uri']}"
        )
    return result


def _run_workers(job: _Job) -> None:
    """This process is one worker; ``job.workers - 1`` more are spawned beside it."""
    context = multiprocessing.get_context("spawn")
    ready = context.Value("i", 0)
    others = [
        context.Process(target=_worker_process, args=(job, ready), name=f"attnkit-tune-{i}")
        for i in range(1, job.workers)
    ]
    for process in others:
        process.start()
    try:
        # Importing torch, Keras and MLflow takes seconds; without this wait, this process
        # would run the first trials alone while the others start up.
        waited = time.monotonic()
        while ready.value < len(others) and time.monotonic() - waited < READY_TIMEOUT:
            if not all(process.is_alive() for process in others):
                break
            time.sleep(0.2)
        _work(job)
    except BaseException:
        for process in others:
            process.terminate()
        raise
    finally:
        for process in others:
            process.join()
    failed = [p.name for p in others if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"worker process(es) {', '.join(failed)} failed; see their output above")
