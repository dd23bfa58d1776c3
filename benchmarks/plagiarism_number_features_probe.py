"""A cheap check before building number-match features for the MSRP pair model: do they add
anything to a logistic regression on the pair features the recipe's head already gets?

Number features (as in Socher et al. 2011): the two texts have the same set of numbers (or
none), the same non-empty set, one set is a strict subset of the other, how many numbers only
one text has, whether either has a number. Compared by 10-fold cross-validated accuracy on MSRP
train (no test pairs), with and without the recipe's word-bag score (out of fold).

    OMP_NUM_THREADS=1 python benchmarks/plagiarism_number_features_probe.py \\
        --results benchmarks/results/plagiarism_number_features_probe.json
"""

from __future__ import annotations

import argparse
import json
import platform
import re
from datetime import date
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from attnkit.tasks.text_pairs.lexical_features import pair_feature_matrix
from attnkit.tasks.text_pairs.readers import read_msrp
from attnkit.tasks.text_pairs.word_bags import out_of_fold_scores

DATA = "../shared/data/msrp/msr_paraphrase_train.txt"
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def numbers(text: str) -> set[str]:
    """The numbers of ``text``, thousands separators removed."""
    return {match.replace(",", "") for match in _NUMBER.findall(text)}


def number_features(text_a: str, text_b: str) -> list[float]:
    a, b = numbers(text_a), numbers(text_b)
    return [float(a == b), float(a == b and bool(a)), float(a < b or b < a), float(len(a ^ b)),
            float(bool(a or b))]  # fmt: skip


def cv_accuracy(features: np.ndarray, labels: np.ndarray, folds: int) -> tuple[float, float]:
    """Mean and standard deviation of the fold accuracies (%)."""
    split = StratifiedKFold(folds, shuffle=True, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    scores = cross_val_score(model, features, labels, cv=split) * 100
    return float(scores.mean()), float(scores.std())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=DATA, help=f"MSRP train file (default {DATA})")
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--results", type=Path, default=None, help="write the JSON here")
    args = parser.parse_args()

    frame = read_msrp(args.data)
    texts_a, texts_b = frame["text_a"].to_list(), frame["text_b"].to_list()
    labels = np.array([label == "1" for label in frame["label"].to_list()], dtype=int)
    lexical = pair_feature_matrix(texts_a, texts_b)
    number = np.array([number_features(a, b) for a, b in zip(texts_a, texts_b, strict=True)])
    word_bag = np.asarray(out_of_fold_scores(texts_a, texts_b, labels.astype(bool).tolist(),
                                             folds=10, c=0.1))[:, None]  # fmt: skip
    settings = {
        "lexical": lexical,
        "lexical + numbers": np.hstack([lexical, number]),
        "lexical + word bag": np.hstack([lexical, word_bag]),
        "lexical + word bag + numbers": np.hstack([lexical, word_bag, number]),
    }
    rows = []
    for name, matrix in settings.items():
        mean, spread = cv_accuracy(matrix, labels, args.folds)
        rows.append({"features": name, "cv_accuracy": mean, "cv_std": spread})
    print(f"| features | {args.folds}-fold CV accuracy % (MSRP train, {len(labels)} pairs) |")
    print("|---|---|")
    for row in rows:
        print(f"| {row['features']} | {row['cv_accuracy']:.2f} ± {row['cv_std']:.2f} |")
    same = number[:, 0] == 1
    print(f"pairs whose numbers differ: {100 * (~same).mean():.1f} %; paraphrase rate "
          f"{100 * labels[same].mean():.1f} % with the same numbers, "
          f"{100 * labels[~same].mean():.1f} % with different ones")
    if args.results:
        args.results.write_text(json.dumps({
            "rows": rows, "folds": args.folds, "pairs": int(len(labels)),
            "machine": platform.processor() or platform.machine(), "date": date.today().isoformat(),
        }, indent=1))


if __name__ == "__main__":
    main()
