"""The classic pair baseline: logistic regression on simple overlap features (MSRP).

Features per pair (a = source, b = suspicious), 32 in all: word n-gram (n = 1..4) and
character n-gram (n = 2..5) overlap precision, recall and F1; word and character Jaccard;
length differences (words, characters) and ratios; TF-IDF cosines (word 1-2-grams and
character 2-4-grams, fitted on the training texts). Standardised, then logistic regression
with C chosen on the dev split.

    python benchmarks/pair_baseline.py ../shared/data/msrp   # prints dev/test accuracy and F1
"""

from __future__ import annotations

import sys

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from attnkit.tasks.text_pairs.lexical_features import pair_features

C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)


def _cosine(left, right) -> np.ndarray:
    # TfidfVectorizer rows are L2-normalised, so the row-wise dot product is the cosine.
    return np.asarray(left.multiply(right).sum(axis=1)).ravel()


class PairFeatures:
    """Fit the TF-IDF vocabularies on training texts, then featurise pairs."""

    def __init__(self) -> None:
        self.word_tfidf = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        self.char_tfidf = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)

    def fit(self, texts_a: list[str], texts_b: list[str]) -> PairFeatures:
        self.word_tfidf.fit(texts_a + texts_b)
        self.char_tfidf.fit(texts_a + texts_b)
        return self

    def transform(self, texts_a: list[str], texts_b: list[str]) -> np.ndarray:
        # The 30 count features of attnkit's lexical_features, in float64 as first measured.
        rows = [pair_features(a, b) for a, b in zip(texts_a, texts_b, strict=True)]
        cosines = [
            _cosine(vectorizer.transform(texts_a), vectorizer.transform(texts_b))
            for vectorizer in (self.word_tfidf, self.char_tfidf)
        ]
        return np.column_stack([np.array(rows), *cosines])


def run_baseline(splits: dict, positive_label: str = "1") -> dict[str, float]:
    """Accuracy and positive-class F1 on dev and test; C chosen on dev accuracy."""

    def columns(name: str) -> tuple[list[str], list[str], np.ndarray]:
        frame = splits[name].frame
        labels = np.array([label == positive_label for label in frame["label"].to_list()], int)
        return frame["text_a"].to_list(), frame["text_b"].to_list(), labels

    train_a, train_b, train_y = columns("train")
    features = PairFeatures().fit(train_a, train_b)
    x = {name: features.transform(*columns(name)[:2]) for name in ("train", "dev", "test")}
    y = {name: columns(name)[2] for name in ("train", "dev", "test")}
    best = None
    for c in C_GRID:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))
        model.fit(x["train"], y["train"])
        dev_accuracy = accuracy_score(y["dev"], model.predict(x["dev"]))
        if best is None or dev_accuracy > best[0]:
            best = (dev_accuracy, c, model)
    _, c, model = best
    metrics: dict[str, float] = {"C": c, "features": float(x["train"].shape[1])}
    for name in ("dev", "test"):
        predicted = model.predict(x[name])
        metrics[f"{name}_accuracy"] = float(accuracy_score(y[name], predicted))
        metrics[f"{name}_f1"] = float(f1_score(y[name], predicted))
    return metrics


def main() -> None:
    import attnkit  # noqa: F401  (the task readers)
    from attnkit.pipelines.recipes import load_recipe
    from attnkit.tasks.registry import get_task

    recipe = load_recipe("msrp-plagiarism-noDE")
    task = get_task(recipe["task"])
    path = sys.argv[1] if len(sys.argv) > 1 else recipe["data"]["path"]
    print(run_baseline(task.read_splits(path, recipe["data"], recipe["seed"])))


if __name__ == "__main__":
    main()
