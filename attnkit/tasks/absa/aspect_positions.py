"""Sentence masks and TNet's position weights from the aspect span."""

from __future__ import annotations

import keras
from keras import ops

from attnkit.layers.export import register


@register
class AspectPositions(keras.layers.Layer):
    """``(ids (B, n), positions (B, 3))`` -> ``(sentence mask (B, n), position weights (B, n))``.

    ``positions`` holds the first and last aspect token and the sentence length. The mask
    covers the real tokens (an erased word, id 0 inside the sentence, stays inside it). TNet's
    position weight is ``1 - d/limit`` for ``d <= limit`` and 0 beyond and on padding, with
    ``d = last - i`` left of the aspect (distance to its *right* end, as in the TNet code)
    and ``d = i - first`` from the aspect on.

    Example:
        >>> mask, weights = AspectPositions(limit=4)(ops.ones((1, 5)), ops.array([[1, 1, 4]]))
        >>> ops.convert_to_numpy(weights).round(2).tolist()
        [[0.75, 1.0, 0.75, 0.5, 0.0]]
    """

    def __init__(self, limit: float = 40.0, **kwargs) -> None:
        super().__init__(**kwargs)
        if limit <= 0:
            raise ValueError(f"limit must be positive, got {limit}")
        self.limit = float(limit)

    def call(self, ids, positions):
        steps = ops.cast(ops.arange(ops.shape(ids)[1]), "float32")[None, :]
        positions = ops.cast(positions, "float32")
        first, last, length = positions[:, 0:1], positions[:, 1:2], positions[:, 2:3]
        mask = ops.cast(steps < length, "float32")
        distance = ops.where(steps < first, last - steps, steps - first)
        weights = ops.where(distance <= self.limit, 1.0 - distance / self.limit, 0.0)
        return mask, weights * mask

    def compute_output_shape(self, ids_shape, positions_shape):
        return tuple(ids_shape), tuple(ids_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "limit": self.limit}
