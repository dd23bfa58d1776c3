"""Lexical overlap features of a text pair: what a paraphrase baseline is built on.

Per pair (a = source, b = suspicious), 30 numbers: overlap precision, recall and F1 of word
n-grams (n = 1..4) and character n-grams (n = 2..5), word and character-trigram Jaccard, and
the length differences (words, characters) and ratios (shorter / longer). Precision is the
share of b's n-grams found in a, recall the share of a's found in b (with multiplicity).

Library choice: plain counts, no fitted vocabulary (the TF-IDF cosines of the classic
baseline added nothing on MSRP's dev split), so a preprocessor only has to remember each
feature's mean and spread.

Example:
    >>> features = pair_features("The cat sat.", "A cat sat down.")
    >>> len(features) == len(FEATURE_NAMES), round(features[0], 3)  # word-unigram precision
    (True, 0.6)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

WORD_NGRAMS = (1, 2, 3, 4)
CHAR_NGRAMS = (2, 3, 4, 5)
_WORD = re.compile(r"\w+|[^\w\s]")

FEATURE_NAMES: tuple[str, ...] = (
    *(f"word{n}_{part}" for n in WORD_NGRAMS for part in ("precision", "recall", "f1")),
    *(f"char{n}_{part}" for n in CHAR_NGRAMS for part in ("precision", "recall", "f1")),
    "word_jaccard", "char3_jaccard",
    "word_length_difference", "char_length_difference", "word_length_ratio", "char_length_ratio",
)  # fmt: skip


def words(text: str) -> list[str]:
    """Lower-cased words and punctuation marks."""
    return _WORD.findall(text.lower())


def ngram_counts(items: Sequence[str] | str, n: int) -> Counter:
    """How often each n-gram of ``items`` (words, or the characters of a string) occurs."""
    return Counter(tuple(items[i : i + n]) for i in range(len(items) - n + 1))


def overlap_scores(a: Counter, b: Counter) -> tuple[float, float, float]:
    """Precision (share of b in a), recall (share of a in b) and their F1, with multiplicity."""
    common = sum((a & b).values())
    precision = common / max(sum(b.values()), 1)
    recall = common / max(sum(a.values()), 1)
    f1 = 2 * precision * recall / (precision + recall) if common else 0.0
    return precision, recall, f1


def jaccard(a: set, b: set) -> float:
    return len(a & b) / max(len(a | b), 1)


def pair_features(text_a: str, text_b: str) -> list[float]:
    """The :data:`FEATURE_NAMES` values of one pair."""
    words_a, words_b = words(text_a), words(text_b)
    chars_a, chars_b = text_a.lower(), text_b.lower()
    row: list[float] = []
    for n in WORD_NGRAMS:
        row.extend(overlap_scores(ngram_counts(words_a, n), ngram_counts(words_b, n)))
    for n in CHAR_NGRAMS:
        row.extend(overlap_scores(ngram_counts(chars_a, n), ngram_counts(chars_b, n)))
    row.append(jaccard(set(words_a), set(words_b)))
    row.append(jaccard(set(ngram_counts(chars_a, 3)), set(ngram_counts(chars_b, 3))))
    row.extend([
        abs(len(words_a) - len(words_b)),
        abs(len(chars_a) - len(chars_b)),
        min(len(words_a), len(words_b)) / max(len(words_a), len(words_b), 1),
        min(len(chars_a), len(chars_b)) / max(len(chars_a), len(chars_b), 1),
    ])  # fmt: skip
    return row


def pair_feature_matrix(texts_a: Sequence[str], texts_b: Sequence[str]) -> np.ndarray:
    """(pairs, features) float32 matrix of :func:`pair_features`."""
    rows = [pair_features(a, b) for a, b in zip(texts_a, texts_b, strict=True)]
    return np.array(rows, dtype="float32").reshape(len(rows), len(FEATURE_NAMES))
