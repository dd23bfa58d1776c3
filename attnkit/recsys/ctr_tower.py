"""The CTR prediction tower of DIN/DARE: BatchNorm -> Dense -> PReLU -> ... -> 2 logits."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from attnkit.layers.export import register
from attnkit.recsys.initializers import initializer


@register
class CTRTower(keras.layers.Layer):
    """``BatchNorm(in) -> [Dense(h) -> PReLU]* -> Dense(2)``: two-class logits (no click, click).

    Paper-specified (DARE code, ``main_mlp``: hidden 200 and 80; ``auxiliary_mlp``: hidden 200):
    PReLU with one shared slope (initial 0.1), L2 on every non-bias weight (kernels,
    BatchNorm scale, PReLU slope). Library choices: the BatchNorm momentum defaults to
    PyTorch's (0.1 new / 0.9 kept) and epsilon 1e-5; ``call(..., batch_statistics=True)``
    normalises with the batch's own statistics even at inference, like the official code.

    Args:
        input_dim: int. Width of the input features.
        hidden_units: sequence of int. Hidden layer widths.
        init: ``"official"`` or ``"standard"`` (see :mod:`attnkit.recsys.initializers`).
        l2: float. L2 coefficient on non-bias weights (added to the loss).
        batchnorm_momentum: float. Keras-style momentum of the moving statistics.

    Example:
        >>> tower = CTRTower(6, (4, 3))
        >>> tuple(tower(keras.ops.ones((5, 6))).shape)
        (5, 2)
    """

    def __init__(
        self,
        input_dim: int,
        hidden_units: Sequence[int] = (200, 80),
        init: str = "official",
        l2: float = 1e-6,
        batchnorm_momentum: float = 0.9,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if input_dim <= 0 or any(units <= 0 for units in hidden_units):
            raise ValueError(f"dimensions must be positive, got {input_dim} and {hidden_units}")
        self.input_dim = input_dim
        self.hidden_units = tuple(int(units) for units in hidden_units)
        self.init = init
        self.l2 = l2
        self.batchnorm_momentum = batchnorm_momentum
        regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
        self.norm = keras.layers.BatchNormalization(
            momentum=batchnorm_momentum, epsilon=1e-5, gamma_initializer=initializer(init, "gamma"),
            gamma_regularizer=regularizer, name="batch_norm",
        )
        self.dense_layers = []
        self.activations = []
        width = input_dim
        for index, units in enumerate((*self.hidden_units, 2)):
            self.dense_layers.append(keras.layers.Dense(
                units, kernel_initializer=initializer(init, "kernel"),
                bias_initializer=initializer(init, "bias", fan_in=width),
                kernel_regularizer=regularizer, name=f"dense_{index}",
            ))
            if index < len(self.hidden_units):
                self.activations.append(keras.layers.PReLU(
                    alpha_initializer=initializer(init, "alpha"), alpha_regularizer=regularizer,
                    shared_axes=[1], name=f"prelu_{index}",
                ))
            width = units
        self.build((None, input_dim))

    def build(self, input_shape=None) -> None:
        self.norm.build((None, self.input_dim))
        width = self.input_dim
        for index, dense in enumerate(self.dense_layers):
            dense.build((None, width))
            width = dense.units
            if index < len(self.activations):
                self.activations[index].build((None, width))
        self.built = True

    def call(self, features, training: bool = False, batch_statistics: bool = False):
        hidden = self.norm(features, training=training or batch_statistics)
        for index, dense in enumerate(self.dense_layers):
            hidden = dense(hidden)
            if index < len(self.activations):
                hidden = self.activations[index](hidden)
        return hidden

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "input_dim": self.input_dim,
            "hidden_units": list(self.hidden_units),
            "init": self.init,
            "l2": self.l2,
            "batchnorm_momentum": self.batchnorm_momentum,
        })
        return config
