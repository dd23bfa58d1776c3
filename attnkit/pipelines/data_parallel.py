"""Data-parallel training of a Keras model with torch ``DistributedDataParallel`` (DDP).

Keras 3.15 has no torch distribution API, so ``fit --distributed`` wraps the task model in
DDP itself. :class:`DataParallelTrainer` is a ``keras.Model`` whose training forward pass
goes through the DDP module: Keras' own torch ``train_step`` (loss, loss scaling,
``backward``, ``optimizer.apply``, metrics) runs unchanged, and DDP's backward hooks
all-reduce and average the gradients in buckets while ``backward`` runs. Evaluation and
prediction call the model directly.

Every rank runs this sequence of collectives, in this order (``fit`` on rank 0,
:func:`follow` on the others): the resume state and the preprocessor are broadcast from rank
0 (``fit``); :func:`synchronize` (DDP's broadcast of rank 0's weights, then the optimizer's
variables); one all-reduce of the train metrics and one broadcast of the early-stopping
decision per epoch (:func:`callbacks`); a gather of weight digests after training
(:func:`check_in_sync`); and a broadcast of rank 0's result.

Example:
    >>> trainer = wrap(model, model, strategy, group)  # doctest: +SKIP
    >>> trainer.compile(optimizer="adam", loss="sparse_categorical_crossentropy")  # doctest: +SKIP
    >>> synchronize(trainer, group)  # doctest: +SKIP
    >>> trainer.fit(ShardedBatches(batches, group.rank, group.world_size),
    ...             callbacks=callbacks(group, []))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import keras
import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from attnkit.data.shards import ShardedBatches
from attnkit.errors import ConfigError
from attnkit.pipelines.distributed import ProcessGroup

#: If set to a folder, every rank writes its trained weights there (``rank<N>.npz``), so
#: tests can compare the ranks' weights themselves rather than digests.
WEIGHTS_DUMP_ENV = "ATTNKIT_DEBUG_RANK_WEIGHTS"
SEED_STATE_NAME = "seed_generator_state"  # the variable name Keras gives a SeedGenerator's state
SEED_OFFSET = 1_013_904_223  # per-rank offset of dropout seeds (odd, far from small counters)


class DataParallelTrainer(keras.Model):
    """Trains ``inner`` through DDP; never saved (the pipeline saves ``inner``).

    The DDP module is created by :func:`synchronize`, once the optimizer exists and rank 0
    has restored any checkpoint, and is kept out of Keras' and torch's attribute tracking
    (it holds ``inner`` itself, which must not be registered twice).
    """

    def __init__(self, inner: keras.Model, group: ProcessGroup) -> None:
        super().__init__(name="data_parallel_trainer")
        self.inner = inner
        object.__setattr__(self, "group", group)
        object.__setattr__(self, "ddp", None)
        self.built = inner.built

    def call(self, inputs: Any, training: bool = False) -> Any:
        if training and torch.is_grad_enabled():
            if self.ddp is None:
                raise RuntimeError("DataParallelTrainer: call synchronize() before training")
            return self.ddp(inputs, training=True)
        return self.inner(inputs, training=training)


def wrap(
    trainer: keras.Model, model: keras.Model, strategy: Any, group: ProcessGroup
) -> DataParallelTrainer:
    """The trainer to compile under ``--distributed``, from what ``strategy.prepare`` returned.

    Raises:
        ConfigError: the strategy trains with its own ``train_step`` (a wrapper model),
            whose forward passes DDP cannot see.
    """
    if trainer is not model:
        raise ConfigError(
            f"training.strategy={strategy.name!r} trains through its own train_step, which "
            "--distributed does not support; use training.strategy=standard or drop --distributed"
        )
    return DataParallelTrainer(model, group)


def _offset_seeds(model: keras.Model, rank: int) -> None:
    # After the broadcast every rank holds rank 0's dropout seed states, so every rank would
    # draw the same dropout masks for its rows; shift them so each rank draws its own.
    offset = (rank * SEED_OFFSET) % 2**32
    offset = offset - 2**32 if offset >= 2**31 else offset  # the states are int32
    for variable in model.variables:
        if variable.name == SEED_STATE_NAME:
            shift = keras.ops.convert_to_tensor([offset, 0], dtype=variable.dtype)
            variable.assign(keras.ops.add(variable.value, shift))


def synchronize(
    trainer: DataParallelTrainer, group: ProcessGroup, sample_inputs: Any = None
) -> None:
    """Make every rank start from rank 0's weights and optimizer state, and create the DDP module.

    ``sample_inputs`` (one batch's inputs) builds a model whose weights do not exist yet.
    """
    inner = trainer.inner
    if not inner.built:
        if sample_inputs is None:
            raise RuntimeError("synchronize: the model is not built and no sample_inputs given")
        inner(sample_inputs, training=False)
        trainer.built = True
    if not trainer.optimizer.built:
        trainer.optimizer.build(trainer.trainable_variables)
    device_ids = [group.local_rank] if group.device is not None else None
    # DDP's constructor broadcasts rank 0's parameters, trainable or not, to all ranks.
    ddp = DistributedDataParallel(inner, device_ids=device_ids)
    with torch.no_grad():
        for variable in trainer.optimizer.variables:
            dist.broadcast(variable.value.data, src=0)
    _offset_seeds(inner, group.rank)
    object.__setattr__(trainer, "ddp", ddp)


class AverageTrainLogs(keras.callbacks.Callback):
    """Replace each rank's epoch metrics (its own shard's) by their mean over the ranks.

    Must run first at the end of an epoch, before callbacks that add or rename metrics.
    """

    def __init__(self, group: ProcessGroup) -> None:
        super().__init__()
        self.group = group

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        names = sorted(name for name, value in logs.items() if np.isscalar(value))
        values = torch.tensor(
            [float(logs[name]) for name in names], dtype=torch.float64, device=self.group.device
        )
        dist.all_reduce(values)
        logs.update(zip(names, (values / self.group.world_size).tolist(), strict=True))


class StopTogether(keras.callbacks.Callback):
    """Every rank adopts rank 0's early-stopping decision and learning rate (which rank 0's
    plateau cut may have lowered); must run last in an epoch."""

    def __init__(self, group: ProcessGroup) -> None:
        super().__init__()
        self.group = group

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        optimizer = self.model.optimizer
        decision = torch.tensor(
            [float(bool(self.model.stop_training)), float(optimizer.learning_rate)],
            dtype=torch.float64, device=self.group.device,
        )
        dist.broadcast(decision, src=0)
        self.model.stop_training = bool(decision[0].item())
        optimizer.learning_rate = float(decision[1].item())


def callbacks(group: ProcessGroup | None, rank_callbacks: list) -> list:
    """``rank_callbacks`` (rank 0's dev scoring, logging, checkpoints; none elsewhere)
    between the two per-epoch collectives every rank must run; unchanged without a group."""
    if group is None:
        return rank_callbacks
    return [AverageTrainLogs(group), *rank_callbacks, StopTogether(group)]


def weights_digest(model: keras.Model) -> str:
    """SHA-256 of the model's weights (names, shapes and values)."""
    digest = hashlib.sha256()
    for variable in model.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(variable.value))
        digest.update(f"{variable.path}:{value.dtype}:{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def check_in_sync(model: keras.Model, group: ProcessGroup) -> str:
    """The digest of the weights every rank ended training with; raises if they differ."""
    folder = os.environ.get(WEIGHTS_DUMP_ENV)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        weights = {
            v.path.replace("/", "."): keras.ops.convert_to_numpy(v.value) for v in model.weights
        }
        np.savez(Path(folder) / f"rank{group.rank}.npz", **weights)
    digests = group.gather(weights_digest(model))
    if len(set(digests)) != 1:
        raise RuntimeError(f"data-parallel ranks ended training with different weights: {digests}")
    return digests[0]


def follow(
    group: ProcessGroup,
    trainer: DataParallelTrainer,
    train_batches: ShardedBatches,
    state: dict[str, Any] | None,
    epochs: int,
) -> Any:
    """What ranks other than 0 do in ``fit``: train their shard, in lockstep with rank 0, and
    return rank 0's result. They touch neither MLflow nor the checkpoint folder."""
    state = state or {}
    initial_epoch = state["epoch"] + 1 if "epoch" in state else 0
    synchronize(trainer, group, train_batches[0][0])
    if not (state.get("stopped_early") or initial_epoch >= epochs):
        train_batches.epoch = initial_epoch
        trainer.fit(
            train_batches,
            epochs=epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks(group, []),
            verbose=0,
            shuffle=False,
        )
    check_in_sync(trainer.inner, group)
    return group.broadcast(None)
