"""Weight initialisation schemes of the long-sequence CTR models.

``"official"`` reproduces the DARE code (thuml/DARE ``train_pytorch.py``): every non-bias
weight, embeddings, BatchNorm scales and PReLU slopes included, is drawn from N(0, 0.01), and
biases keep PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)). ``"standard"`` is the Keras
default (Glorot-uniform kernels, zero biases, BatchNorm scale 1, PReLU slope 0.1, embeddings
U(-0.05, 0.05)).

Example:
    >>> type(initializer("official", "kernel")).__name__
    'RandomNormal'
"""

from __future__ import annotations

import math

import keras

INITS = ("official", "standard")
ROLES = ("embedding", "kernel", "bias", "gamma", "alpha")


def initializer(scheme: str, role: str, fan_in: int = 1) -> keras.initializers.Initializer:
    """The initializer of one kind of weight (``role``) under ``scheme``."""
    if scheme not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {scheme!r}")
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    if scheme == "official":
        if role == "bias":
            bound = 1.0 / math.sqrt(max(fan_in, 1))
            return keras.initializers.RandomUniform(-bound, bound)
        return keras.initializers.RandomNormal(mean=0.0, stddev=0.01)
    return {
        "embedding": keras.initializers.RandomUniform(-0.05, 0.05),
        "kernel": keras.initializers.GlorotUniform(),
        "bias": keras.initializers.Zeros(),
        "gamma": keras.initializers.Ones(),
        "alpha": keras.initializers.Constant(0.1),
    }[role]
