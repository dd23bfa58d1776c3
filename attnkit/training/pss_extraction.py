"""PSS's per-instance word extraction: attention entropy, active/misleading words, targets.

After each extraction round, every training instance whose aspect attention is peaked
enough (entropy below the threshold, in bits) gives up its most attended context word:
*active* if the model predicted the instance correctly, *misleading* if not. Later rounds
erase every word extracted so far; the final training pulls the attention toward equal
weights on the active words and toward zero on the misleading ones.

Example:
    >>> words = extract_words([np.array([0.9, 0.1, 0.0])], np.array([True]), 4.0, round_index=1)
    >>> (words[0].position, words[0].active)
    (0, True)
    >>> extraction = Extraction(words)
    >>> amask, avalue = extraction.targets(rows=1, length=3)
    >>> amask.tolist(), avalue.tolist()
    ([[1.0, 0.0, 0.0]], [[1.0, 0.0, 0.0]])
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass(frozen=True)
class ExtractedWord:
    """One extracted context word of one training instance."""

    row: int
    position: int
    active: bool
    entropy: float
    round_index: int
    token_id: int = -1


def attention_entropy(weights: np.ndarray) -> float:
    """``-sum_i |a_i| log2 |a_i|`` over the non-zero weights (the PSS code's entropy)."""
    weights = np.abs(np.asarray(weights, dtype="float64"))
    weights = weights[weights > 0]
    return float(-(weights * np.log2(weights)).sum())


def extract_words(
    attention: Sequence[np.ndarray],
    correct: np.ndarray,
    threshold: float,
    round_index: int,
    rows: Sequence[int] | None = None,
    token_ids: Sequence[np.ndarray] | None = None,
) -> list[ExtractedWord]:
    """The word each instance gives up this round: its most attended position, when its
    attention has some weight and an entropy below ``threshold`` bits.

    ``attention[k]`` is instance k's weights over its positions (zero where masked or
    erased), ``correct[k]`` whether it was predicted right, ``rows[k]`` its row in the
    training split (default k) and ``token_ids[k]`` its token ids (for the log).
    """
    words = []
    for k, weights in enumerate(attention):
        weights = np.asarray(weights, dtype="float64")
        if weights.size == 0 or not (weights > 0).any():
            continue  # nothing left to attend to (every context word erased)
        entropy = attention_entropy(weights)
        if entropy >= threshold:
            continue
        position = int(np.argmax(weights))
        token = int(token_ids[k][position]) if token_ids is not None else -1
        words.append(ExtractedWord(int(rows[k]) if rows is not None else k, position,
                                   bool(correct[k]), entropy, round_index, token))
    return words


@dataclass
class Extraction:
    """Every word extracted so far, with the erase mask and the regulariser's targets."""

    words: list[ExtractedWord] = field(default_factory=list)

    def add(self, words: Sequence[ExtractedWord]) -> None:
        self.words.extend(words)

    def rounds(self) -> int:
        return max((word.round_index for word in self.words), default=0)

    def up_to(self, round_index: int) -> Extraction:
        """The words of rounds ``1..round_index`` only (0: none)."""
        return Extraction([word for word in self.words if word.round_index <= round_index])

    def erase_mask(self, rows: int, length: int) -> np.ndarray:
        """(rows, length) float32: 1 at every extracted position (erased in later rounds)."""
        mask = np.zeros((rows, length), dtype="float32")
        for word in self.words:
            mask[word.row, word.position] = 1.0
        return mask

    def targets(self, rows: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """``(amask, avalue)`` (rows, length): amask 1 on active and misleading words; avalue
        1/|A(x)| on the active words and 0 elsewhere. An instance without active words gets
        avalue 0 everywhere (the PSS code divides 0 by 0 here; we divide by max(sum, 1))."""
        amask = np.zeros((rows, length), dtype="float32")
        avalue = np.zeros((rows, length), dtype="float32")
        for word in self.words:
            amask[word.row, word.position] = 1.0
            if word.active:
                avalue[word.row, word.position] = 1.0
        avalue /= np.maximum(avalue.sum(axis=1, keepdims=True), 1.0)
        return amask, avalue

    def summary(self) -> dict[int, dict[str, int]]:
        """Per round: how many active and misleading words were extracted."""
        counts: dict[int, dict[str, int]] = {}
        for word in self.words:
            entry = counts.setdefault(word.round_index, {"active": 0, "misleading": 0})
            entry["active" if word.active else "misleading"] += 1
        return dict(sorted(counts.items()))

    def to_json(self) -> str:
        return json.dumps([asdict(word) for word in self.words])

    @classmethod
    def from_json(cls, text: str) -> Extraction:
        return cls([ExtractedWord(**item) for item in json.loads(text)])
