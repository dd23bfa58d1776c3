"""Text-pair preprocessing: one tokenizer for both texts, the label map and the positive label."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

from attnkit.data.labels import encode_split_labels
from attnkit.data.pretrained import resolve_checkpoint
from attnkit.data.splits import DataSplit
from attnkit.data.tokenizers import load_tokenizer, train_word_tokenizer
from attnkit.errors import ConfigError, DataError


def label_order(labels: Sequence[str]) -> list[str]:
    """Integer-looking labels in numeric order, others alphabetically."""
    unique = set(labels)
    try:
        return sorted(unique, key=int)
    except ValueError:
        return sorted(unique)


@dataclass
class TextPairPreprocessor:
    """Turns two raw texts into token ids and labels into class indices.

    ``positive_label`` is the class whose precision, recall and F1 are reported (e.g.
    "plagiarised", MSRP's paraphrase label "1") and that focal loss's alpha weights; it is
    always the last class (the others keep numeric or alphabetical order).

    Example:
        >>> pre = TextPairPreprocessor.fit(["a cat sat", "a dog"], ["the cat sat", "rain"],
        ...                                ["1", "0"], min_frequency=1)
        >>> pre.labels, pre.positive_index, len(pre.encode_pairs(["a cat"], ["cat"])[0][0])
        (['0', '1'], 1, 2)
    """

    tokenizer: Tokenizer
    labels: list[str]
    positive_label: str
    max_length: int = 64

    @classmethod
    def fit(
        cls,
        texts_a: Sequence[str],
        texts_b: Sequence[str],
        labels: Sequence[str],
        *,
        max_length: int = 64,
        vocab_size: int = 30000,
        min_frequency: int = 2,
        lowercase: bool = True,
        vocab_file: str = "",
        pretrained: str = "",
        positive_label: str = "1",
    ) -> TextPairPreprocessor:
        """Learn the vocabulary from both texts of the training pairs (or load ``vocab_file``
        or a ``pretrained`` checkpoint's tokenizer) and the label set."""
        if max_length <= 0:
            raise ValueError(f"max_length must be positive, got {max_length}")
        if pretrained and vocab_file:
            raise ConfigError("set preprocess.pretrained or preprocess.vocab_file, not both")
        if pretrained:
            tokenizer = load_tokenizer(resolve_checkpoint(pretrained) / "tokenizer.json")
        elif vocab_file:
            tokenizer = load_tokenizer(vocab_file, lowercase=lowercase)
        else:
            texts = [*texts_a, *texts_b]
            tokenizer = train_word_tokenizer(texts, vocab_size, min_frequency, lowercase)
        label_set = label_order([label for label in labels if label is not None])
        if len(label_set) < 2:
            raise DataError("training data", f"need at least 2 distinct labels, found {label_set}")
        if positive_label not in label_set:
            raise ConfigError(
                f"preprocess.positive_label={positive_label!r} is not a label of the training "
                f"data; its labels are {label_set}"
            )
        # The positive class is always the last one, so the loss can name it without the data.
        label_set = [label for label in label_set if label != positive_label] + [positive_label]
        return cls(tokenizer, label_set, positive_label, max_length)

    @property
    def vocabulary_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def positive_index(self) -> int:
        return self.labels.index(self.positive_label)

    def encode_texts(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, truncated to ``max_length``; an empty text becomes ``[UNK]``."""
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [encoding.ids[: self.max_length] or [1] for encoding in encodings]

    def encode_pairs(
        self, texts_a: Sequence[str], texts_b: Sequence[str]
    ) -> tuple[list[list[int]], list[list[int]]]:
        return self.encode_texts(texts_a), self.encode_texts(texts_b)

    def tokens(self, text: str) -> list[str]:
        """The surface form of each token ``encode_texts`` keeps (for explanations)."""
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        return [text[start:end] for start, end in encoding.offsets[: self.max_length]] or [""]

    def encode_labels(self, split: DataSplit) -> np.ndarray:
        """Class indices of ``split``'s labels; an unknown label names its file and line."""
        return encode_split_labels(split, self.labels)

    def to_dict(self) -> dict:
        return {
            "tokenizer": json.loads(self.tokenizer.to_str()),
            "labels": self.labels,
            "positive_label": self.positive_label,
            "max_length": self.max_length,
        }

    @classmethod
    def from_dict(cls, data: dict) -> TextPairPreprocessor:
        return cls(
            tokenizer=Tokenizer.from_str(json.dumps(data["tokenizer"])),
            labels=list(data["labels"]),
            positive_label=str(data["positive_label"]),
            max_length=int(data["max_length"]),
        )
