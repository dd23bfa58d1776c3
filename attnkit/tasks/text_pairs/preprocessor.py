"""Text-pair preprocessing: one tokenizer for both texts, the label map and the positive label."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from attnkit.errors import ConfigError
from attnkit.tasks.text_classification.preprocessor import TextClassificationPreprocessor
from attnkit.tasks.text_pairs.lexical_features import FEATURE_NAMES, pair_feature_matrix
from attnkit.tasks.text_pairs.word_bags import WordBagScorer, out_of_fold_scores

#: Folds of the out-of-fold word-bag scores the training pairs get.
WORD_BAG_FOLDS = 10


@dataclass
class TextPairPreprocessor(TextClassificationPreprocessor):
    """Turns two raw texts into token ids and labels into class indices.

    The tokenizer, label set, truncation and label encoding are those of
    :class:`TextClassificationPreprocessor`, fitted on both texts of every training pair.
    ``positive_label`` is the class whose precision, recall and F1 are reported (e.g.
    "plagiarised", MSRP's paraphrase label "1") and that focal loss's alpha weights; it is
    always the last class (the others keep numeric or alphabetical order).

    With ``lexical_features`` it also gives each pair the lexical overlap features of
    :mod:`attnkit.tasks.text_pairs.lexical_features`, standardised with the mean and spread
    of the training pairs (kept in the preprocessor, so serving gets the same numbers).

    With ``swap_pairs`` the task also trains on every training pair with its two texts
    swapped (same label): "is b a paraphrase of a" and "is a a paraphrase of b" have one
    answer, while the model's cross-alignment and pair features see the two sides differently.
    It changes only the training batches; dev, test and served pairs are scored as given.

    Example:
        >>> pre = TextPairPreprocessor.fit(["a cat sat", "a dog"], ["the cat sat", "rain"],
        ...                                ["1", "0"], min_frequency=1)
        >>> pre.labels, pre.positive_index, len(pre.encode_pairs(["a cat"], ["cat"])[0][0])
        (['0', '1'], 1, 2)
    """

    positive_label: str = "1"
    lexical_mean: list[float] | None = None
    lexical_scale: list[float] | None = None
    word_bag: WordBagScorer | None = None
    word_bag_c: float = 0.1
    word_bag_mean: float = 0.0
    word_bag_scale: float = 1.0
    swap_pairs: bool = False
    # The out-of-fold scores of the pairs the scorer was fitted on, by their fingerprint.
    _training_scores: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def fit(  # type: ignore[override]  (two texts per example)
        cls,
        texts_a: Sequence[str],
        texts_b: Sequence[str],
        labels: Sequence[str],
        *,
        positive_label: str = "1",
        lexical_features: bool = False,
        word_bag_scores: bool = False,
        word_bag_c: float = 0.1,
        swap_pairs: bool = False,
        **settings,
    ) -> TextPairPreprocessor:
        """Learn the vocabulary from both texts of the training pairs (or load
        ``vocab_file`` or a ``pretrained`` checkpoint's tokenizer), the label set and, with
        ``lexical_features``, the training mean and spread of each lexical feature; with
        ``word_bag_scores``, the word-bag scorer and the spread of its out-of-fold logits;
        ``swap_pairs`` only sets :attr:`swap_pairs`;
        ``settings`` are :meth:`TextClassificationPreprocessor.fit`'s keywords."""
        if not isinstance(swap_pairs, bool):
            raise ConfigError(f"preprocess.swap_pairs must be true or false, got {swap_pairs!r}")
        fitted = super().fit([*texts_a, *texts_b], labels, **settings)
        fitted.swap_pairs = swap_pairs
        if positive_label not in fitted.labels:
            raise ConfigError(
                f"preprocess.positive_label={positive_label!r} is not a label of the training "
                f"data; its labels are {fitted.labels}"
            )
        # The positive class is always the last one, so the loss can name it without the data.
        fitted.labels = [label for label in fitted.labels if label != positive_label]
        fitted.labels.append(positive_label)
        fitted.positive_label = positive_label
        if lexical_features:
            matrix = pair_feature_matrix(texts_a, texts_b).astype("float64")
            spread = matrix.std(axis=0)
            fitted.lexical_mean = matrix.mean(axis=0).tolist()
            # A feature constant on the training pairs keeps scale 1 (it stays constant).
            fitted.lexical_scale = np.where(spread > 0, spread, 1.0).tolist()
        if word_bag_scores:
            positive = [label == positive_label for label in labels]
            fitted.word_bag_c = float(word_bag_c)
            fitted.word_bag = WordBagScorer.fit(texts_a, texts_b, positive, c=word_bag_c)
            scores = fitted._out_of_fold(texts_a, texts_b, positive)
            fitted.word_bag_mean = float(scores.mean())
            fitted.word_bag_scale = float(scores.std()) or 1.0
        return fitted

    def _out_of_fold(
        self, texts_a: Sequence[str], texts_b: Sequence[str], positive: Sequence[bool]
    ) -> np.ndarray:
        """Out-of-fold word-bag logits of training pairs, computed once per set of pairs (a
        resumed run recomputes the same ones: the folds are seeded)."""
        key = hash((tuple(texts_a), tuple(texts_b), tuple(positive)))
        if key not in self._training_scores:
            self._training_scores[key] = out_of_fold_scores(
                texts_a, texts_b, positive, folds=WORD_BAG_FOLDS, c=self.word_bag_c
            )
        return self._training_scores[key]

    @property
    def lexical_size(self) -> int:
        """How many pair features each pair gets: the lexical counts (with
        ``lexical_features``) and the word-bag score (with ``word_bag_scores``)."""
        counts = 0 if self.lexical_mean is None else len(self.lexical_mean)
        return counts + (self.word_bag is not None)

    def encode_lexical(
        self,
        texts_a: Sequence[str],
        texts_b: Sequence[str],
        training_labels: Sequence[str] | None = None,
    ) -> np.ndarray:
        """(pairs, :attr:`lexical_size`) standardised pair features, float32.

        Pass the labels of the training pairs as ``training_labels`` (and only of those): their
        word-bag scores are then out-of-fold, as the scorer never saw these pairs' labels."""
        if not self.lexical_size:
            raise ConfigError(
                "this preprocessor was fitted without preprocess.lexical_features or "
                "preprocess.word_bag_scores"
            )
        columns = []
        if self.lexical_mean is not None and self.lexical_scale is not None:
            matrix = pair_feature_matrix(texts_a, texts_b)
            mean = np.asarray(self.lexical_mean, "float32")
            columns.append((matrix - mean) / np.asarray(self.lexical_scale, "float32"))
        if self.word_bag is not None:
            if training_labels is None:
                scores = self.word_bag.scores(texts_a, texts_b)
            else:
                positive = [label == self.positive_label for label in training_labels]
                scores = self._out_of_fold(texts_a, texts_b, positive)
            standard = (scores - self.word_bag_mean) / self.word_bag_scale
            columns.append(standard.astype("float32")[:, None])
        return np.concatenate(columns, axis=1)

    @property
    def positive_index(self) -> int:
        return self.labels.index(self.positive_label)

    def encode_pairs(
        self, texts_a: Sequence[str], texts_b: Sequence[str]
    ) -> tuple[list[list[int]], list[list[int]]]:
        return self.encode_texts(texts_a), self.encode_texts(texts_b)

    def to_dict(self) -> dict:
        lexical = {"lexical_mean": self.lexical_mean, "lexical_scale": self.lexical_scale}
        word_bag = None if self.word_bag is None else {
            **self.word_bag.to_dict(), "c": self.word_bag_c,
            "score_mean": self.word_bag_mean, "score_scale": self.word_bag_scale,
        }  # fmt: skip
        return {**super().to_dict(), "positive_label": self.positive_label, **lexical,
                "word_bag": word_bag, "swap_pairs": self.swap_pairs}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict) -> TextPairPreprocessor:
        loaded = super().from_dict(data)
        loaded.positive_label = str(data["positive_label"])
        loaded.swap_pairs = bool(data.get("swap_pairs", False))  # absent before it existed
        # Older preprocessors (saved before lexical features existed) have no such keys.
        mean, scale = data.get("lexical_mean"), data.get("lexical_scale")
        if mean is not None and scale is not None:
            if not len(mean) == len(scale) == len(FEATURE_NAMES):
                raise ConfigError(
                    f"saved lexical statistics have {len(mean)} / {len(scale)} values; this "
                    f"version computes {len(FEATURE_NAMES)} lexical features"
                )
            loaded.lexical_mean = [float(value) for value in mean]
            loaded.lexical_scale = [float(value) for value in scale]
        word_bag = data.get("word_bag")  # absent before word-bag scores existed
        if word_bag is not None:
            loaded.word_bag = WordBagScorer.from_dict(word_bag)
            loaded.word_bag_c = float(word_bag.get("c", 0.1))
            loaded.word_bag_mean = float(word_bag.get("score_mean", 0.0))
            loaded.word_bag_scale = float(word_bag.get("score_scale", 1.0))
        return loaded
