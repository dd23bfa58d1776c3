"""``attnkit fit``: train a recipe, track it in MLflow, log a model that takes raw inputs."""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from attnkit.backend import device_description
from attnkit.data.interleaved import InterleavedBatches
from attnkit.data.shards import ShardedBatches
from attnkit.errors import ConfigError
from attnkit.pipelines import checkpoints, data_parallel
from attnkit.pipelines.bundle import LoadedModel, temporary_bundle
from attnkit.pipelines.callbacks import (
    CheckpointAndEarlyStop,
    DevEvaluation,
    MlflowEpochLogger,
    log_unlogged_epoch,
)
from attnkit.pipelines.distributed import is_main_process, join
from attnkit.pipelines.interpretability import log_interpretability
from attnkit.pipelines.interrupts import deferred_interrupts
from attnkit.pipelines.learning_rate_plateau import (
    ReduceLearningRateOnPlateau,
    check_plateau_settings,
)
from attnkit.pipelines.recipes import flatten, load_recipe, to_toml
from attnkit.pipelines.registry import check_names
from attnkit.pipelines.registry import register as register_model
from attnkit.pipelines.tracking import configure_tracking, log_attnkit_model
from attnkit.seeding import seed_everything
from attnkit.tasks.registry import get_model_builder, get_task
from attnkit.training import get_strategy
from attnkit.training.encoder_learning_rate import encoder_rate_optimizer
from attnkit.training.strategies import FitContext

LOWER_IS_BETTER = ("loss",)


@dataclass
class FitResult:
    """What ``fit`` returns (and ``--json`` prints)."""

    run_id: str
    model_uri: str
    metrics: dict[str, float] = field(default_factory=dict)
    resumed_from_epoch: int | None = None

    def to_json(self) -> str:
        return json.dumps({"run_id": self.run_id, "model_uri": self.model_uri, "metrics": self.metrics})


def _say(message: str) -> None:
    if is_main_process():  # one voice for a data-parallel run
        print(f"[attnkit] {message}", flush=True)


def _optimizer(training: dict[str, Any], model: keras.Model) -> keras.optimizers.Optimizer:
    name = training["optimizer"]
    settings = {"learning_rate": training["learning_rate"]}
    if training["global_clipnorm"] > 0:
        settings["global_clipnorm"] = training["global_clipnorm"]
    plain = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
             "sgd": keras.optimizers.SGD}  # fmt: skip
    if name not in plain:
        raise ConfigError(f"training.optimizer must be one of adam, adamw, sgd; got {name!r}")
    if name == "adamw":
        settings["weight_decay"] = training["weight_decay"] or 0.004
    elif name == "sgd":
        settings["momentum"] = 0.9
    if training["encoder_learning_rate"]:  # fine-tuning: the pretrained encoder's own rate
        optimizer = encoder_rate_optimizer(
            name, model, encoder_learning_rate=training["encoder_learning_rate"], **settings
        )
        tensors = len(optimizer.encoder_paths)
        _say(f"pretrained encoder fine-tuned at {optimizer.encoder_learning_rate:g} ({tensors} "
             f"weight tensor{'s' * (tensors != 1)}), the rest at {training['learning_rate']:g}")
        return optimizer
    return plain[name](**settings)


def _resolve_data_path(recipe: dict[str, Any], data: str | None) -> Path:
    path = data or recipe["data"]["path"]
    if not path:
        raise ConfigError(f"recipe {recipe['name']!r} has no data.path; pass --data PATH")
    return Path(path).expanduser()


def _monitor(recipe: dict[str, Any], task: Any) -> tuple[str, str]:
    monitor = recipe["training"]["monitor"] or f"dev_{task.primary_metric}"
    valid = [f"dev_{name}" for name in task.metric_names]
    if monitor not in valid:
        raise ConfigError(f"training.monitor must be one of {valid}, got {monitor!r}")
    mode = "min" if monitor.endswith(LOWER_IS_BETTER) else "max"
    return monitor, mode


def _unlabelled_path(
    recipe: dict[str, Any], data_path: Path, given: str | None, strategy: Any
) -> Path | None:
    """The unlabelled file: ``given`` (a path) or the recipe's ``data.unlabelled`` (relative
    to the data folder); an error if the strategy cannot use it or it does not exist."""
    if given:
        path = Path(given).expanduser()
    elif recipe["data"].get("unlabelled"):
        base = data_path if data_path.is_dir() else data_path.parent
        path = base / recipe["data"]["unlabelled"]
    else:
        return None
    if not strategy.uses_unlabelled:
        raise ConfigError(
            f"training strategy {strategy.name!r} does not use unlabelled data; choose one that "
            "does (vat, ivat) or drop --unlabelled / data.unlabelled"
        )
    if not path.exists():
        raise ConfigError(f"unlabelled data {path} does not exist")
    return path


def _verbosity(verbose: int | None) -> int:
    if verbose is not None:
        return verbose
    return 1 if sys.stdout.isatty() else 2


def _build_model(resolved: dict[str, Any], task: Any, preprocessor: Any) -> keras.Model:
    builder = get_model_builder(resolved["task"], resolved["model"]["builder"])
    params = {k: v for k, v in resolved["model"].items() if k != "builder"}
    try:
        return builder(**params, **task.model_arguments(preprocessor))
    except (TypeError, ValueError) as error:
        raise ConfigError(
            f"[model] settings rejected by {resolved['model']['builder']}: {error}"
        ) from None


def _log_run_start(resolved: dict[str, Any], task: Any, key: str, train_examples: int) -> None:
    import mlflow

    mlflow.log_params(flatten(resolved))
    mlflow.log_params({"device": device_description(), "train_examples": train_examples})
    mlflow.set_tags(
        {
            "attnkit.recipe": resolved["name"],
            "attnkit.task": task.name,
            "attnkit.run_key": key,
            "device": device_description(),
            "seed": str(resolved["seed"]),
        }
    )
    mlflow.log_text(to_toml(resolved), "recipe.toml")


def _score(loaded: LoadedModel, splits: dict, batch_size: int, best_epoch: int) -> dict[str, float]:
    metrics: dict[str, float] = {"best_epoch": float(best_epoch + 1)}
    for name in ("dev", "test"):
        if name in splits:
            metrics.update(loaded.evaluate(splits[name], batch_size))
    return metrics


def _log_model(loaded: LoadedModel, splits: dict):
    bundle = temporary_bundle(loaded.model, loaded.task, loaded.preprocessor, loaded.recipe)
    try:
        return log_attnkit_model(bundle, loaded.task.input_example(splits["train"]))
    finally:
        shutil.rmtree(bundle.parent, ignore_errors=True)


def fit(
    recipe: str,
    data: str | None = None,
    overrides: list[str] | None = None,
    experiment: str = "attnkit",
    register: str | None = None,
    verbose: int | None = None,
    alias: str = "champion",
    unlabelled: str | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    parent_run_id: str | None = None,
    run_name: str | None = None,
    log_model: bool | Callable[[dict[str, float]], bool] = True,
    distributed: bool = False,
) -> FitResult:
    """Train ``recipe`` (a shipped name or a TOML path) and log everything to MLflow.

    Early-stops on the dev split, reloads the best epoch, evaluates dev and test, and logs
    a pyfunc model that takes raw inputs. Re-running an interrupted call resumes it. With
    ``register``, the model becomes a new version of that registered model and ``alias``
    points at it. ``unlabelled`` (or the recipe's ``data.unlabelled``) is a file of inputs
    without labels for semi-supervised strategies (VAT, iVAT).

    For search trials (``tune``): ``callbacks`` run after fit's own at each epoch end (they see
    the ``dev_*`` metrics); ``parent_run_id`` nests the run (named ``run_name``) under another
    and keys its resume checkpoint by both; ``log_model`` may be a predicate on the final
    metrics deciding whether the model is logged (``FitResult.model_uri`` is "" if not).

    With ``distributed`` (in every process ``torchrun`` starts), the model is trained data-
    parallel in torch DDP: each rank takes its share of every batch and gradients are averaged;
    rank 0 alone logs to MLflow, checkpoints and logs the model, and every rank returns its
    result (see :mod:`attnkit.pipelines.data_parallel`).

    Example:
        >>> result = fit("sample-lama", data="data/sample", overrides=["training.epochs=2"])  # doctest: +SKIP
        >>> sorted(result.metrics)[:2]  # doctest: +SKIP
        ['best_epoch', 'dev_accuracy']
    """
    import mlflow

    configure_tracking()
    group = join() if distributed else None
    main = group is None or group.is_main
    if register:
        check_names(register, alias)
    resolved = load_recipe(recipe, overrides)
    task = get_task(resolved["task"])
    data_path = _resolve_data_path(resolved, data)
    monitor, mode = _monitor(resolved, task)
    training = resolved["training"]
    seed = resolved["seed"]
    strategy = get_strategy(training["strategy"], resolved["strategy"])
    unlabelled_path = _unlabelled_path(resolved, data_path, unlabelled, strategy)
    if training["reduce_lr_factor"]:
        check_plateau_settings(
            training["reduce_lr_factor"], training["reduce_lr_patience"], training["min_learning_rate"]
        )

    seed_everything(seed, deterministic=training["deterministic"])
    splits = task.read_splits(data_path, resolved["data"], seed)
    sizes = ", ".join(f"{name} {split.frame.height}" for name, split in splits.items())
    _say(f"recipe {resolved['name']} v{resolved['version']} | data {data_path} ({sizes})")

    key = directory = None
    if main:  # a data-parallel run's MLflow run and checkpoints belong to rank 0
        mlflow.set_experiment(experiment)
        key = checkpoints.run_key(
            resolved if group is None else {**resolved, "world_size": group.world_size},
            str(data_path.resolve()), experiment, mlflow.get_tracking_uri(),
            scope=f"{parent_run_id}/{run_name}" if parent_run_id else None,
        )
        directory = checkpoints.checkpoint_dir(key)
    # One process at a time trains a run: a second identical command would share its
    # checkpoint folder, so it stops with a clear error instead (see exclusive_run).
    with checkpoints.exclusive_run(directory) if main else nullcontext():
        state = preprocessor = None
        if main:
            state = checkpoints.read_state(directory)
            if state is not None:
                saved = directory / checkpoints.PREPROCESSOR_FILE
                preprocessor = task.load_preprocessor(json.loads(saved.read_text(encoding="utf-8")))
            else:
                preprocessor = task.fit_preprocessor(splits["train"], resolved["preprocess"])
        if group is not None:  # all ranks start from rank 0's resume point and vocabulary
            state = group.broadcast(state)
            shared = group.broadcast(preprocessor.to_dict() if main else None)
            preprocessor = preprocessor if main else task.load_preprocessor(shared)
        model = _build_model(resolved, task, preprocessor)
        if state is None:
            task.initialize_model(model, preprocessor, resolved)
        trainer = strategy.prepare(model, task)
        if group is not None:
            trainer = data_parallel.wrap(trainer, model, strategy, group)
        trainer.compile(
            optimizer=_optimizer(training, model),
            loss=task.loss(resolved),
            metrics=task.keras_metrics(),
            jit_compile=training["jit_compile"],
        )
        train_batches = task.batches(preprocessor, splits["train"], training["batch_size"], True, seed)
        if unlabelled_path is not None:
            extra = task.read_unlabelled(unlabelled_path, resolved["data"])
            _say(f"unlabelled data {unlabelled_path} ({extra.frame.height} inputs)")
            extra_batches = task.batches(
                preprocessor, extra, training["batch_size"], True, seed + 1, labelled=False
            )
            train_batches = InterleavedBatches(train_batches, extra_batches)
        if group is not None:
            train_batches = ShardedBatches(train_batches, group.rank, group.world_size)
        dev_batches = task.batches(
            preprocessor, splits["dev"], training["eval_batch_size"], False, seed, labelled=False
        )
        dev_targets = task.labels(preprocessor, splits["dev"])
        for split in splits.values():  # fail on unknown labels before training, not after
            task.labels(preprocessor, split)
        if not main:
            return data_parallel.follow(group, trainer, train_batches, state, training["epochs"])

        if state is None:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / checkpoints.PREPROCESSOR_FILE).write_text(
                json.dumps(preprocessor.to_dict()), encoding="utf-8"
            )
            run = mlflow.start_run(run_name=run_name or resolved["name"], parent_run_id=parent_run_id)
            state = {"run_id": run.info.run_id}
            initial_epoch = 0
        else:
            run = mlflow.start_run(run_id=state["run_id"])
            initial_epoch = state["epoch"] + 1
        resumed_from = state.get("epoch") if initial_epoch else None

        try:
            strategy.bind(FitContext(task, preprocessor, resolved, dev_batches, dev_targets,
                                     monitor, mode, directory))
            if initial_epoch == 0:
                _log_run_start(resolved, task, key, splits["train"].frame.height)
                if group is not None:
                    mlflow.log_params(group.params())
                strategy.initialize(model, trainer, train_batches)  # e.g. DE initialisation
            else:
                checkpoints.restore_training_state(directory, trainer)
                log_unlogged_epoch(run.info.run_id, state)  # killed between checkpoint and log
                _say(f"resuming run {run.info.run_id} after epoch {initial_epoch} ({directory})")
            if group is not None:
                data_parallel.synchronize(trainer, group, train_batches[0][0])
            _say(
                f"MLflow run {run.info.run_id} | device {device_description()} | seed {seed} | "
                f"monitor {monitor}"
            )
            checkpointer = CheckpointAndEarlyStop(
                directory, monitor, mode, training["patience"], state, model_to_save=model
            )
            # Before the checkpointer, so that each epoch's checkpoint holds the cut rate.
            rate_cut = [ReduceLearningRateOnPlateau(
                monitor, mode, training["reduce_lr_factor"], training["reduce_lr_patience"],
                training["min_learning_rate"], state, say=_say,
            )] if training["reduce_lr_factor"] else []
            started = time.perf_counter()
            if not (state.get("stopped_early") or initial_epoch >= training["epochs"]):
                train_batches.epoch = initial_epoch
                # Ranks of a data-parallel run must stop together, so only one process defers.
                with deferred_interrupts() if group is None else nullcontext() as stop:
                    trainer.fit(
                        train_batches,
                        epochs=training["epochs"],
                        initial_epoch=initial_epoch,
                        callbacks=data_parallel.callbacks(group, [
                            DevEvaluation(task, preprocessor, dev_batches, dev_targets),
                            *rate_cut,
                            checkpointer,  # before logging: MLflow never gets ahead of it
                            MlflowEpochLogger(),
                            *callbacks,
                            *([stop] if stop is not None else []),  # last: the epoch is saved
                        ]),
                        verbose=_verbosity(verbose),
                        shuffle=False,  # the batches shuffle themselves, seeded per epoch
                    )
            if group is not None:
                mlflow.set_tag("distributed.weights_sha256", data_parallel.check_in_sync(model, group))
            checkpointer.restore_best()
            mlflow.log_metric("train_seconds", time.perf_counter() - started)

            loaded = LoadedModel(task, model, preprocessor, resolved)
            metrics = _score(loaded, splits, training["eval_batch_size"], state.get("best_epoch", -1))
            metrics.update(log_interpretability(loaded, splits, training["eval_batch_size"]))
            # Logged one step after the last epoch, so each dev_* history ends with the value of
            # the model that was kept (the best epoch), which is what MLflow shows as latest.
            mlflow.log_metrics(metrics, step=state.get("epoch", -1) + 1)
            keep = log_model(metrics) if callable(log_model) else log_model
            info = _log_model(loaded, splits) if keep else None
            model_uri = info.model_uri if info is not None else ""
            if register and info is not None:
                registered = register_model(model_uri, register, alias)
                _say(f"registered {registered['model_uri']} (version {registered['version']})")
            mlflow.end_run()
        except KeyboardInterrupt:
            mlflow.set_tag("error", "interrupted; run the same command again to resume")
            mlflow.end_run(status="KILLED")
            raise
        except BaseException as error:
            mlflow.set_tag("error", f"{type(error).__name__}: {error}"[:5000])
            mlflow.end_run(status="FAILED")
            raise
        shutil.rmtree(directory, ignore_errors=True)
        summary = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k.startswith("test_"))
        _say(f"done: run {run.info.run_id} | model {model_uri or 'not logged'} | {summary}")
        result = FitResult(run.info.run_id, model_uri, metrics, resumed_from)
        return result if group is None else group.broadcast(result)
