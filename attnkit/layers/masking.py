"""Mask helpers shared by the attention layers.

Example:
    >>> import numpy as np, keras
    >>> w = masked_softmax(keras.ops.zeros((1, 3)), np.array([[True, True, False]]))
    >>> keras.ops.convert_to_numpy(w).round(2).tolist()
    [[0.5, 0.5, 0.0]]
"""

from __future__ import annotations

import warnings

import keras
from keras import ops

# A one-token batch makes a softmax over a size-1 axis; that is correct here, not a mistake.
warnings.filterwarnings("ignore", message="You are using a softmax over axis", category=UserWarning)


def _large_negative(dtype: str) -> float:
    # float16 overflows at -1e9; -3e4 still underflows exp() to exactly 0.
    return -3.0e4 if "float16" in str(dtype) else -1.0e9


def masked_softmax(logits, mask=None, axis: int = -1):
    """Softmax over ``axis`` where masked-out positions get exactly zero weight.

    ``mask`` is boolean and broadcastable to ``logits``; ``True`` marks real positions.
    A row with no real position returns all zeros instead of NaN.
    """
    if mask is None:
        return ops.softmax(logits, axis=axis)
    mask = ops.cast(mask, "bool")
    filled = ops.where(mask, logits, ops.cast(_large_negative(logits.dtype), logits.dtype))
    weights = ops.softmax(filled, axis=axis)
    return weights * ops.cast(mask, weights.dtype)


def masked_mean(inputs, mask=None, axis: int = 1):
    """Mean of ``inputs`` (batch, time, dim) over real time steps only."""
    inputs = ops.convert_to_tensor(inputs)
    if mask is None:
        return ops.mean(inputs, axis=axis)
    weights = ops.cast(ops.expand_dims(mask, -1), inputs.dtype)
    total = ops.sum(inputs * weights, axis=axis)
    count = ops.maximum(ops.sum(weights, axis=axis), keras.config.epsilon())
    return total / count
