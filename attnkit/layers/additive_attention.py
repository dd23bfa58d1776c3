"""Masked additive (tanh) attention pooling with a hook on the pre-softmax logits."""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import ops

from attnkit.layers.export import register
from attnkit.layers.masking import masked_softmax


@register
class AdditiveAttention(keras.layers.Layer):
    """Additive attention pooling: ``e_t = v^T tanh(W h_t [+ U q] + b)``, ``a = softmax(e)``.

    Paper-specified (Bahdanau et al. 2015; the attention of the adversarial-attention
    papers). Returns the pooled vector ``sum_t a_t h_t`` and the weights ``a``. Padding
    (``mask == False``) never receives weight.

    The pre-softmax logits can be perturbed two ways, for adversarial training:
    pass ``logits_perturbation`` (batch, time) to ``call``, or set ``logits_hook`` to a
    function ``(logits, mask) -> logits`` (not saved with the layer; ``mask`` is None or
    broadcastable to ``logits``). The training strategies in ``attnkit.training`` use the hook.

    Args:
        units: int. Size of the hidden tanh layer.
        use_query: bool. If True, ``call`` takes a ``query`` (batch, query_dim) added
            inside the tanh (aspect- or context-conditioned attention).
        kernel_initializer: initializer for ``W``, ``U`` and ``v``.

    Example:
        >>> layer = AdditiveAttention(units=8)
        >>> pooled, weights = layer(keras.ops.ones((2, 5, 4)))
        >>> tuple(pooled.shape), tuple(weights.shape)
        ((2, 4), (2, 5))
    """

    def __init__(
        self,
        units: int,
        use_query: bool = False,
        kernel_initializer: str | dict = "glorot_uniform",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if units <= 0:
            raise ValueError(f"units must be positive, got {units}")
        self.units = units
        self.use_query = use_query
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True
        self.logits_hook: Callable | None = None

    def build(self, inputs_shape, query_shape=None) -> None:
        dim = inputs_shape[-1]
        self.key_kernel = self.add_weight(
            name="key_kernel", shape=(dim, self.units), initializer=self.kernel_initializer
        )
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        self.score_vector = self.add_weight(
            name="score_vector", shape=(self.units,), initializer=self.kernel_initializer
        )
        if self.use_query:
            if query_shape is None:
                raise ValueError("AdditiveAttention(use_query=True) needs a query input")
            self.query_kernel = self.add_weight(
                name="query_kernel",
                shape=(query_shape[-1], self.units),
                initializer=self.kernel_initializer,
            )

    def attention_logits(self, inputs, query=None):
        """The unmasked scores ``e_t`` (batch, time)."""
        hidden = ops.matmul(inputs, self.key_kernel) + self.bias
        if self.use_query:
            hidden = hidden + ops.expand_dims(ops.matmul(query, self.query_kernel), 1)
        return ops.matmul(ops.tanh(hidden), self.score_vector)

    def call(self, inputs, query=None, mask=None, logits_perturbation=None):
        if self.use_query and query is None:
            raise ValueError("AdditiveAttention(use_query=True) needs a query input")
        logits = self.attention_logits(inputs, query)
        if logits_perturbation is not None:
            logits = logits + logits_perturbation
        if self.logits_hook is not None:
            logits = self.logits_hook(logits, mask)
        weights = masked_softmax(logits, mask, axis=-1)
        pooled = ops.sum(inputs * ops.expand_dims(weights, -1), axis=1)
        return pooled, weights

    def compute_output_shape(self, inputs_shape, query_shape=None):
        return (inputs_shape[0], inputs_shape[-1]), (inputs_shape[0], inputs_shape[1])

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "use_query": self.use_query,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
