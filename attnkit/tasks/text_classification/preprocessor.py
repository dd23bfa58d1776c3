"""Text classification preprocessing: tokenizer, label map and maximum length, saved with the model."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tokenizers import Tokenizer

from attnkit.data.labels import encode_split_labels
from attnkit.data.pretrained import resolve_checkpoint
from attnkit.data.splits import DataSplit
from attnkit.data.tokenizers import load_tokenizer, train_word_tokenizer
from attnkit.data.vector_vocabulary import VectorSource
from attnkit.data.word_vectors import WordVectors
from attnkit.errors import ConfigError, DataError


def _label_order(labels: Sequence[str]) -> list[str]:
    """Integer-looking labels in numeric order ("2" before "10"), others alphabetically."""
    unique = set(labels)
    try:
        return sorted(unique, key=int)
    except ValueError:
        return sorted(unique)


@dataclass
class TextClassificationPreprocessor:
    """Turns raw text into token ids and label names into class indices.

    Example:
        >>> pre = TextClassificationPreprocessor.fit(["good film", "bad film"], ["1", "0"],
        ...                                          min_frequency=1)
        >>> pre.labels, pre.encode_texts(["good film"])
        (['0', '1'], [[3, 2]])
    """

    tokenizer: Tokenizer
    labels: list[str]
    max_length: int = 64
    word_vectors: VectorSource | None = None  # where pretrained word vectors come from
    vectors: WordVectors | None = field(default=None, repr=False, compare=False)  # not saved

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        max_length: int = 64,
        vocab_size: int = 30000,
        min_frequency: int = 2,
        lowercase: bool = True,
        vocab_file: str = "",
        pretrained: str = "",
        word_vectors: str = "",
        word_vectors_limit: int = 50000,
    ) -> TextClassificationPreprocessor:
        """Learn the vocabulary (or load ``vocab_file``, or a ``pretrained`` checkpoint's
        tokenizer; ``word_vectors`` adds the vector file's ``word_vectors_limit`` most
        frequent words to the learnt one) and the label set from training data."""
        if max_length <= 0:
            raise ValueError(f"max_length must be positive, got {max_length}")
        chosen = [name for name, value in (("pretrained", pretrained), ("vocab_file", vocab_file),
                                           ("word_vectors", word_vectors)) if value]
        if len(chosen) > 1:
            raise ConfigError(f"preprocess.{' and preprocess.'.join(chosen)} are alternative "
                              "vocabularies: set only one")
        source = vectors = None
        if pretrained:
            tokenizer = load_tokenizer(resolve_checkpoint(pretrained) / "tokenizer.json")
        elif vocab_file:
            tokenizer = load_tokenizer(vocab_file, lowercase=lowercase)
        elif word_vectors:
            source = VectorSource(word_vectors, word_vectors_limit, lowercase)
            tokenizer, vectors = source.fit_tokenizer(texts, vocab_size, min_frequency)
        else:
            tokenizer = train_word_tokenizer(texts, vocab_size, min_frequency, lowercase)
        label_set = _label_order([label for label in labels if label is not None])
        if len(label_set) < 2:
            raise DataError("training data", f"need at least 2 distinct labels, found {label_set}")
        return cls(tokenizer, label_set, max_length, source, vectors)

    @property
    def vocabulary_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def encode_texts(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, truncated to ``max_length``; an empty text becomes ``[UNK]``."""
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [encoding.ids[: self.max_length] or [1] for encoding in encodings]

    def tokens(self, text: str) -> list[str]:
        """The surface form of each token ``encode_texts`` keeps (for explanations)."""
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        words = [text[start:end] for start, end in encoding.offsets[: self.max_length]]
        return words or [""]

    def encode_labels(self, split: DataSplit) -> np.ndarray:
        """Class indices of ``split``'s labels; an unknown label names its file and line."""
        return encode_split_labels(split, self.labels)

    def to_dict(self) -> dict:
        return {
            "tokenizer": json.loads(self.tokenizer.to_str()),
            "labels": self.labels,
            "max_length": self.max_length,
            "word_vectors": self.word_vectors.to_dict() if self.word_vectors else None,
        }

    @classmethod
    def from_dict(cls, data: dict) -> TextClassificationPreprocessor:
        return cls(
            tokenizer=Tokenizer.from_str(json.dumps(data["tokenizer"])),
            labels=list(data["labels"]),
            max_length=int(data["max_length"]),
            word_vectors=VectorSource.from_dict(data["word_vectors"])
            if data.get("word_vectors") else None,
        )
