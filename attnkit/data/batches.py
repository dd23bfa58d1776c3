"""Length-bucketed batches of variable-length token sequences for ``keras.Model.fit``.

Sequences of similar length are batched together and each batch is padded only to its
longest member, so recurrent encoders do not run over padding. Batch order is reshuffled
every epoch with a seeded generator.

Example:
    >>> batches = BucketedBatches({"token_ids": [[3, 4], [5], [6, 7, 8]]}, [0, 1, 0], batch_size=2)
    >>> len(batches)
    2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np


def pad_sequences(sequences: Sequence[Sequence[int]], length: int | None = None) -> np.ndarray:
    """Right-pad integer sequences with 0 to ``length`` (default: the longest)."""
    length = length or max((len(s) for s in sequences), default=1) or 1
    out = np.zeros((len(sequences), length), dtype="int32")
    for row, sequence in enumerate(sequences):
        out[row, : len(sequence)] = sequence[:length]
    return out


class EpochOrderedBatches(keras.utils.PyDataset):
    """Batches in an order drawn per epoch from (seed, epoch), so a resumed run sees the
    batches an uninterrupted one would; ``unsort`` puts outputs back into input order.

    Subclasses set their data, then ``self.order = self._make_order()``.
    """

    def __init__(self, batch_size: int, shuffle: bool, seed: int) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self._epoch = 0
        self.order: list[np.ndarray] = []

    def _make_order(self) -> list[np.ndarray]:
        raise NotImplementedError

    @property
    def num_batches(self) -> int:
        return len(self.order)

    def __len__(self) -> int:
        return len(self.order)

    @property
    def epoch(self) -> int:
        """The epoch whose order is current; set it to resume mid-training."""
        return self._epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        self._epoch = value
        self.order = self._make_order()

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.epoch = self._epoch + 1

    def unsort(self, outputs: np.ndarray) -> np.ndarray:
        """Put per-example ``outputs`` computed in batch order back into input order."""
        order = np.concatenate(self.order) if self.order else np.zeros(0, dtype=np.int64)
        restored = np.empty_like(outputs)
        restored[order] = outputs
        return restored


class BucketedBatches(EpochOrderedBatches):
    """A ``PyDataset`` of dict inputs (ragged int sequences or fixed arrays) and labels.

    Args:
        inputs: name -> list of int sequences (ragged, padded per batch) or an array.
        labels: one label per example, or None for prediction.
        batch_size: examples per batch.
        shuffle: reshuffle (within length buckets) every epoch.
        seed: seed of the shuffling generator.
        bucket_batches: how many batches form one length-sorted bucket.
    """

    def __init__(
        self,
        inputs: Mapping[str, Sequence],
        labels: Sequence | np.ndarray | None = None,
        batch_size: int = 32,
        shuffle: bool = False,
        seed: int = 0,
        bucket_batches: int = 50,
    ) -> None:
        super().__init__(batch_size, shuffle, seed)
        self.inputs = dict(inputs)
        self.labels = None if labels is None else np.asarray(labels)
        self.size = len(next(iter(self.inputs.values())))
        self.bucket_batches = bucket_batches
        self._lengths = self._sequence_lengths()
        self.order = self._make_order()

    def _sequence_lengths(self) -> np.ndarray:
        for values in self.inputs.values():
            if not isinstance(values, np.ndarray):
                return np.fromiter((len(v) for v in values), dtype=np.int64, count=self.size)
        return np.zeros(self.size, dtype=np.int64)

    def _make_order(self) -> list[np.ndarray]:
        if not self.shuffle:
            # Stable length sort: batches are tight, and `unsort` restores input order.
            order = np.argsort(self._lengths, kind="stable")
            return [order[i : i + self.batch_size] for i in range(0, self.size, self.batch_size)]
        # Seeded by (seed, epoch): a resumed run sees the same order as an uninterrupted one.
        rng = np.random.default_rng([self.seed, self._epoch])
        order = rng.permutation(self.size)
        chunk = self.batch_size * self.bucket_batches
        batches = []
        for start in range(0, self.size, chunk):
            part = order[start : start + chunk]
            part = part[np.argsort(self._lengths[part], kind="stable")]
            batches.extend(part[i : i + self.batch_size] for i in range(0, len(part), self.batch_size))
        rng.shuffle(batches)
        return batches

    def __getitem__(self, index: int):
        rows = self.order[index]
        batch = {}
        for name, values in self.inputs.items():
            if isinstance(values, np.ndarray):
                batch[name] = values[rows]
            else:
                batch[name] = pad_sequences([values[i] for i in rows])
        if self.labels is None:
            return (batch,)
        return batch, self.labels[rows]
