"""Make a small synthetic paraphrase/plagiarism data set in the MSRP format (no downloads).

A source sentence is built from a subject, a verb, an object and a time. A positive pair
(label 1, about two thirds, as in MSRP) rewrites it with synonyms and may move the time to
the front; a negative pair (0) changes who did what to whom (another subject or object),
so both kinds share most of their words and overlap alone does not decide. 5% of the labels
are flipped.

Example:
    >>> paths = make_sample_pairs("data/pairs", size=300, seed=0)  # doctest: +SKIP
    >>> sorted(p.name for p in paths)  # doctest: +SKIP
    ['dev.txt', 'test.txt', 'train.txt']
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attnkit.errors import ConfigError
from attnkit.pipelines.outputs import write_atomically
from attnkit.tasks.text_pairs.readers import MSRP_HEADER

LABEL_NOISE = 0.05
POSITIVE_SHARE = 2 / 3
SUBJECTS = {
    "the company": ["the firm", "the business"],
    "the minister": ["the official", "the politician"],
    "the bank": ["the lender"],
    "the union": ["the workers' group"],
    "the court": ["the judges"],
}
VERBS = {
    "announced": ["unveiled", "revealed"],
    "rejected": ["turned down", "refused"],
    "approved": ["backed", "endorsed"],
    "delayed": ["postponed", "put off"],
}
OBJECTS = {
    "the merger": ["the deal", "the takeover"],
    "a new tax": ["a fresh levy"],
    "the budget": ["the spending plan"],
    "the strike": ["the walkout"],
}
TIMES = ["on monday", "last week", "in march", "this morning", "late on friday"]


def _other(rng: np.random.Generator, table: dict[str, list[str]], key: str) -> str:
    return str(rng.choice([k for k in table if k != key]))


def _synonym(rng: np.random.Generator, table: dict[str, list[str]], key: str) -> str:
    return str(rng.choice(table[key]))


def _pair(rng: np.random.Generator) -> tuple[str, str, str]:
    subject, verb, obj = (str(rng.choice(list(t))) for t in (SUBJECTS, VERBS, OBJECTS))
    time = str(rng.choice(TIMES))
    source = f"{subject} {verb} {obj} {time} ."
    positive = rng.random() < POSITIVE_SHARE
    parts = [subject, verb, obj]
    tables = [SUBJECTS, VERBS, OBJECTS]
    for slot in rng.choice(3, size=int(rng.integers(1, 3)), replace=False):
        parts[slot] = _synonym(rng, tables[slot], parts[slot])
    if not positive:  # another actor or target: most words still shared
        slot = int(rng.choice([0, 2]))
        parts[slot] = _other(rng, tables[slot], [subject, verb, obj][slot])
    if rng.random() < 0.5:
        suspicious = f"{time} , {' '.join(parts)} ."
    else:
        suspicious = f"{' '.join(parts)} {time} ."
    if rng.random() < LABEL_NOISE:
        positive = not positive
    return source, suspicious, "1" if positive else "0"


def make_sample_pairs(directory: str | Path, size: int = 600, seed: int = 0) -> list[Path]:
    """Write ``train.txt`` (with the MSRP header line), ``dev.txt`` and ``test.txt`` (without)
    with an 80/10/10 split of ``size`` pairs."""
    if size < 30:
        raise ConfigError(f"size must be at least 30, got {size}")
    rng = np.random.default_rng(seed)
    pairs = [_pair(rng) for _ in range(size)]
    cut_train, cut_dev = int(0.8 * size), int(0.9 * size)
    parts = {"train": pairs[:cut_train], "dev": pairs[cut_train:cut_dev], "test": pairs[cut_dev:]}
    paths = []
    for name, part in parts.items():
        lines = ["\t".join(MSRP_HEADER)] if name == "train" else []
        lines += [f"{label}\t{2 * i}\t{2 * i + 1}\t{a}\t{b}" for i, (a, b, label) in enumerate(part)]
        path = Path(directory) / f"{name}.txt"
        write_atomically(path, "\n".join(lines) + "\n")
        paths.append(path)
    return paths
