"""Batches of (history, target) examples, histories cut from one flat behaviour array.

Example:
    >>> batches = BehaviourBatches(np.array([5, 6, 7, 8]), np.array([2, 2, 3, 3]),
    ...     starts=np.array([0, 0]), ends=np.array([2, 3]), items=np.array([9, 4]),
    ...     categories=np.array([2, 2]), labels=np.array([1, 0]), max_length=2, batch_size=2)
    >>> batches[0][0]["history_items"].tolist()
    [[5, 6], [6, 7]]
"""

from __future__ import annotations

import numpy as np

from attnkit.data.batches import EpochOrderedBatches


class BehaviourBatches(EpochOrderedBatches):
    """A ``PyDataset`` of model inputs (``history_items``, ``history_categories``, ``item``,
    ``category``) and 0/1 labels.

    Example ``i``'s history is ``flat[max(starts[i], ends[i] - max_length) : ends[i]]``,
    left-padded with 0 to the longest history of its batch. Training order is reshuffled
    every epoch with a generator seeded by (seed, epoch), so a resumed run sees the same
    batches.
    """

    def __init__(self, flat_items: np.ndarray, flat_categories: np.ndarray, starts: np.ndarray,
                 ends: np.ndarray, items: np.ndarray, categories: np.ndarray,
                 labels: np.ndarray | None, max_length: int, batch_size: int,
                 shuffle: bool = False, seed: int = 0) -> None:
        super().__init__(batch_size, shuffle, seed)
        self.flat_items = np.asarray(flat_items, dtype=np.int64)
        self.flat_categories = np.asarray(flat_categories, dtype=np.int64)
        self.starts = np.asarray(starts, dtype=np.int64)
        self.ends = np.asarray(ends, dtype=np.int64)
        self.items = np.asarray(items, dtype=np.int64)
        self.categories = np.asarray(categories, dtype=np.int64)
        self.labels = None if labels is None else np.asarray(labels, dtype="float32")
        self.max_length = max_length
        self.order = self._make_order()

    def _make_order(self) -> list[np.ndarray]:
        size = len(self.items)
        if self.shuffle:
            rows = np.random.default_rng([self.seed, self._epoch]).permutation(size)
        else:
            rows = np.arange(size)
        return [rows[i : i + self.batch_size] for i in range(0, size, self.batch_size)]


    def histories(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Left-padded (len(rows), width) item and category histories."""
        ends = self.ends[rows]
        lengths = np.minimum(ends - self.starts[rows], self.max_length)
        width = max(int(lengths.max(initial=0)), 1)
        index = ends[:, None] - width + np.arange(width)[None, :]
        valid = index >= (ends - lengths)[:, None]
        index = np.where(valid, index, 0)
        if len(self.flat_items) == 0:
            return np.zeros(index.shape, np.int64), np.zeros(index.shape, np.int64)
        return (np.where(valid, self.flat_items[index], 0),
                np.where(valid, self.flat_categories[index], 0))

    def __getitem__(self, index: int):
        rows = self.order[index]
        items, categories = self.histories(rows)
        inputs = {"history_items": items, "history_categories": categories,
                  "item": self.items[rows], "category": self.categories[rows]}
        if self.labels is None:
            return (inputs,)
        return inputs, self.labels[rows]
