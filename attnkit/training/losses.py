"""Losses for class-imbalanced training: the focal loss of Lin et al. (2017).

Example:
    >>> import numpy as np
    >>> loss = FocalLoss(alpha=-1.0, gamma=0.0)  # no class weighting, no focusing: cross-entropy
    >>> round(float(loss(np.array([1]), np.array([[0.2, 0.8]]))), 4)
    0.2231
"""

from __future__ import annotations

import keras
from keras import ops

from attnkit.layers.export import register

_EPSILON = 1e-7


@register
class FocalLoss(keras.losses.Loss):
    """Focal loss on class probabilities with integer targets (sparse, like
    ``SparseCategoricalCrossentropy``): ``FL = -alpha_t * (1 - p_t)^gamma * log(p_t)``.

    ``p_t`` is the probability given to the true class. ``gamma > 0`` down-weights examples
    the model already gets right (``p_t`` near 1), so training attends to hard and minority
    examples.

    Alpha handling: ``alpha`` in [0, 1] is the weight of ``positive_class`` and ``1 - alpha``
    the weight of every other class (Lin et al.'s alpha-balanced form; their default 0.25 with
    gamma 2 assumes a rare positive class). A negative ``alpha`` (the default) turns class
    weighting off (``alpha_t = 1``), so ``gamma = 0`` gives exactly the cross-entropy; with
    ``alpha`` in [0, 1] and ``gamma = 0`` it is the alpha-weighted cross-entropy.

    Args:
        alpha: weight of the positive class in [0, 1], or negative for no class weighting.
        gamma: focusing exponent (>= 0).
        positive_class: index of the class ``alpha`` weights; negative counts from the end
            (-1, the last class).
        from_logits: ``y_pred`` are logits rather than probabilities.

    Example:
        >>> import numpy as np
        >>> easy, hard = np.array([[0.05, 0.95]]), np.array([[0.6, 0.4]])
        >>> loss = FocalLoss(gamma=2.0)
        >>> float(loss(np.array([1]), easy)) < float(loss(np.array([1]), hard))
        True
    """

    def __init__(
        self,
        alpha: float = -1.0,
        gamma: float = 2.0,
        positive_class: int = 1,
        from_logits: bool = False,
        reduction: str = "sum_over_batch_size",
        name: str = "focal_loss",
        dtype: str | None = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if alpha > 1.0:
            raise ValueError(f"alpha must be in [0, 1] (or negative for none), got {alpha}")
        if gamma < 0.0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self.alpha = float(alpha)
        self.gamma = float(gamma)
        self.positive_class = int(positive_class)
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        num_classes = ops.shape(y_pred)[-1]
        y_true = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        one_hot = ops.one_hot(y_true, num_classes, dtype=y_pred.dtype)
        if self.from_logits:
            log_p = ops.log_softmax(y_pred, axis=-1)
        else:
            log_p = ops.log(ops.clip(y_pred, _EPSILON, 1.0 - _EPSILON))
        log_p_t = ops.sum(one_hot * log_p, axis=-1)
        loss = -log_p_t
        if self.gamma:
            p_t = ops.exp(log_p_t)
            loss = loss * ops.power(ops.maximum(1.0 - p_t, 0.0), self.gamma)
        if self.alpha >= 0.0:
            index = self.positive_class % num_classes  # -1 is the last class
            positive = ops.cast(ops.equal(y_true, index), y_pred.dtype)
            loss = loss * (self.alpha * positive + (1.0 - self.alpha) * (1.0 - positive))
        return loss

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "alpha": self.alpha,
                "gamma": self.gamma,
                "positive_class": self.positive_class,
                "from_logits": self.from_logits,
            }
        )
        return config
