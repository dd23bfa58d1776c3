"""Id maps of the sequence CTR task, learnt on the training examples and saved with the model.

Model ids: 0 is padding, 1 the reserved bucket for ids unseen in training (or rarer than
``min_item_count``), known ids from 2. Each known item also keeps its category, so a raw
history of item ids is enough at predict time.

Example:
    >>> maps = SequenceIdMaps(["10", "20"], ["a"], [2, 2], max_length=50)
    >>> maps.encode_items(["20", "99"]).tolist(), maps.categories_of(maps.encode_items(["20", "99"])).tolist()
    ([3, 1], [2, 1])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from attnkit.recsys.sequences import BehaviourLog, Examples, history_coverage

PADDING, UNKNOWN, FIRST = 0, 1, 2


def _lookup_table(vocabulary: Sequence[str]) -> dict[str, int]:
    return {raw: index + FIRST for index, raw in enumerate(vocabulary)}


class SequenceIdMaps:
    """Raw item / category ids -> model ids, the known items' categories and N.

    Args:
        items: known raw item ids (model id = position + 2).
        categories: known raw category ids.
        item_categories: the model category id of each known item (same order as ``items``).
        max_length: N, the longest history the model sees (the most recent N behaviours).
    """

    def __init__(self, items: Sequence[str], categories: Sequence[str],
                 item_categories: Sequence[int], max_length: int) -> None:
        if len(items) != len(item_categories):
            raise ValueError("items and item_categories must have the same length")
        if max_length <= 0:
            raise ValueError(f"max_length must be positive, got {max_length}")
        self.items = [str(item) for item in items]
        self.categories = [str(category) for category in categories]
        self.max_length = int(max_length)
        self._item_ids = _lookup_table(self.items)
        self._category_ids = _lookup_table(self.categories)
        self._item_categories = np.concatenate(
            [[PADDING, UNKNOWN], np.asarray(item_categories, dtype=np.int64)]).astype(np.int64)

    @property
    def num_items(self) -> int:
        return len(self.items) + FIRST

    @property
    def num_categories(self) -> int:
        return len(self.categories) + FIRST

    @classmethod
    def fit(cls, log: BehaviourLog, train: Examples, max_length: int = 200,
            min_item_count: int = 1) -> SequenceIdMaps:
        """Keep the items and categories of the training examples (their histories, cut to
        ``max_length``, and targets, negatives included) seen at least ``min_item_count``
        times."""
        covered = history_coverage(log, train, max_length)
        targets = train.frame["item"].to_numpy()
        counts = (np.bincount(log.items[covered], minlength=len(log.item_vocabulary))
                  + np.bincount(targets, minlength=len(log.item_vocabulary)))
        kept = np.flatnonzero(counts >= max(min_item_count, 1))
        item_categories = log.item_categories()
        used_categories = np.unique(np.concatenate([
            log.categories[covered], train.frame["category"].to_numpy(), item_categories[kept]]))
        category_ids = np.full(len(log.category_vocabulary), UNKNOWN, dtype=np.int64)
        category_ids[used_categories] = np.arange(len(used_categories)) + FIRST
        return cls(
            items=[str(raw) for raw in log.item_vocabulary[kept]],
            categories=[str(raw) for raw in log.category_vocabulary[used_categories]],
            item_categories=category_ids[item_categories[kept]].tolist(),
            max_length=max_length,
        )

    # --- encoding ---
    def encode_items(self, raw: Sequence[Any]) -> np.ndarray:
        get = self._item_ids.get
        return np.fromiter((get(str(item), UNKNOWN) for item in raw), dtype=np.int64,
                           count=len(raw))

    def encode_categories(self, raw: Sequence[Any]) -> np.ndarray:
        get = self._category_ids.get
        return np.fromiter((get(str(c), UNKNOWN) for c in raw), dtype=np.int64, count=len(raw))

    def categories_of(self, item_ids: np.ndarray) -> np.ndarray:
        """The category of each model item id (unknown items: the unknown category)."""
        return self._item_categories[np.asarray(item_ids, dtype=np.int64)]

    def log_maps(self, log: BehaviourLog) -> tuple[np.ndarray, np.ndarray]:
        """Model ids of a log's local item and category codes."""
        return self.encode_items(log.item_vocabulary), self.encode_categories(log.category_vocabulary)

    # --- saving ---
    def to_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "categories": self.categories,
            "item_categories": self._item_categories[FIRST:].tolist(),
            "max_length": self.max_length,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SequenceIdMaps:
        return cls(data["items"], data["categories"], data["item_categories"], data["max_length"])
