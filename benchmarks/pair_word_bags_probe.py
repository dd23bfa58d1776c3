"""Probe: what the lexical count features miss on MSRP (train-only cross-validation).

Logistic regression, 10-fold cross-validation over MSRP train (dev included, test never read),
repeated with shuffled folds, on:

- ``counts``: the 30 features of :mod:`attnkit.tasks.text_pairs.lexical_features`;
- ``counts+edit+numbers``: plus word edit distance and number-mismatch shares;
- ``bags``: binary bags of the words both texts share and the words only one of them has;
- ``all``: the two together (bag vocabulary fitted on each training fold, words seen twice).

    python benchmarks/pair_word_bags_probe.py ../shared/data/msrp --repeats 2  # -> results/pair_word_bags_probe.json
"""

from __future__ import annotations

import argparse
import json
import platform
import re
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sparse
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from attnkit.tasks.text_pairs.lexical_features import pair_features, words

RESULTS = Path(__file__).parent / "results" / "pair_word_bags_probe.json"
_NUMBER = re.compile(r"\d[\d.,]*\d|\d")


def edit_distance(a: list[str], b: list[str]) -> int:
    previous = list(range(len(b) + 1))
    for i, left in enumerate(a, 1):
        current = [i]
        for j, right in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (left != right))
            )
        previous = current
    return previous[-1]


def extra_features(a: str, b: str) -> list[float]:
    """Word edit distance (normalised) and the numbers of each text missing from the other."""
    words_a, words_b = words(a), words(b)
    numbers_a, numbers_b = set(_NUMBER.findall(a)), set(_NUMBER.findall(b))
    return [
        edit_distance(words_a, words_b) / max(len(words_a), len(words_b), 1),
        len(numbers_a - numbers_b) / max(len(numbers_a), 1),
        len(numbers_b - numbers_a) / max(len(numbers_b), 1),
        float(numbers_a != numbers_b),
    ]


def word_bag_document(a: str, b: str) -> str:
    """``s:word`` for each word both texts have, ``o:word`` for each only one has."""
    set_a, set_b = set(words(a)), set(words(b))
    return " ".join(
        [f"s:{w}" for w in sorted(set_a & set_b)] + [f"o:{w}" for w in sorted(set_a ^ set_b)]
    )


def cross_validated_accuracy(
    dense: np.ndarray | None,
    documents: list[str] | None,
    labels: np.ndarray,
    c: float,
    repeats: int,
) -> tuple[float, float]:
    scores = []
    for repeat in range(repeats):
        folds = StratifiedKFold(10, shuffle=True, random_state=repeat)
        for train, test in folds.split(labels, labels):
            blocks = []
            if dense is not None:
                blocks.append(
                    sparse.csr_matrix(StandardScaler().fit(dense[train]).transform(dense))
                )
            if documents is not None:
                vectorizer = CountVectorizer(
                    tokenizer=str.split, token_pattern=None, lowercase=False, binary=True, min_df=2
                )
                vectorizer.fit([documents[i] for i in train])
                blocks.append(vectorizer.transform(documents))
            x = sparse.hstack(blocks).tocsr()
            model = LogisticRegression(C=c, max_iter=5000).fit(x[train], labels[train])
            scores.append(model.score(x[test], labels[test]))
    return 100 * float(np.mean(scores)), 100 * float(np.std(scores) / np.sqrt(len(scores)))


def main() -> None:
    import attnkit  # noqa: F401  (the task readers)
    from attnkit.pipelines.recipes import load_recipe
    from attnkit.tasks.registry import get_task

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default="../shared/data/msrp")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    recipe = load_recipe("msrp-plagiarism-noDE")
    splits = get_task(recipe["task"]).read_splits(args.data, recipe["data"], recipe["seed"])
    frame = pl.concat([splits["train"].frame, splits["dev"].frame])
    texts_a, texts_b = frame["text_a"].to_list(), frame["text_b"].to_list()
    positive = recipe["preprocess"]["positive_label"]
    labels = np.array([label == positive for label in frame["label"].to_list()], int)
    counts = np.array([pair_features(a, b) for a, b in zip(texts_a, texts_b, strict=True)])
    richer = np.column_stack(
        [counts, [extra_features(a, b) for a, b in zip(texts_a, texts_b, strict=True)]]
    )
    documents = [word_bag_document(a, b) for a, b in zip(texts_a, texts_b, strict=True)]
    probes = {
        "counts": (counts, None, 1.0),
        "counts+edit+numbers": (richer, None, 1.0),
        "bags": (None, documents, 0.1),
        "all": (richer, documents, 0.1),
    }
    print("| features | C | CV accuracy % (mean ± s.e.) |\n|---|---|---|")
    rows = []
    for name, (dense, docs, c) in probes.items():
        mean, error = cross_validated_accuracy(dense, docs, labels, c, args.repeats)
        rows.append({"features": name, "C": c, "cv_accuracy": mean, "standard_error": error})
        print(f"| {name} | {c} | {mean:.2f} ± {error:.2f} |", flush=True)
    meta = {
        "date": date.today().isoformat(),
        "machine": platform.processor() or platform.machine(),
        "pairs": len(labels),
        "folds": 10,
        "repeats": args.repeats,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({**meta, "probes": rows}, indent=2) + "\n")
    print(f"written {args.results}")


if __name__ == "__main__":
    main()
