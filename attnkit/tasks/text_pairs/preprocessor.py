"""Text-pair preprocessing: one tokenizer for both texts, the label map and the positive label."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from attnkit.errors import ConfigError
from attnkit.tasks.text_classification.preprocessor import TextClassificationPreprocessor
from attnkit.tasks.text_pairs.lexical_features import FEATURE_NAMES, pair_feature_matrix


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

    Example:
        >>> pre = TextPairPreprocessor.fit(["a cat sat", "a dog"], ["the cat sat", "rain"],
        ...                                ["1", "0"], min_frequency=1)
        >>> pre.labels, pre.positive_index, len(pre.encode_pairs(["a cat"], ["cat"])[0][0])
        (['0', '1'], 1, 2)
    """

    positive_label: str = "1"
    lexical_mean: list[float] | None = None
    lexical_scale: list[float] | None = None

    @classmethod
    def fit(  # type: ignore[override]  (two texts per example)
        cls,
        texts_a: Sequence[str],
        texts_b: Sequence[str],
        labels: Sequence[str],
        *,
        positive_label: str = "1",
        lexical_features: bool = False,
        **settings,
    ) -> TextPairPreprocessor:
        """Learn the vocabulary from both texts of the training pairs (or load
        ``vocab_file`` or a ``pretrained`` checkpoint's tokenizer), the label set and, with
        ``lexical_features``, the training mean and spread of each lexical feature;
        ``settings`` are :meth:`TextClassificationPreprocessor.fit`'s keywords."""
        fitted = super().fit([*texts_a, *texts_b], labels, **settings)
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
        return fitted

    @property
    def lexical_size(self) -> int:
        """How many lexical features each pair gets (0 without ``lexical_features``)."""
        return 0 if self.lexical_mean is None else len(self.lexical_mean)

    def encode_lexical(self, texts_a: Sequence[str], texts_b: Sequence[str]) -> np.ndarray:
        """(pairs, :attr:`lexical_size`) standardised lexical features, float32."""
        if self.lexical_mean is None or self.lexical_scale is None:
            raise ConfigError("this preprocessor was fitted without preprocess.lexical_features")
        matrix = pair_feature_matrix(texts_a, texts_b)
        mean = np.asarray(self.lexical_mean, "float32")
        return (matrix - mean) / np.asarray(self.lexical_scale, "float32")

    @property
    def positive_index(self) -> int:
        return self.labels.index(self.positive_label)

    def encode_pairs(
        self, texts_a: Sequence[str], texts_b: Sequence[str]
    ) -> tuple[list[list[int]], list[list[int]]]:
        return self.encode_texts(texts_a), self.encode_texts(texts_b)

    def to_dict(self) -> dict:
        lexical = {"lexical_mean": self.lexical_mean, "lexical_scale": self.lexical_scale}
        return {**super().to_dict(), "positive_label": self.positive_label, **lexical}

    @classmethod
    def from_dict(cls, data: dict) -> TextPairPreprocessor:
        loaded = super().from_dict(data)
        loaded.positive_label = str(data["positive_label"])
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
        return loaded
