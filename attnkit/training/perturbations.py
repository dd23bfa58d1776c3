"""Perturbation directions for attention logits (Kitada & Iyatomi; Sato et al. 2018; Miyato et al.).

All functions take tensors whose first axis is the batch and whose other axes (tokens, or
heads x tokens) form one example's logits; ``mask`` is a float tensor of the same shape, 1 on
real tokens. Norms are L2 per example over real tokens only, so padding always gets zero.

Example:
    >>> import numpy as np
    >>> g = keras.ops.convert_to_tensor(np.array([[3.0, 4.0, 9.0]]))
    >>> m = keras.ops.convert_to_tensor(np.array([[1.0, 1.0, 0.0]]))
    >>> keras.ops.convert_to_numpy(scaled_direction(g, m, 10.0)).round(3).tolist()
    [[6.0, 8.0, 0.0]]
"""

from __future__ import annotations

import keras
from keras import ops

TINY = 1e-12


def _flat(values):
    return ops.reshape(values, (ops.shape(values)[0], -1))


def per_example_norm(values, mask):
    """L2 norm of each example's masked values, shaped to broadcast back over ``values``."""
    flat = _flat(values * mask)
    norm = ops.sqrt(ops.sum(ops.square(flat), axis=1))
    return ops.reshape(norm, (-1,) + (1,) * (len(values.shape) - 1))


def scaled_direction(values, mask, epsilon: float):
    """``epsilon * v / ||v||`` per example, zero on padding (zero where ``v`` is zero)."""
    masked = values * mask
    return epsilon * masked / (per_example_norm(values, mask) + TINY)


def random_unit_direction(mask, seed: keras.random.SeedGenerator | None = None):
    """A Gaussian direction with unit norm per example over real tokens (VAT's ``d``)."""
    noise = keras.random.normal(ops.shape(mask), dtype=mask.dtype, seed=seed)
    return scaled_direction(noise, mask, 1.0)


def difference_directions(logits, mask):
    """Unit directions from each example's logits toward every other example's (B, B, K).

    ``D_ij = (l_j - l_i)`` on the tokens real in both examples, normalised over tokens;
    ``D_ii = 0``. Logits are flattened over their non-batch axes (K of them).
    """
    flat_logits = _flat(ops.stop_gradient(logits))
    flat_mask = _flat(mask)
    both = ops.expand_dims(flat_mask, 1) * ops.expand_dims(flat_mask, 0)  # (i, j, K)
    differences = (ops.expand_dims(flat_logits, 0) - ops.expand_dims(flat_logits, 1)) * both
    norm = ops.sqrt(ops.sum(ops.square(differences), axis=-1, keepdims=True))
    return differences / (norm + TINY)


def interpretable_direction(gradient, logits, mask, epsilon: float):
    """iAT/iVAT: the steepest-ascent mix of the directions toward the other examples.

    Sato et al.'s construction with one coefficient per pair: ``g_ij = <grad_i, D_ij>`` is
    the gradient of the loss with respect to the coefficient of ``D_ij`` (at any point, since
    the perturbation is linear in the coefficients), the coefficients are ``g_ij / ||g_i||``,
    and ``r_i = epsilon * normalise(sum_j a_ij D_ij)``. A batch of one has no directions and
    gives zero.
    """
    directions = difference_directions(logits, mask)  # (B, B, K)
    flat_gradient = _flat(gradient * mask)
    coefficient_grads = ops.sum(directions * ops.expand_dims(flat_gradient, 1), axis=-1)
    coefficients = coefficient_grads / (
        ops.sqrt(ops.sum(ops.square(coefficient_grads), axis=1, keepdims=True)) + TINY
    )
    mixed = ops.sum(directions * ops.expand_dims(coefficients, -1), axis=1)  # (B, K)
    return scaled_direction(ops.reshape(mixed, ops.shape(logits)), mask, epsilon)


def uniform_difference_direction(logits, mask):
    """iVAT's starting direction: the normalised uniform mix ``sum_j D_ij / (B - 1)``."""
    directions = difference_directions(logits, mask)
    mixed = ops.reshape(ops.mean(directions, axis=1), ops.shape(logits))
    return scaled_direction(mixed, mask, 1.0)


def categorical_kl(reference, predicted):
    """Mean ``KL(p || q)`` over the batch for probability outputs.

    A last axis of size 1 (or no class axis) is read as Bernoulli probabilities.
    """
    if len(reference.shape) == 1 or reference.shape[-1] == 1:
        reference = ops.reshape(reference, (-1, 1))
        predicted = ops.reshape(predicted, (-1, 1))
        reference = ops.concatenate([1.0 - reference, reference], axis=-1)
        predicted = ops.concatenate([1.0 - predicted, predicted], axis=-1)
    epsilon = keras.config.epsilon()
    reference = ops.clip(reference, epsilon, 1.0)
    predicted = ops.clip(predicted, epsilon, 1.0)
    return ops.mean(ops.sum(reference * (ops.log(reference) - ops.log(predicted)), axis=-1))
