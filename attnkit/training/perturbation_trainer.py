"""A ``keras.Model`` wrapper whose torch ``train_step`` minimises a strategy's loss terms.

The wrapper holds the task model (``inner``) and delegates ``call`` to it, so evaluation,
prediction and checkpoints see the same weights; only training differs. The strategy's
``loss_terms`` returns a dict whose ``"loss"`` entry is the total that is back-propagated
(once) and shown in the progress bar; the other entries are shown and logged as means.

Unlabelled batches (VAT/iVAT) travel inside the inputs under :data:`UNLABELLED_KEY`.
"""

from __future__ import annotations

from typing import Any

import keras
import torch
from keras import ops

from attnkit.data.interleaved import UNLABELLED_KEY


def split_unlabelled(inputs: Any) -> tuple[Any, Any]:
    """``(labelled inputs, unlabelled inputs or None)`` from a training batch's inputs."""
    if isinstance(inputs, dict) and UNLABELLED_KEY in inputs:
        rest = {key: value for key, value in inputs.items() if key != UNLABELLED_KEY}
        return rest, inputs[UNLABELLED_KEY]
    return inputs, None


def concat_inputs(first: Any, second: Any) -> Any:
    """Stack two input batches along the batch axis, zero-padding sequence axes to match."""
    if isinstance(first, dict):
        return {key: concat_inputs(first[key], second[key]) for key in first}
    first = ops.convert_to_tensor(first)
    second = ops.convert_to_tensor(second)
    if len(first.shape) >= 2 and first.shape[1] != second.shape[1]:
        length = max(first.shape[1], second.shape[1])
        first = _pad_axis1(first, length)
        second = _pad_axis1(second, length)
    return ops.concatenate([first, second], axis=0)


def _pad_axis1(values, length: int):
    widths = [[0, 0]] * len(values.shape)
    widths[1] = [0, length - values.shape[1]]
    return ops.pad(values, widths)


class PerturbationTrainer(keras.Model):
    """Trains ``inner`` with ``strategy.loss_terms``; never saved (the pipeline saves ``inner``).

    Example:
        >>> trainer = PerturbationTrainer(model, get_strategy("at", {}))  # doctest: +SKIP
        >>> trainer.compile(optimizer="adam", loss=task.loss())  # doctest: +SKIP
    """

    def __init__(self, inner: keras.Model, strategy: Any) -> None:
        super().__init__(name=f"{strategy.name}_trainer")
        self.inner = inner
        self.strategy = strategy
        self.term_trackers = {
            name: keras.metrics.Mean(name=name) for name in strategy.term_names
        }
        self.built = True

    def call(self, inputs, training: bool = False):
        labelled, _ = split_unlabelled(inputs)
        return self.inner(labelled, training=training)

    def task_loss(self, x, y, y_pred):
        """The compiled task loss (plus any losses the layers added) of one prediction."""
        return self.compute_loss(x=x, y=y, y_pred=y_pred)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is not None:
            raise ValueError(f"{self.strategy.name} training does not support sample weights")
        labelled, unlabelled = split_unlabelled(x)
        self.zero_grad()
        terms, y_pred = self.strategy.loss_terms(self, labelled, y, unlabelled)
        total = terms["loss"]
        self.optimizer.scale_loss(total).backward()
        trainable = self.trainable_weights
        gradients = [variable.value.grad for variable in trainable]
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable)
        return self._update_metrics(terms, y, y_pred)

    def _update_metrics(self, terms: dict, y, y_pred) -> dict:
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(terms["loss"].detach())
            elif metric.name in self.term_trackers:
                metric.update_state(terms[metric.name].detach())
            else:
                metric.update_state(y, y_pred)
        return self.get_metrics_result()
