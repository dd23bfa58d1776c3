"""Text-pair preprocessing: one tokenizer for both texts, the label map and the positive label."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from attnkit.errors import ConfigError
from attnkit.tasks.text_classification.preprocessor import TextClassificationPreprocessor


@dataclass
class TextPairPreprocessor(TextClassificationPreprocessor):
    """Turns two raw texts into token ids and labels into class indices.

    The tokenizer, label set, truncation and label encoding are those of
    :class:`TextClassificationPreprocessor`, fitted on both texts of every training pair.
    ``positive_label`` is the class whose precision, recall and F1 are reported (e.g.
    "plagiarised", MSRP's paraphrase label "1") and that focal loss's alpha weights; it is
    always the last class (the others keep numeric or alphabetical order).

    Example:
        >>> pre = TextPairPreprocessor.fit(["a cat sat", "a dog"], ["the cat sat", "rain"],
        ...                                ["1", "0"], min_frequency=1)
        >>> pre.labels, pre.positive_index, len(pre.encode_pairs(["a cat"], ["cat"])[0][0])
        (['0', '1'], 1, 2)
    """

    positive_label: str = "1"

    @classmethod
    def fit(  # type: ignore[override]  (two texts per example)
        cls,
        texts_a: Sequence[str],
        texts_b: Sequence[str],
        labels: Sequence[str],
        *,
        positive_label: str = "1",
        **settings,
    ) -> TextPairPreprocessor:
        """Learn the vocabulary from both texts of the training pairs (or load
        ``vocab_file`` or a ``pretrained`` checkpoint's tokenizer) and the label set;
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
        return fitted

    @property
    def positive_index(self) -> int:
        return self.labels.index(self.positive_label)

    def encode_pairs(
        self, texts_a: Sequence[str], texts_b: Sequence[str]
    ) -> tuple[list[list[int]], list[list[int]]]:
        return self.encode_texts(texts_a), self.encode_texts(texts_b)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "positive_label": self.positive_label}

    @classmethod
    def from_dict(cls, data: dict) -> TextPairPreprocessor:
        loaded = super().from_dict(data)
        loaded.positive_label = str(data["positive_label"])
        return loaded
