"""Soft alignment (cross-attention) between two sequences, as in ESIM and decomposable attention."""

from __future__ import annotations

import keras
from keras import ops

from attnkit.layers.export import register
from attnkit.layers.masking import masked_softmax


@register
class SoftAlignment(keras.layers.Layer):
    """Each position of one sequence attends over the other: ``e_ij = a_i . b_j``,
    ``a~_i = sum_j softmax_j(e_ij) b_j`` and ``b~_j = sum_i softmax_i(e_ij) a_i``.

    Paper-specified as the plagiarism spec's alternative to per-text pooling ("cross-attention
    of H1 over H2"); the dot-product form is Chen et al. (ESIM, 2017). Padding never receives
    weight (``mask_a``/``mask_b``: True at real positions). No weights.

    Example:
        >>> a, b = keras.ops.ones((2, 4, 3)), keras.ops.ones((2, 6, 3))
        >>> aligned_a, aligned_b = SoftAlignment()(a, b)
        >>> tuple(aligned_a.shape), tuple(aligned_b.shape)
        ((2, 4, 3), (2, 6, 3))
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True  # masks come in explicitly as mask_a / mask_b

    def call(self, a, b, mask_a=None, mask_b=None):
        scores = ops.matmul(a, ops.transpose(b, (0, 2, 1)))
        over_b = None if mask_b is None else ops.expand_dims(mask_b, 1)
        over_a = None if mask_a is None else ops.expand_dims(mask_a, 1)
        aligned_a = ops.matmul(masked_softmax(scores, over_b, axis=-1), b)
        aligned_b = ops.matmul(masked_softmax(ops.transpose(scores, (0, 2, 1)), over_a, axis=-1), a)
        return aligned_a, aligned_b

    def compute_mask(self, a, b, mask_a=None, mask_b=None, mask=None):
        return None

    def compute_output_shape(self, a_shape, b_shape, mask_a_shape=None, mask_b_shape=None):
        return (*a_shape[:-1], b_shape[-1]), (*b_shape[:-1], a_shape[-1])
