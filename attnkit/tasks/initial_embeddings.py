"""A word-level model's first embedding table: a BERT checkpoint's input embeddings
(``preprocess.pretrained``) or pretrained word vectors (``preprocess.word_vectors``).

Example:
    >>> import keras, numpy as np
    >>> table = keras.layers.Embedding(3, 2)
    >>> table.build((None,))
    >>> assign_tables([table], np.ones((3, 2), "float32"), "word vectors")
    >>> keras.ops.convert_to_numpy(table.embeddings).sum()
    6.0
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import keras
import numpy as np

from attnkit.data.pretrained import load_word_embeddings, resolve_checkpoint
from attnkit.errors import ConfigError


def initial_table(preprocessor: Any, recipe: Mapping[str, Any]) -> tuple[np.ndarray, str] | None:
    """The initial (vocabulary, dimension) table and what it is, or None (trained from
    scratch). Word vectors print how many of the vocabulary's words they cover."""
    pretrained = recipe["preprocess"].get("pretrained")
    if pretrained:
        return load_word_embeddings(resolve_checkpoint(pretrained)), "pretrained embeddings"
    source = getattr(preprocessor, "word_vectors", None)
    if source is None:
        return None
    table, found = source.table(preprocessor.tokenizer, preprocessor.vectors)
    print(f"[attnkit] word vectors {source.path}: {found:,} of {len(table):,} vocabulary words "
          f"found; the others start at random", flush=True)
    return table, "word vectors"


def assign_tables(tables: Iterable[keras.layers.Embedding], matrix: np.ndarray, what: str) -> None:
    """Copy ``matrix`` into every table, after checking that the shapes agree."""
    for table in tables:
        if tuple(table.embeddings.shape) != matrix.shape:
            raise ConfigError(
                f"model.embedding_dim={table.embeddings.shape[1]} does not match the {what} "
                f"{matrix.shape}: set model.embedding_dim={matrix.shape[1]}"
            )
        table.embeddings.assign(matrix)
