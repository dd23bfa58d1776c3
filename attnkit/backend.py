"""Select the Keras backend before Keras is imported, and report the compute device.

attnkit runs Keras 3 on PyTorch. Importing attnkit sets ``KERAS_BACKEND=torch`` unless the
user already chose a backend; any backend other than torch is refused, because several
layers call fused torch kernels.

Example:
    >>> import attnkit
    >>> attnkit.backend.device_name() in {"cpu", "cuda", "mps"}
    True
"""

from __future__ import annotations

import os
import sys

REQUIRED_BACKEND = "torch"


class BackendError(ImportError):
    """Keras is configured for a backend other than torch."""


def ensure_torch_backend() -> None:
    """Make Keras use torch, or raise :class:`BackendError` with what to change."""
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen is None:
        os.environ["KERAS_BACKEND"] = REQUIRED_BACKEND
    elif chosen != REQUIRED_BACKEND:
        raise BackendError(
            f"attnkit needs the torch Keras backend, but KERAS_BACKEND={chosen!r}. "
            f"Unset it or set KERAS_BACKEND={REQUIRED_BACKEND} before importing attnkit."
        )
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != REQUIRED_BACKEND:
            raise BackendError(
                f"keras was imported with the {keras.backend.backend()!r} backend before "
                "attnkit; import attnkit first or set KERAS_BACKEND=torch."
            )


def device_name() -> str:
    """The device Keras places variables on: ``"cuda"``, ``"mps"`` or ``"cpu"``."""
    from keras.src.backend.torch.core import get_device

    return str(get_device()).split(":")[0]


def device_description() -> str:
    """A human-readable device description, e.g. ``"cuda:0 (NVIDIA H100)"`` or ``"cpu (2 threads)"``."""
    import torch

    name = device_name()
    if name == "cuda":
        return f"cuda:{torch.cuda.current_device()} ({torch.cuda.get_device_name()})"
    return f"{name} ({torch.get_num_threads()} threads)"
