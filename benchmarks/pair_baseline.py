"""The classic pair baseline: logistic regression on simple overlap features (MSRP).

Features per pair (a = source, b = suspicious), 32 in all: word n-gram (n = 1..4) and
character n-gram (n = 2..5) overlap precision, recall and F1; word and character Jaccard;
length differences (words, characters) and ratios; TF-IDF cosines (word 1-2-grams and
character 2-4-grams, fitted on the training texts). Standardised, then logistic regression
with C chosen on the dev split.

    python benchmarks/pair_baseline.py ../shared/data/msrp   # prints dev/test accuracy and F1
"""

from __future__ import annotations

import re
import sys
from collections import Counter

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

_WORD = re.compile(r"\w+|[^\w\s]")
C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _ngrams(items: list[str] | str, n: int) -> Counter:
    return Counter(tuple(items[i : i + n]) for i in range(len(items) - n + 1))


def _overlap(a: Counter, b: Counter) -> tuple[float, float, float]:
    common = sum((a & b).values())
    precision = common / max(sum(b.values()), 1)
    recall = common / max(sum(a.values()), 1)
    f1 = 2 * precision * recall / (precision + recall) if common else 0.0
    return precision, recall, f1


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / max(len(a | b), 1)


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
        rows = []
        for a, b in zip(texts_a, texts_b, strict=True):
            words_a, words_b = _words(a), _words(b)
            chars_a, chars_b = a.lower(), b.lower()
            row: list[float] = []
            for n in range(1, 5):
                row.extend(_overlap(_ngrams(words_a, n), _ngrams(words_b, n)))
            for n in range(2, 6):
                row.extend(_overlap(_ngrams(chars_a, n), _ngrams(chars_b, n)))
            row.append(_jaccard(set(words_a), set(words_b)))
            row.append(_jaccard(set(_ngrams(chars_a, 3)), set(_ngrams(chars_b, 3))))
            row.extend([abs(len(words_a) - len(words_b)), abs(len(a) - len(b)),
                        min(len(words_a), len(words_b)) / max(len(words_a), len(words_b), 1),
                        min(len(a), len(b)) / max(len(a), len(b), 1)])
            rows.append(row)
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
