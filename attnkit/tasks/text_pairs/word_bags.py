"""Word-bag score of a text pair: a logistic regression over which words the texts share.

The lexical counts of :mod:`attnkit.tasks.text_pairs.lexical_features` say how much two texts
overlap, not which words they do not share; a pair that differs only in "not", a name or a
number is rarely a paraphrase, one that differs in "the" or "said" usually is (the idea behind
TF-KLD). :class:`WordBagScorer` learns that from the training pairs: a regularised logistic
regression on the standardised counts plus binary bags of ``s:word`` (in both texts) and
``o:word`` (in one text only) features. Its logit is one more pair feature for a network's
head; the training pairs get out-of-fold logits (:func:`out_of_fold_scores`), so the network
sees scores as honest as the ones dev, test and serving get.

Library choice (not in Moravvej et al.): on MSRP train, 10-fold cross-validation of the counts
alone gave 75.42 % accuracy, counts plus bags 78.36 % (``benchmarks/pair_word_bags_probe.py``).
Scoring needs only the saved weights (numpy, no scikit-learn model).

Example:
    >>> scorer = WordBagScorer.fit(["a cat sat", "a dog ran", "the cat sat", "no dog ran"],
    ...                            ["a cat sat", "a cat ran", "the cat sat", "a dog sat"],
    ...                            [True, False, True, False], min_count=1)
    >>> bool(scorer.scores(["a cat sat"], ["a cat sat"])[0] > scorer.scores(["a cat"], ["a dog"])[0])
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from attnkit.errors import ConfigError
from attnkit.tasks.text_pairs.lexical_features import pair_feature_matrix, words

SHARED, ONLY_ONE = "s:", "o:"


def bag_tokens(text_a: str, text_b: str) -> set[str]:
    """``s:word`` for each word both texts have, ``o:word`` for each only one of them has.

    >>> sorted(bag_tokens("A cat sat", "the cat"))
    ['o:a', 'o:sat', 'o:the', 's:cat']
    """
    words_a, words_b = set(words(text_a)), set(words(text_b))
    return {SHARED + w for w in words_a & words_b} | {ONLY_ONE + w for w in words_a ^ words_b}


def _standardise(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    spread = counts.std(axis=0)
    return counts.mean(axis=0), np.where(spread > 0, spread, 1.0)


def design_matrix(
    bags: Sequence[set[str]],
    counts: np.ndarray,
    index: dict[str, int],
    mean: np.ndarray,
    scale: np.ndarray,
):
    """The sparse regression inputs (pairs, counts + vocabulary): the counts standardised with
    ``mean`` and ``scale``, then a 1 for each bag token found in ``index`` (token -> column)."""
    import scipy.sparse as sparse

    rows, columns = [], []
    for row, bag in enumerate(bags):
        kept = [index[token] for token in bag if token in index]
        rows.extend([row] * len(kept))
        columns.extend(kept)
    bag_matrix = sparse.csr_matrix(
        (np.ones(len(rows)), (rows, columns)), shape=(len(bags), len(index))
    )
    standard = (counts - mean) / scale
    return sparse.hstack([sparse.csr_matrix(standard), bag_matrix]).tocsr()


@dataclass
class WordBagScorer:
    """Logit of a logistic regression on standardised lexical counts and shared/unshared word
    bags; fitted with :meth:`fit`, applied with :meth:`scores`, saved with :meth:`to_dict`.

    Attributes:
        vocabulary: the bag features kept (in at least ``min_count`` training pairs).
        bag_weights: one weight per vocabulary entry.
        count_weights, count_mean, count_scale: weight, training mean and spread of each
            lexical count feature.
        intercept: the regression's bias.
    """

    vocabulary: list[str]
    bag_weights: list[float]
    count_weights: list[float]
    count_mean: list[float]
    count_scale: list[float]
    intercept: float

    def __post_init__(self) -> None:
        self._index = {token: i for i, token in enumerate(self.vocabulary)}
        if len(self.bag_weights) != len(self.vocabulary):
            raise ConfigError(
                f"word-bag scorer: {len(self.bag_weights)} bag weights for "
                f"{len(self.vocabulary)} vocabulary entries"
            )
        if not len(self.count_weights) == len(self.count_mean) == len(self.count_scale):
            raise ConfigError("word-bag scorer: count weights, means and spreads differ in length")

    @classmethod
    def fit(
        cls,
        texts_a: Sequence[str],
        texts_b: Sequence[str],
        positive: Sequence[bool],
        *,
        c: float = 0.1,
        min_count: int = 2,
    ) -> WordBagScorer:
        """Fit on labelled pairs (``positive[i]``: is pair i of the positive class); ``c`` is
        the inverse L2 strength, ``min_count`` how many pairs a bag feature needs."""
        from sklearn.linear_model import LogisticRegression

        if c <= 0:
            raise ConfigError(f"preprocess.word_bag_c must be > 0, got {c}")
        if min_count < 1:
            raise ConfigError(f"word-bag min_count must be >= 1, got {min_count}")
        targets = np.asarray(positive, dtype=bool)
        if len(set(targets.tolist())) < 2:
            raise ConfigError("the word-bag score needs training pairs of both classes")
        bags = [bag_tokens(a, b) for a, b in zip(texts_a, texts_b, strict=True)]
        frequency: dict[str, int] = {}
        for bag in bags:
            for token in bag:
                frequency[token] = frequency.get(token, 0) + 1
        vocabulary = sorted(token for token, count in frequency.items() if count >= min_count)
        counts = pair_feature_matrix(texts_a, texts_b).astype("float64")
        mean, scale = _standardise(counts)
        index = {token: i for i, token in enumerate(vocabulary)}
        regression = LogisticRegression(C=c, max_iter=5000)
        regression.fit(design_matrix(bags, counts, index, mean, scale), targets)
        weights = regression.coef_[0]
        return cls(
            vocabulary=vocabulary,
            bag_weights=weights[len(mean) :].tolist(),
            count_weights=weights[: len(mean)].tolist(),
            count_mean=mean.tolist(),
            count_scale=scale.tolist(),
            intercept=float(regression.intercept_[0]),
        )

    def scores(self, texts_a: Sequence[str], texts_b: Sequence[str]) -> np.ndarray:
        """(pairs,) float32 logits: above 0 leans to the positive class."""
        bags = [bag_tokens(a, b) for a, b in zip(texts_a, texts_b, strict=True)]
        counts = pair_feature_matrix(texts_a, texts_b).astype("float64")
        weights = np.asarray(self.count_weights + self.bag_weights)
        design = design_matrix(bags, counts, self._index, np.asarray(self.count_mean),
                               np.asarray(self.count_scale))  # fmt: skip
        return (design @ weights + self.intercept).astype("float32")

    def to_dict(self) -> dict:
        return {
            "vocabulary": self.vocabulary,
            "bag_weights": self.bag_weights,
            "count_weights": self.count_weights,
            "count_mean": self.count_mean,
            "count_scale": self.count_scale,
            "intercept": self.intercept,
        }

    @classmethod
    def from_dict(cls, data: dict) -> WordBagScorer:
        try:
            return cls(
                vocabulary=[str(token) for token in data["vocabulary"]],
                bag_weights=[float(w) for w in data["bag_weights"]],
                count_weights=[float(w) for w in data["count_weights"]],
                count_mean=[float(m) for m in data["count_mean"]],
                count_scale=[float(s) for s in data["count_scale"]],
                intercept=float(data["intercept"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ConfigError(f"saved word-bag scorer is malformed: {error!r}") from None


def out_of_fold_scores(
    texts_a: Sequence[str],
    texts_b: Sequence[str],
    positive: Sequence[bool],
    *,
    folds: int = 10,
    seed: int = 0,
    c: float = 0.1,
    min_count: int = 2,
) -> np.ndarray:
    """(pairs,) logits of each pair from a scorer fitted on the other folds (stratified,
    shuffled with ``seed``), so no pair is scored by weights that saw its label.

    >>> texts = ["a b", "a c", "b c", "c d"] * 3
    >>> out_of_fold_scores(texts, texts[::-1], [True, False] * 6, folds=3, min_count=1).shape
    (12,)
    """
    from sklearn.model_selection import StratifiedKFold

    targets = np.asarray(positive, dtype=bool)
    smallest = int(min(targets.sum(), (~targets).sum()))
    if smallest < folds:
        raise ConfigError(
            f"the word-bag score's {folds}-fold out-of-fold logits need at least {folds} "
            f"training pairs of each class; the smaller class has {smallest}"
        )
    texts_a, texts_b = list(texts_a), list(texts_b)
    scores = np.zeros(len(targets), dtype="float32")
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for train, held_out in splitter.split(targets, targets):
        scorer = WordBagScorer.fit(
            [texts_a[i] for i in train], [texts_b[i] for i in train], targets[train],
            c=c, min_count=min_count,
        )  # fmt: skip
        scores[held_out] = scorer.scores([texts_a[i] for i in held_out],
                                         [texts_b[i] for i in held_out])  # fmt: skip
    return scores
