"""Small layers of the ABSA models: sentence masks and position weights, TNet's
context-preserving transformation (CPT-AS) and the aspect query of TNet-ATT."""

from __future__ import annotations

import keras
from keras import ops

from attnkit.layers.export import register
from attnkit.layers.masking import masked_softmax


@register
class AspectPositions(keras.layers.Layer):
    """``(ids (B, n), positions (B, 3))`` -> ``(sentence mask (B, n), position weights (B, n))``.

    ``positions`` holds the first and last aspect token and the sentence length. The mask
    covers the real tokens (an erased word, id 0 inside the sentence, stays inside it). TNet's
    position weight is ``1 - d/limit`` for ``d <= limit`` and 0 beyond and on padding, with
    ``d = last - i`` left of the aspect (distance to its *right* end, as in the TNet code)
    and ``d = i - first`` from the aspect on.

    Example:
        >>> mask, weights = AspectPositions(limit=4)(ops.ones((1, 5)), ops.array([[1, 1, 4]]))
        >>> ops.convert_to_numpy(weights).round(2).tolist()
        [[0.75, 1.0, 0.75, 0.5, 0.0]]
    """

    def __init__(self, limit: float = 40.0, **kwargs) -> None:
        super().__init__(**kwargs)
        if limit <= 0:
            raise ValueError(f"limit must be positive, got {limit}")
        self.limit = float(limit)

    def call(self, ids, positions):
        steps = ops.cast(ops.arange(ops.shape(ids)[1]), "float32")[None, :]
        positions = ops.cast(positions, "float32")
        first, last, length = positions[:, 0:1], positions[:, 1:2], positions[:, 2:3]
        mask = ops.cast(steps < length, "float32")
        distance = ops.where(steps < first, last - steps, steps - first)
        weights = ops.where(distance <= self.limit, 1.0 - distance / self.limit, 0.0)
        return mask, weights * mask

    def compute_output_shape(self, ids_shape, positions_shape):
        return tuple(ids_shape), tuple(ids_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "limit": self.limit}


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


@register
class AspectQuery(keras.layers.Layer):
    """The TNet-ATT query: the aspect BiLSTM's last forward state and first backward state,
    ``(B, m, 2u), mask (B, m) -> (B, 2u)``.

    Example:
        >>> states = ops.reshape(ops.arange(12.0), (1, 3, 4))
        >>> ops.convert_to_numpy(AspectQuery()(states, ops.array([[1, 1, 0]]))).tolist()
        [[4.0, 5.0, 2.0, 3.0]]
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True  # the mask is an explicit argument

    def compute_mask(self, *args, **kwargs):
        return None

    def call(self, states, aspect_mask):
        units = ops.shape(states)[-1] // 2
        last = ops.maximum(ops.sum(ops.cast(aspect_mask, "int32"), axis=1) - 1, 0)
        forward = ops.take_along_axis(states[..., :units], last[:, None, None], axis=1)[:, 0]
        return ops.concatenate([forward, states[:, 0, units:]], axis=-1)

    def compute_output_shape(self, states_shape, aspect_mask_shape):
        return (states_shape[0], states_shape[-1])
