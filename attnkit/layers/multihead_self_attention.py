"""A standard Transformer multi-head self-attention block, the baseline LAMA is compared to."""

from __future__ import annotations

import keras
from keras import ops

from attnkit.layers.export import register


@register
class MultiHeadSelfAttention(keras.layers.Layer):
    """Scaled dot-product multi-head self-attention with residual, dropout and layer norm.

    Paper-specified (Vaswani et al. 2017, post-norm): ``LayerNorm(x + Dropout(MHA(x, x)))``
    using ``keras.layers.MultiHeadAttention`` (``W_Q, W_K, W_V, W_O``: ``4 d^2 + 4 d``
    parameters for d = model dim, independent of the head count). Padding keys get zero
    weight; padded query rows are returned but carry no meaning.

    Returns ``(sequence, scores)`` with scores of shape (batch, heads, time, time).

    Args:
        num_heads: int. Number of heads; the per-head size is ``dim // num_heads``.
        dropout: float. Dropout on the attention weights and the block output.

    Example:
        >>> seq, scores = MultiHeadSelfAttention(num_heads=2)(keras.ops.ones((2, 5, 8)))
        >>> tuple(seq.shape), tuple(scores.shape)
        ((2, 5, 8), (2, 2, 5, 5))
    """

    def __init__(self, num_heads: int, dropout: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        if num_heads <= 0:
            raise ValueError(f"num_heads must be positive, got {num_heads}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.num_heads = num_heads
        self.dropout = dropout
        self.supports_masking = True

    def build(self, input_shape) -> None:
        dim = input_shape[-1]
        if dim % self.num_heads:
            raise ValueError(
                f"the input dim {dim} must be divisible by num_heads={self.num_heads}"
            )
        self.attention = keras.layers.MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=dim // self.num_heads,
            dropout=self.dropout,
            dtype=self.dtype_policy,
            name="attention",
        )
        self.attention.build(input_shape, input_shape)
        self.output_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.norm = keras.layers.LayerNormalization(dtype=self.dtype_policy, name="norm")
        self.norm.build(input_shape)

    def call(self, inputs, mask=None, training=None):
        attention_mask = None
        if mask is not None:
            attention_mask = ops.logical_and(ops.expand_dims(mask, 1), ops.expand_dims(mask, 2))
        attended, scores = self.attention(
            inputs,
            inputs,
            attention_mask=attention_mask,
            return_attention_scores=True,
            training=training,
        )
        if mask is not None:
            # Padded query rows would otherwise hold a uniform distribution over nothing.
            scores = scores * ops.cast(ops.expand_dims(ops.expand_dims(mask, 1), -1), scores.dtype)
        output = self.norm(inputs + self.output_dropout(attended, training=training))
        return output, scores

    def compute_output_shape(self, input_shape):
        batch, time, _ = input_shape
        return input_shape, (batch, self.num_heads, time, time)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"num_heads": self.num_heads, "dropout": self.dropout})
        return config
