"""DIN's learnable attention scorer, computed without materialising ``[q, k, q-k, q*k]``."""

from __future__ import annotations

import keras
from keras import ops

from attnkit.layers.export import register
from attnkit.recsys.initializers import initializer


@register
class DINAttentionScorer(keras.layers.Layer):
    """``score(q, k) = (w2 . PReLU(W1 [q; k; q-k; q*k] + b1) + b2) / dim``.

    Paper-specified (DIN, as in the DARE code's ``AttentionModel``: hidden 36, PReLU 0.1,
    scores divided by the vector width). Library choice: ``W1`` is applied block-wise,
    ``q (Wq + Wd) + k (Wk - Wd) + (q*k) Wp``, which is the same function but costs one
    per-target product and two per-behaviour products instead of one on a 4x wider input.

    Args:
        dim: int. Width of the query and key vectors.
        units: int. Hidden width.
        init, l2: as in :class:`attnkit.recsys.ctr_tower.CTRTower`.

    Example:
        >>> scorer = DINAttentionScorer(4, units=3)
        >>> tuple(scorer(keras.ops.ones((2, 4)), keras.ops.ones((2, 7, 4))).shape)
        (2, 7)
    """

    def __init__(self, dim: int, units: int = 36, init: str = "official", l2: float = 1e-6,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if dim <= 0 or units <= 0:
            raise ValueError(f"dim and units must be positive, got {dim}, {units}")
        self.dim = dim
        self.units = units
        self.init = init
        self.l2 = l2
        self.build()

    def build(self, input_shape=None, *args) -> None:
        if getattr(self, "kernel", None) is not None:
            return
        regularizer = keras.regularizers.L2(self.l2) if self.l2 > 0 else None
        self.kernel = self.add_weight(
            name="kernel", shape=(4 * self.dim, self.units),
            initializer=initializer(self.init, "kernel"), regularizer=regularizer)
        self.bias = self.add_weight(
            name="bias", shape=(self.units,),
            initializer=initializer(self.init, "bias", fan_in=4 * self.dim))
        self.alpha = self.add_weight(
            name="alpha", shape=(1,), initializer=initializer(self.init, "alpha"),
            regularizer=regularizer)
        self.output_kernel = self.add_weight(
            name="output_kernel", shape=(self.units, 1),
            initializer=initializer(self.init, "kernel"), regularizer=regularizer)
        self.output_bias = self.add_weight(
            name="output_bias", shape=(1,),
            initializer=initializer(self.init, "bias", fan_in=self.units))
        self.built = True

    def call(self, query, keys):
        """query (batch, dim), keys (batch, n, dim) -> scores (batch, n)."""
        d = self.dim
        w_q, w_k = self.kernel[:d], self.kernel[d : 2 * d]
        w_diff, w_prod = self.kernel[2 * d : 3 * d], self.kernel[3 * d :]
        per_target = ops.matmul(query, w_q + w_diff) + self.bias  # (batch, units)
        hidden = ops.matmul(keys, w_k - w_diff) + ops.matmul(keys * query[:, None, :], w_prod)
        hidden = hidden + per_target[:, None, :]
        hidden = ops.where(hidden > 0, hidden, hidden * self.alpha)
        scores = ops.matmul(hidden, self.output_kernel)[..., 0] + self.output_bias
        return scores / float(d)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"dim": self.dim, "units": self.units, "init": self.init, "l2": self.l2})
        return config
