"""TNet's context-preserving transformation with adaptive scaling (CPT-AS)."""

from __future__ import annotations

import keras
from keras import ops

from attnkit.layers.export import register
from attnkit.layers.masking import masked_softmax


@register
class ContextPreservingTransformation(keras.layers.Layer):
    """TNet's CPT with adaptive scaling (CPT-AS), one application.

    For each position i: ``r_i = sum_j softmax_j(h_i . t_j) t_j`` over the aspect states
    ``t``; ``h~_i = tanh(W_t [h_i; r_i] + b_t)``; gate ``g_i = hard_sigmoid(W_g h_i + b_g)``;
    ``h_i <- (g_i * h~_i + (1 - g_i) * h_i) * pw_i``. Call it twice to share the weights, as
    TNet does. Library choice: padded aspect positions are masked out of the softmax.

    Example:
        >>> layer = ContextPreservingTransformation(units=6)
        >>> out = layer(ops.ones((2, 5, 6)), ops.ones((2, 3, 6)), ops.ones((2, 3)), ops.ones((2, 5)))
        >>> tuple(out.shape)
        (2, 5, 6)
    """

    def __init__(self, units: int, **kwargs) -> None:
        super().__init__(**kwargs)
        if units <= 0:
            raise ValueError(f"units must be positive, got {units}")
        self.units = units
        self.supports_masking = True  # masks travel as explicit arguments
        uniform = keras.initializers.RandomUniform(-0.01, 0.01)  # TNet's init
        self.transform = keras.layers.Dense(units, activation="tanh", kernel_initializer=uniform,
                                            name="transform")
        self.gate = keras.layers.Dense(units, activation="hard_sigmoid",
                                       kernel_initializer=uniform, name="gate")

    def build(self, sentence_shape, *args) -> None:
        if sentence_shape[-1] != self.units:
            raise ValueError(f"expected {self.units}-d states, got {sentence_shape[-1]}")
        self.transform.build((None, None, 2 * self.units))
        self.gate.build((None, None, self.units))

    def compute_mask(self, *args, **kwargs):
        return None

    def call(self, sentence, aspect, aspect_mask, position_weights):
        scores = ops.einsum("bnd,bmd->bnm", sentence, aspect)
        weights = masked_softmax(scores, ops.expand_dims(ops.cast(aspect_mask, "bool"), 1))
        summary = ops.einsum("bnm,bmd->bnd", weights, aspect)
        transformed = self.transform(ops.concatenate([sentence, summary], axis=-1))
        gate = self.gate(sentence)
        mixed = gate * transformed + (1.0 - gate) * sentence
        return mixed * ops.expand_dims(position_weights, -1)

    def compute_output_shape(self, sentence_shape, *args):
        return tuple(sentence_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units}
