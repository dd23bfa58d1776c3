"""The TNet-ATT query from the aspect BiLSTM's states."""

from __future__ import annotations

import keras
from keras import ops

from attnkit.layers.export import register


@register
class AspectQuery(keras.layers.Layer):
    """The TNet-ATT query: the aspect BiLSTM's last forward state and first backward state,
    ``(B, m, 2u), mask (B, m) -> (B, 2u)``.

    Example:
        >>> states = ops.reshape(ops.arange(12.0), (1, 3, 4))
        >>> ops.convert_to_numpy(AspectQuery()(states, ops.array([[1, 1, 0]]))).tolist()
        [[4.0, 5.0, 2.0, 3.0]]
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True  # the mask is an explicit argument

    def compute_mask(self, *args, **kwargs):
        return None

    def call(self, states, aspect_mask):
        units = ops.shape(states)[-1] // 2
        last = ops.maximum(ops.sum(ops.cast(aspect_mask, "int32"), axis=1) - 1, 0)
        forward = ops.take_along_axis(states[..., :units], last[:, None, None], axis=1)[:, 0]
        return ops.concatenate([forward, states[:, 0, units:]], axis=-1)

    def compute_output_shape(self, states_shape, aspect_mask_shape):
        return (states_shape[0], states_shape[-1])
