"""Attention weights from scores a model computed itself, with the logits hook."""

from __future__ import annotations

from collections.abc import Callable

import keras

from attnkit.layers.export import register
from attnkit.layers.masking import masked_softmax


@register
class AttentionSoftmax(keras.layers.Layer):
    """Masked softmax over the last axis of precomputed attention scores (batch, time).

    For models that score their attention inline (MemNet's ``m_i . v``, TNet-ATT's aspect
    query): wrapping the softmax in this layer gives them the ``logits_hook(logits, mask)`` of
    attnkit's attention layers, so adversarial attention training (AT, iAT, VAT, iVAT) can
    perturb the pre-softmax scores. ``mask`` is boolean, True at real positions; masked
    positions get exactly zero weight. Calling the layer several times (memory hops) gives
    several hook calls.

    Example:
        >>> weights = AttentionSoftmax()(keras.ops.ones((1, 3)), mask=keras.ops.array([[1, 1, 0]]) > 0)
        >>> [round(float(w), 2) for w in keras.ops.convert_to_numpy(weights)[0]]
        [0.5, 0.5, 0.0]
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True  # the mask argument is the attention mask, not Keras'
        self.logits_hook: Callable | None = None

    def call(self, scores, mask=None):
        if self.logits_hook is not None:
            scores = self.logits_hook(scores, mask)
        return masked_softmax(scores, mask, axis=-1)

    def compute_output_shape(self, scores_shape, mask_shape=None):
        return scores_shape

    def compute_mask(self, scores, mask=None):
        return None
