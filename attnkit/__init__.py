"""attnkit: published attention models for NLP and recommendation, on Keras 3 + PyTorch.

Importing attnkit selects the torch Keras backend (see :mod:`attnkit.backend`).

Example:
    >>> import attnkit
    >>> result = attnkit.fit("sample-lama", data="data/sample")  # doctest: +SKIP
    >>> attnkit.predict(result.model_uri, ["a lovely, warm film"])  # doctest: +SKIP
"""

from attnkit.backend import ensure_torch_backend

ensure_torch_backend()

from attnkit import layers  # noqa: E402  (registers every layer for .keras loading)
from attnkit.seeding import seed_everything  # noqa: E402
from attnkit.tasks.registry import load_task_modules  # noqa: E402

# Registers every task model too, so `keras.saving.load_model` works after `import attnkit`.
load_task_modules()

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "evaluate",
    "explain",
    "fit",
    "layers",
    "load_model",
    "predict",
    "seed_everything",
]


def __getattr__(name: str):
    # The pipelines import MLflow, which is slow; load them only when asked for.
    if name in {"fit", "predict", "evaluate", "explain", "load_model"}:
        from attnkit import pipelines

        return getattr(pipelines, name)
    raise AttributeError(f"module 'attnkit' has no attribute {name!r}")
