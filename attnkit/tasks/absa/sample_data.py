"""A synthetic ABSA data set where one word decides each aspect's polarity (tests, demos).

Each sentence mixes filler words, one aspect term and one opinion word; the opinion word
(``great``/``tasty`` positive, ``awful``/``bland`` negative, ``average``/``usual`` neutral)
gives the polarity. Written as ``train.seg``/``test.seg`` (or SemEval XML with ``fmt="xml"``).

Example:
    >>> rows = sample_examples(3, seed=0)
    >>> sorted(rows[0])
    ['aspect', 'from', 'label', 'sentence', 'to']
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import polars as pl

from attnkit.data.splits import DataSplit

OPINIONS = {"positive": ("great", "tasty"), "negative": ("awful", "bland"),
            "neutral": ("average", "usual")}
ASPECTS = ("pizza", "service", "staff", "wine list", "decor", "pasta")
FILLERS = ("the", "a", "was", "we", "had", "there", "and", "it", "our", "today", "really",
           "place", "table", "night", "friend", "ordered", "with", "for", "at", "very")
SEG_LABELS = {"negative": "-1", "neutral": "0", "positive": "1"}


def sample_examples(size: int, seed: int = 0) -> list[dict]:
    """``size`` examples as dicts with ``sentence``, ``aspect``, ``from``, ``to``, ``label``."""
    rng = np.random.default_rng(seed)
    labels = list(OPINIONS)
    rows = []
    for index in range(size):
        label = labels[index % len(labels)]
        words = list(rng.choice(FILLERS, size=int(rng.integers(3, 8))))
        aspect = str(rng.choice(ASPECTS))
        opinion = str(rng.choice(OPINIONS[label]))
        words.insert(int(rng.integers(0, len(words) + 1)), "\0")
        words.insert(int(rng.integers(0, len(words) + 1)), opinion)
        before = " ".join(words[: words.index("\0")])
        start = len(before) + (1 if before else 0)
        sentence = " ".join(aspect if word == "\0" else word for word in words)
        rows.append({"sentence": sentence, "aspect": aspect, "from": start,
                     "to": start + len(aspect), "label": label})
    return rows


def sample_split(name: str, size: int, seed: int = 0) -> DataSplit:
    """``size`` generated examples as a :class:`DataSplit` the ABSA task reads, in memory.

    Example:
        >>> sample_split("train", 4).frame.height
        4
    """
    rows = sample_examples(size, seed)
    frame = pl.DataFrame([{**row, "sid": str(i), "_line": None} for i, row in enumerate(rows)])
    return DataSplit(name, Path(name), frame)


def write_seg(path: Path, rows: list[dict]) -> Path:
    lines = []
    for row in rows:
        template = row["sentence"][: row["from"]] + "$T$" + row["sentence"][row["to"] :]
        lines += [template, row["aspect"], SEG_LABELS[row["label"]]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_xml(path: Path, rows: list[dict]) -> Path:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', "<sentences>"]
    for index, row in enumerate(rows):
        parts.append(f'<sentence id="{index}"><text>{row["sentence"]}</text><aspectTerms>'
                     f'<aspectTerm term={quoteattr(row["aspect"])} polarity="{row["label"]}" '
                     f'from="{row["from"]}" to="{row["to"]}"/></aspectTerms></sentence>')
    parts.append("</sentences>")
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path


def make_sample_absa(folder: str | Path, size: int = 300, seed: int = 0, fmt: str = "seg") -> Path:
    """Write ``train`` (``size`` examples) and ``test`` (``size // 3``) files into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write = write_seg if fmt == "seg" else write_xml
    write(folder / f"train.{fmt}", sample_examples(size, seed))
    write(folder / f"test.{fmt}", sample_examples(max(size // 3, 3), seed + 1))
    return folder
