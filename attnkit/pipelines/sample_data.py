"""Make a small synthetic sentiment dataset, so the main job runs anywhere without downloads.

Sentences are built from templates with positive and negative phrases, negations that flip
them, and neutral filler, so the label depends on a few words the attention should find.
5% of the labels are flipped, as annotators err, so a perfect score is not expected.

Example:
    >>> paths = make_sample_data("data/sample", size=300, seed=0)  # doctest: +SKIP
    >>> sorted(p.name for p in paths)  # doctest: +SKIP
    ['dev.tsv', 'test.tsv', 'train.tsv']
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attnkit.errors import ConfigError
from attnkit.pipelines.outputs import write_atomically

LABEL_NOISE = 0.05
POSITIVE = ["wonderful", "moving", "brilliant", "funny", "charming", "gripping", "beautiful", "sharp"]
NEGATIVE = ["dull", "clumsy", "tedious", "bland", "messy", "forgettable", "shallow", "weak"]
SUBJECTS = ["the film", "this movie", "the story", "the acting", "the script", "the ending", "the cast"]
FILLERS = ["", "honestly ,", "to be fair ,", "in the end ,", "for most of its length ,", "at times ,"]
TAILS = ["", "and the music helps", "despite the long running time", "from start to finish",
         "for a summer release", "as far as sequels go"]


def _sentence(rng: np.random.Generator) -> tuple[str, str]:
    positive = bool(rng.integers(2))
    negated = rng.random() < 0.25
    word = rng.choice(POSITIVE if positive != negated else NEGATIVE)
    verb = "is not" if negated else rng.choice(["is", "feels", "looks"])
    parts = [rng.choice(FILLERS), rng.choice(SUBJECTS), verb, word, rng.choice(TAILS)]
    text = " ".join(p for p in parts if p) + " ."
    if rng.random() < LABEL_NOISE:
        positive = not positive
    return text, "positive" if positive else "negative"


def make_sample_data(directory: str | Path, size: int = 3000, seed: int = 0) -> list[Path]:
    """Write ``train.tsv``, ``dev.tsv`` and ``test.tsv`` (``text<TAB>label`` with a header)
    with an 80/10/10 split of ``size`` sentences."""
    if size < 30:
        raise ConfigError(f"make-sample: --size must be at least 30, got {size}")
    rng = np.random.default_rng(seed)
    rows = [_sentence(rng) for _ in range(size)]
    cut_train, cut_dev = int(0.8 * size), int(0.9 * size)
    parts = {"train": rows[:cut_train], "dev": rows[cut_train:cut_dev], "test": rows[cut_dev:]}
    paths = []
    for name, part in parts.items():
        path = Path(directory) / f"{name}.tsv"
        write_atomically(path, "text\tlabel\n" + "".join(f"{t}\t{label}\n" for t, label in part))
        paths.append(path)
    return paths
