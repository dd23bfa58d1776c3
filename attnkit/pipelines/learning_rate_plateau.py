"""Cut the learning rate when the dev metric stops improving (``training.reduce_lr_factor``).

A constant rate with early stopping ends wherever the dev metric last peaked, often after a
noisy step; lowering the rate once the metric stalls lets the model settle into the basin it
found instead. Keras's own ``ReduceLROnPlateau`` keeps its counters in the callback, so they
would restart on a resumed run; this one keeps them in ``fit``'s resumable state, and the rate
itself is an optimizer variable that the checkpoint already saves.

Example:
    >>> import keras
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    >>> cut = ReduceLearningRateOnPlateau("dev_accuracy", "max", factor=0.5, patience=1,
    ...                                   min_learning_rate=0.0, state={}, say=lambda _: None)
    >>> cut.set_model(model)
    >>> for epoch, accuracy in enumerate([0.7, 0.8, 0.79]):
    ...     cut.on_epoch_end(epoch, {"dev_accuracy": accuracy})
    >>> round(float(model.optimizer.learning_rate), 6)
    0.0005
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from attnkit.errors import ConfigError
from attnkit.pipelines.callbacks import beats


class ReduceLearningRateOnPlateau(keras.callbacks.Callback):
    """Multiply the optimizer's learning rate by ``factor`` after ``patience`` epochs in which
    ``monitor`` did not beat its best, never going below ``min_learning_rate``.

    ``state`` (``fit``'s resumable dict) keeps ``lr_best`` and ``lr_wait``. The callback must
    run after the dev scoring and before :class:`CheckpointAndEarlyStop`, so that an epoch's
    checkpoint holds the rate that the next epoch uses. It adds ``learning_rate`` (the rate for
    the next epoch) to the epoch logs. With ``encoder_learning_rate`` the encoder's rate keeps
    its ratio to the main one, so it is cut by the same factor.
    """

    def __init__(
        self,
        monitor: str,
        mode: str,
        factor: float,
        patience: int,
        min_learning_rate: float,
        state: dict[str, Any],
        say: Callable[[str], None] = print,
    ) -> None:
        super().__init__()
        check_plateau_settings(factor, patience, min_learning_rate)
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.monitor = monitor
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.min_learning_rate = min_learning_rate
        self.state = state
        self.say = say

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        if self.monitor not in logs:
            raise KeyError(f"monitor {self.monitor!r} is not among the epoch metrics {sorted(logs)}")
        optimizer = self.model.optimizer
        rate = float(optimizer.learning_rate)
        value = float(logs[self.monitor])
        if beats(value, self.state.get("lr_best"), self.mode):
            self.state.update(lr_best=value, lr_wait=0)
        else:
            self.state["lr_wait"] = self.state.get("lr_wait", 0) + 1
            if self.state["lr_wait"] >= self.patience:
                self.state["lr_wait"] = 0
                cut = max(rate * self.factor, self.min_learning_rate)
                if cut < rate:
                    optimizer.learning_rate = cut
                    self.say(
                        f"{self.monitor} has not improved for {self.patience} epoch"
                        f"{'s' * (self.patience != 1)}: learning rate {rate:.3g} -> {cut:.3g}"
                    )
                    rate = cut
        logs["learning_rate"] = rate


def check_plateau_settings(factor: float, patience: int, min_learning_rate: float) -> None:
    """Raise :class:`ConfigError` naming the recipe field that is out of range."""
    if not 0 < factor < 1:
        raise ConfigError(
            f"training.reduce_lr_factor must be between 0 and 1 (0 turns the cut off), got {factor}"
        )
    if patience < 1:
        raise ConfigError(f"training.reduce_lr_patience must be >= 1 epoch, got {patience}")
    if min_learning_rate < 0:
        raise ConfigError(f"training.min_learning_rate must be >= 0, got {min_learning_rate}")
