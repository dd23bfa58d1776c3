"""One seeding helper for every pipeline.

Example:
    >>> import attnkit
    >>> attnkit.seed_everything(7)
    {'seed': 7, 'deterministic': False}
"""

from __future__ import annotations

import os


def seed_everything(seed: int, deterministic: bool = False) -> dict[str, int | bool]:
    """Seed Python, NumPy, torch and Keras' global seed generator.

    With ``deterministic=True`` torch is also asked for deterministic kernels (slower on
    GPU; Keras never sets these flags itself). Returns what was set, for logging.
    """
    import keras
    import torch

    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    os.environ["PYTHONHASHSEED"] = str(seed)
    keras.utils.set_random_seed(seed)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return {"seed": seed, "deterministic": deterministic}
