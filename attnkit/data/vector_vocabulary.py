"""A word vocabulary for pretrained word vectors, and its initial embedding table.

The vocabulary is the training texts' words plus the ``limit`` most frequent words of the
vector file (so words first met at prediction time still get their vector; the table stays
frozen or is fine-tuned per recipe). The settings travel with the preprocessor, so the
table can be rebuilt from the same file when an interrupted run resumes.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.txt"
    >>> _ = path.write_text("the 0.1 0.2\\ngreat 0.5 -0.5\\nfood 1 2\\n")
    >>> source = VectorSource(str(path), limit=2)
    >>> tokenizer, vectors = source.fit_tokenizer(["The food"], vocab_size=100, min_frequency=1)
    >>> vocabulary(tokenizer)
    ['[PAD]', '[UNK]', 'food', 'the', 'great']
    >>> table, found = source.table(tokenizer, vectors)
    >>> table[0].tolist(), table[4].tolist(), found
    ([0.0, 0.0], [0.5, -0.5], 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from tokenizers import Tokenizer

from attnkit.data.tokenizers import train_word_tokenizer, vocabulary, word_tokenizer_from_tokens
from attnkit.data.word_vectors import WordVectors, embedding_matrix, read_word_vectors
from attnkit.errors import ConfigError


@dataclass(frozen=True)
class VectorSource:
    """Where the vectors come from (a file or an alias, see :mod:`attnkit.data.word_vectors`),
    how many of the file's most frequent words join the vocabulary, the case folding, and
    the seed of the random vectors of words the file lacks."""

    path: str
    limit: int = 50000
    lowercase: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.limit < 0:
            raise ConfigError(f"preprocess.word_vectors_limit must be >= 0, got {self.limit}")

    def fit_tokenizer(
        self, texts: Sequence[str], vocab_size: int, min_frequency: int
    ) -> tuple[Tokenizer, WordVectors]:
        """The training words (the ``vocab_size`` most frequent, seen ``min_frequency`` times)
        followed by the vector file's first ``limit`` words, and the vectors of them all."""
        trained = train_word_tokenizer(texts, vocab_size, min_frequency, self.lowercase)
        words = vocabulary(trained)
        vectors = read_word_vectors(self.path, wanted=set(words), limit=self.limit,
                                    lowercase=self.lowercase)
        known = set(words)
        splitter = trained.pre_tokenizer
        # Only words the tokenizer can produce whole are worth an id (not "e-mail" or "can't").
        extra = [word for word in vectors.words if word not in known
                 and [piece for piece, _ in splitter.pre_tokenize_str(word)] == [word]]
        return word_tokenizer_from_tokens(words + extra, self.lowercase), vectors

    def table(
        self, tokenizer: Tokenizer, vectors: WordVectors | None = None
    ) -> tuple[np.ndarray, int]:
        """The (vocabulary, dimension) initial table and how many words had a vector; the
        file is read again when ``vectors`` is not given (a resumed run)."""
        words = vocabulary(tokenizer)
        if vectors is None:
            vectors = read_word_vectors(self.path, wanted=set(words), lowercase=self.lowercase)
        return embedding_matrix(words, vectors, self.seed)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> VectorSource:
        return cls(**data)
