"""One rank's share of every training batch, for data-parallel training.

Each batch of the wrapped dataset is one *global* batch; rank ``r`` of ``n`` takes its rows
``r, r + n, r + 2n, ...``. So every rank runs the same number of steps (collectives never
wait on a rank that ran out of batches), the ranks' rows are disjoint and together cover the
epoch, and the averaged gradient of a step is the gradient of the whole global batch, as in
a single-process run with the same ``batch_size``. The wrapped dataset's seeded per-epoch
order (``epoch``, ``on_epoch_end``) is shared by all ranks, so no data needs to move.

Example:
    >>> from attnkit.data.batches import BucketedBatches
    >>> batches = BucketedBatches({"token_ids": [[3, 4], [5], [6, 7, 8]]}, [0, 1, 0], batch_size=3)
    >>> shard = ShardedBatches(batches, rank=1, world_size=2)
    >>> inputs, labels = shard[0]
    >>> inputs["token_ids"].shape, labels.tolist()
    ((1, 3), [0])
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np


def _take_rows(value: Any, rows: np.ndarray) -> Any:
    if isinstance(value, dict):
        return {key: _take_rows(item, rows) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_take_rows(item, rows) for item in value)
    if value is None:
        return None
    return np.asarray(value)[rows]


def _batch_rows(batch: Any) -> int:
    first = batch[0] if isinstance(batch, (tuple, list)) else batch
    while isinstance(first, (dict, tuple, list)):
        first = next(iter(first.values())) if isinstance(first, dict) else first[0]
    return len(first)


class ShardedBatches(keras.utils.PyDataset):
    """The ``rank``-th of ``world_size`` row-interleaved slices of each batch of ``batches``.

    A global batch with fewer rows than ranks (the last, short one) gives a rank that would get
    no row one of the batch's rows again, so that no rank ever sees an empty batch.
    """

    def __init__(self, batches: keras.utils.PyDataset, rank: int, world_size: int) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got rank={rank}")
        self.batches = batches
        self.rank = rank
        self.world_size = world_size

    @property
    def num_batches(self) -> int:
        return len(self.batches)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int):
        batch = self.batches[index]
        size = _batch_rows(batch)
        rows = np.arange(self.rank, size, self.world_size)
        if rows.size == 0:
            rows = np.array([self.rank % size])
        return _take_rows(batch, rows)

    @property
    def epoch(self) -> int:
        """The wrapped dataset's epoch (set it to resume mid-training)."""
        return self.batches.epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        self.batches.epoch = value

    def on_epoch_end(self) -> None:
        self.batches.on_epoch_end()
