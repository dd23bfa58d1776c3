"""LAMA: low-rank factorised multi-head self-attention with a global context vector."""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import ops

from attnkit.layers.export import register
from attnkit.layers.masking import masked_mean, masked_softmax


@register
class LowRankMultiHeadAttention(keras.layers.Layer):
    """LAMA (Mehta, Rangwala & Ramakrishnan, arXiv 1912.00835), spec ``lowrank-mhsa.md``.

    For tokens ``h_t`` (dim d) and m heads:

    - ``u_t = tanh(W h_t + b)`` (the per-token MLP; paper figure, form [I]; optional),
    - ``c~ = P^T c`` and ``u~_t = Q^T u_t`` with ``P, Q`` of shape (d, m) (paper-specified),
    - ``f_t = l2_normalize(tanh(c~ * u~_t))`` over the m heads (paper figure),
    - ``A = softmax_t(f)`` per head, masked (library choice per spec §3.1: the figure does
      not draw it; it makes each head's row a distribution),
    - ``S = A H`` (m, d), the structured sentence embedding, returned flattened (m*d).

    Head k scores ``c^T (p_k q_k^T) u_t``: a rank-1 bilinear form, so all heads cost
    ``2 d m`` parameters (+ d for a learned c, + d^2 + d for the token MLP).
    ``context="learned"`` makes c a parameter; ``"mean"`` uses the masked mean of ``h``.
    ``penalty > 0`` adds Lin et al.'s ``penalty * ||A A^T - I||_F^2`` (default off, [NF]).

    Returns ``(S_flat, A)`` with ``A`` of shape (batch, heads, time).

    Example:
        >>> flat, attention = LowRankMultiHeadAttention(num_heads=4)(keras.ops.ones((2, 5, 6)))
        >>> tuple(flat.shape), tuple(attention.shape)
        ((2, 24), (2, 4, 5))
    """

    CONTEXTS = ("learned", "mean")

    def __init__(
        self,
        num_heads: int,
        context: str = "learned",
        token_mlp: bool = True,
        penalty: float = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if num_heads <= 0:
            raise ValueError(f"num_heads must be positive, got {num_heads}")
        if context not in self.CONTEXTS:
            raise ValueError(f"context must be one of {self.CONTEXTS}, got {context!r}")
        if penalty < 0:
            raise ValueError(f"penalty must be >= 0, got {penalty}")
        self.num_heads = num_heads
        self.context = context
        self.token_mlp = token_mlp
        self.penalty = penalty
        self.supports_masking = True
        self.logits_hook: Callable | None = None

    def build(self, input_shape) -> None:
        dim = input_shape[-1]
        if self.token_mlp:
            self.token_kernel = self.add_weight(
                name="token_kernel", shape=(dim, dim), initializer="glorot_uniform"
            )
            self.token_bias = self.add_weight(name="token_bias", shape=(dim,), initializer="zeros")
        if self.context == "learned":
            self.context_vector = self.add_weight(
                name="context_vector", shape=(dim,), initializer="random_normal"
            )
        self.context_projection = self.add_weight(
            name="context_projection", shape=(dim, self.num_heads), initializer="glorot_uniform"
        )
        self.token_projection = self.add_weight(
            name="token_projection", shape=(dim, self.num_heads), initializer="glorot_uniform"
        )

    def call(self, inputs, mask=None, logits_perturbation=None):
        tokens = inputs
        if self.token_mlp:
            tokens = ops.tanh(ops.matmul(inputs, self.token_kernel) + self.token_bias)
        if self.context == "learned":
            context = ops.expand_dims(self.context_vector, 0)
        else:
            context = masked_mean(inputs, mask, axis=1)
        context_heads = ops.matmul(context, self.context_projection)  # (batch|1, m)
        token_heads = ops.matmul(tokens, self.token_projection)  # (batch, time, m)
        scores = ops.tanh(ops.expand_dims(context_heads, 1) * token_heads)
        # eps inside the sqrt: at a zero vector (padding, or an all-zero context) sqrt's
        # gradient is infinite and clipping after it would still give NaN gradients.
        scores = scores / ops.sqrt(
            ops.sum(ops.square(scores), axis=-1, keepdims=True) + keras.config.epsilon()
        )
        logits = ops.transpose(scores, (0, 2, 1))  # (batch, m, time)
        if logits_perturbation is not None:
            logits = logits + logits_perturbation
        head_mask = None if mask is None else ops.expand_dims(mask, 1)
        if self.logits_hook is not None:
            logits = self.logits_hook(logits, head_mask)
        attention = masked_softmax(logits, head_mask, axis=-1)
        structured = ops.matmul(attention, inputs)  # (batch, m, d)
        if self.penalty > 0:
            gram = ops.matmul(attention, ops.transpose(attention, (0, 2, 1)))
            identity = ops.eye(self.num_heads, dtype=gram.dtype)
            self.add_loss(self.penalty * ops.mean(ops.sum(ops.square(gram - identity), axis=(1, 2))))
        flat = ops.reshape(structured, (-1, self.num_heads * inputs.shape[-1]))
        return flat, attention

    def compute_output_shape(self, input_shape):
        batch, time, dim = input_shape
        return (batch, self.num_heads * dim), (batch, self.num_heads, time)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "context": self.context,
                "token_mlp": self.token_mlp,
                "penalty": self.penalty,
            }
        )
        return config
