"""Global-context attention: a learned context vector queried against every position."""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import ops

from attnkit.layers.export import register
from attnkit.layers.masking import masked_mean, masked_softmax


@register
class GlobalContextAttention(keras.layers.Layer):
    """HAN-style attention pooling: ``u_t = tanh(W h_t + b)``, ``a = softmax(u_t . c)``.

    Paper-specified (Yang et al. 2016, hierarchical attention networks): ``c`` is a learned
    context vector. Library choice: ``context="mean"`` uses the masked mean of ``u_t``
    instead, which makes the query input-dependent (the "+ctx" idea of the LAMA spec).
    Returns the pooled vector ``sum_t a_t h_t`` and the weights ``a`` (batch, time).
    ``logits_hook(logits, mask)`` (not saved) may perturb the pre-softmax scores.

    Args:
        units: int. Size of ``u_t`` and of the context vector.
        context: ``"learned"`` or ``"mean"``.

    Example:
        >>> pooled, weights = GlobalContextAttention(units=6)(keras.ops.ones((2, 5, 4)))
        >>> tuple(pooled.shape), tuple(weights.shape)
        ((2, 4), (2, 5))
    """

    CONTEXTS = ("learned", "mean")

    def __init__(self, units: int, context: str = "learned", **kwargs) -> None:
        super().__init__(**kwargs)
        if units <= 0:
            raise ValueError(f"units must be positive, got {units}")
        if context not in self.CONTEXTS:
            raise ValueError(f"context must be one of {self.CONTEXTS}, got {context!r}")
        self.units = units
        self.context = context
        self.supports_masking = True
        self.logits_hook: Callable | None = None

    def build(self, input_shape) -> None:
        self.projection = self.add_weight(
            name="projection", shape=(input_shape[-1], self.units), initializer="glorot_uniform"
        )
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        if self.context == "learned":
            self.context_vector = self.add_weight(
                name="context_vector", shape=(self.units,), initializer="glorot_uniform"
            )

    def call(self, inputs, mask=None, logits_perturbation=None):
        keys = ops.tanh(ops.matmul(inputs, self.projection) + self.bias)
        if self.context == "learned":
            logits = ops.matmul(keys, self.context_vector)
        else:
            query = masked_mean(keys, mask, axis=1)
            logits = ops.sum(keys * ops.expand_dims(query, 1), axis=-1)
        if logits_perturbation is not None:
            logits = logits + logits_perturbation
        if self.logits_hook is not None:
            logits = self.logits_hook(logits, mask)
        weights = masked_softmax(logits, mask, axis=-1)
        return ops.sum(inputs * ops.expand_dims(weights, -1), axis=1), weights

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1]), (input_shape[0], input_shape[1])

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"units": self.units, "context": self.context})
        return config
