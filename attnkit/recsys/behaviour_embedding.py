"""One embedding "table" of a behaviour-sequence model: item, category and position sub-tables."""

from __future__ import annotations

import keras
import torch
from keras import ops

from attnkit.layers.export import register
from attnkit.recsys.initializers import initializer


@register
class BehaviourEmbedding(keras.layers.Layer):
    """Item (``num_items x item_dim``), category and relative-position sub-tables.

    Paper-specified (DARE code, ``use_time_mode=concat``): an item or behaviour is the
    concatenation ``[item; category; time]``; a behaviour's time id is its distance from the
    target (1 = most recent) and the target's is 0. DARE holds two of these (attention and
    representation), TWIN and DIN one. Library choice: the position table has
    ``max_length + 1`` rows (the official code fixes 2,000, which breaks longer histories).
    Id 0 is padding, masked by the models. Lookups call ``torch.index_select`` directly:
    on CPU its backward is about twice as fast as that of ``ops.take`` (``F.embedding``).

    Args:
        num_items, num_categories: int. Table sizes (ids ``0 .. n-1``).
        item_dim, category_dim, time_dim: int. Sub-table widths (``time_dim=0``: no time).
        max_length: int. Longest history (positions ``1 .. max_length``).
        init: ``"official"`` (N(0, 0.01)) or ``"standard"`` (Keras' uniform).

    Example:
        >>> table = BehaviourEmbedding(10, 3, 4, 2, 2, max_length=5)
        >>> tuple(table.items(keras.ops.ones((2, 5), "int64")).shape)
        (2, 5, 4)
    """

    def __init__(
        self,
        num_items: int,
        num_categories: int,
        item_dim: int,
        category_dim: int,
        time_dim: int,
        max_length: int,
        init: str = "official",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if min(num_items, num_categories, item_dim, category_dim, max_length) <= 0 or time_dim < 0:
            raise ValueError("table sizes and widths must be positive (time_dim may be 0)")
        self.num_items = num_items
        self.num_categories = num_categories
        self.item_dim = item_dim
        self.category_dim = category_dim
        self.time_dim = time_dim
        self.max_length = max_length
        self.init = init
        self.build()

    def build(self, input_shape=None) -> None:
        if getattr(self, "item_table", None) is not None:
            return
        make = initializer(self.init, "embedding")
        self.item_table = self.add_weight(
            name="items", shape=(self.num_items, self.item_dim), initializer=make)
        self.category_table = self.add_weight(
            name="categories", shape=(self.num_categories, self.category_dim), initializer=make)
        self.time_table = None
        if self.time_dim:
            self.time_table = self.add_weight(
                name="times", shape=(self.max_length + 1, self.time_dim), initializer=make)
        self.built = True

    @property
    def dim(self) -> int:
        """Width of one concatenated vector."""
        return self.item_dim + self.category_dim + self.time_dim

    def items(self, ids):
        return _lookup(self.item_table, ids)

    def categories(self, ids):
        return _lookup(self.category_table, ids)

    def target_time(self):
        """(time_dim,): the target's time vector (id 0)."""
        return self.time_table[0]

    def sequence_times(self, length: int):
        """(length, time_dim): time vectors of a left-padded window of ``length``, ids
        ``length .. 1`` (the last slot is the most recent behaviour)."""
        if length > self.max_length:
            raise ValueError(f"history of {length} behaviours is longer than max_length "
                             f"{self.max_length}")
        return ops.flip(self.time_table[1 : length + 1], axis=0)

    def call(self, item_ids, category_ids):
        """``[item; category]`` vectors of ids of any shape (no time part)."""
        return ops.concatenate([self.items(item_ids), self.categories(category_ids)], axis=-1)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "num_items": self.num_items,
            "num_categories": self.num_categories,
            "item_dim": self.item_dim,
            "category_dim": self.category_dim,
            "time_dim": self.time_dim,
            "max_length": self.max_length,
            "init": self.init,
        })
        return config


def _lookup(table, ids):
    """Rows of ``table`` for integer ``ids`` of any shape -> ``ids.shape + (width,)``."""
    ids = ops.convert_to_tensor(ids)
    if ids.dtype != torch.int64:
        ids = ids.long()
    rows = torch.index_select(ops.convert_to_tensor(table), 0, ids.reshape(-1))
    return rows.reshape(*ids.shape, rows.shape[-1])
