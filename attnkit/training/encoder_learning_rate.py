"""Optimizers that give a model's pretrained encoder its own (usually lower) learning rate.

Fine-tuning a BERT encoder at the rate that suits a freshly initialised LSTM and head (1e-3)
wrecks its pretrained weights within an epoch; the usual remedy is a second, smaller rate for
the encoder (e.g. 2e-5) while the rest trains at the recipe's rate. Keras optimizers have one
rate, so these subclasses scale it per variable: ``training.encoder_learning_rate`` in a recipe.

Example:
    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,), dtype="int32"),
    ...                           keras.layers.Embedding(5, 3), keras.layers.Dense(1)])
    >>> optimizer = encoder_rate_optimizer("adam", model, 1e-3, 1e-5)
    >>> optimizer.encoder_learning_rate, len(optimizer.encoder_paths)
    (1e-05, 1)
"""

from __future__ import annotations

from typing import Any

import keras

from attnkit.errors import ConfigError
from attnkit.layers.bert_encoder import BertEncoder


class _EncoderRate:
    """Mixin: variables whose path is in ``encoder_paths`` step at ``encoder_learning_rate``
    instead of ``learning_rate`` (a float: the ratio of the two is fixed at construction)."""

    def __init__(
        self,
        learning_rate: float,
        *,
        encoder_paths: list[str],
        encoder_learning_rate: float,
        **settings: Any,
    ) -> None:
        if not encoder_paths:
            raise ValueError("encoder_paths must name at least one variable")
        if not (encoder_learning_rate > 0 and float(learning_rate) > 0):
            raise ValueError(
                f"learning rates must be > 0, got {learning_rate} and {encoder_learning_rate}"
            )
        super().__init__(learning_rate=learning_rate, **settings)
        self.encoder_paths = sorted(encoder_paths)
        self.encoder_learning_rate = float(encoder_learning_rate)
        self._encoder_paths = frozenset(self.encoder_paths)
        self._encoder_ratio = self.encoder_learning_rate / float(learning_rate)

    def update_step(self, gradient, variable, learning_rate):
        if variable.path in self._encoder_paths:
            learning_rate = learning_rate * self._encoder_ratio
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "encoder_paths": self.encoder_paths,
                "encoder_learning_rate": self.encoder_learning_rate}  # fmt: skip


@keras.saving.register_keras_serializable(package="attnkit")
class EncoderRateAdam(_EncoderRate, keras.optimizers.Adam):
    """Adam with a separate learning rate for the variables named in ``encoder_paths``."""


@keras.saving.register_keras_serializable(package="attnkit")
class EncoderRateAdamW(_EncoderRate, keras.optimizers.AdamW):
    """AdamW with a separate learning rate for the variables named in ``encoder_paths``
    (weight decay stays tied to the base rate)."""


@keras.saving.register_keras_serializable(package="attnkit")
class EncoderRateSGD(_EncoderRate, keras.optimizers.SGD):
    """SGD with a separate learning rate for the variables named in ``encoder_paths``."""


_CLASSES = {"adam": EncoderRateAdam, "adamw": EncoderRateAdamW, "sgd": EncoderRateSGD}


def encoder_paths(model: keras.Model) -> list[str]:
    """Paths of the trainable variables of ``model``'s pretrained-encoder layers: every
    :class:`BertEncoder` and every ``keras.layers.Embedding`` (the word-embedding table)."""
    layers = [layer for layer in model._flatten_layers(include_self=False)
              if isinstance(layer, (BertEncoder, keras.layers.Embedding))]  # fmt: skip
    return sorted({variable.path for layer in layers for variable in layer.trainable_variables})


def encoder_rate_optimizer(
    name: str,
    model: keras.Model,
    learning_rate: float,
    encoder_learning_rate: float,
    **settings: Any,
) -> keras.optimizers.Optimizer:
    """``name`` (adam, adamw, sgd) stepping ``model``'s encoder variables (see
    :func:`encoder_paths`) at ``encoder_learning_rate`` and the rest at ``learning_rate``.

    Raises:
        ConfigError: no trainable encoder variable (frozen or absent), or a bad rate.
    """
    if name not in _CLASSES:
        raise ConfigError(f"training.optimizer must be one of {sorted(_CLASSES)}; got {name!r}")
    if not encoder_learning_rate > 0:
        raise ConfigError(
            f"training.encoder_learning_rate must be > 0 (0 = the learning rate for every "
            f"weight), got {encoder_learning_rate}"
        )
    paths = encoder_paths(model)
    if not paths:
        raise ConfigError(
            "training.encoder_learning_rate is set, but the model has no trainable encoder "
            "(BERT or embedding-table) weights: set model.freeze_embeddings = false to "
            "fine-tune them, or leave encoder_learning_rate at 0"
        )
    return _CLASSES[name](learning_rate=learning_rate, encoder_paths=paths,
                          encoder_learning_rate=encoder_learning_rate, **settings)  # fmt: skip
