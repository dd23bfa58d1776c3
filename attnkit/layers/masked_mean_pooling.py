"""Mean over real time steps."""

from __future__ import annotations

import keras

from attnkit.layers.export import register
from attnkit.layers.masking import masked_mean


@register
class MaskedMeanPooling(keras.layers.Layer):
    """Average (batch, time, dim) over the positions where ``mask`` is True.

    Example:
        >>> tuple(MaskedMeanPooling()(keras.ops.ones((2, 5, 3))).shape)
        (2, 3)
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        return masked_mean(inputs, mask, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def compute_mask(self, inputs, mask=None):
        return None
