"""ABSA preprocessing: sentence and aspect token ids, the context mask and the aspect span.

One tokenizer (a BERT-family checkpoint's word pieces, or a word vocabulary learnt from the
training sentences) encodes each sentence with character offsets; the tokens overlapping
the aspect's ``[from, to)`` span are the aspect, every other token is context.

Example:
    >>> pre = AbsaPreprocessor.fit(["the pizza was great", "slow service"], min_frequency=1)
    >>> encoded = pre.encode(["the pizza was great"], [4], [9])
    >>> encoded.sentence_ids[0] == [pre.tokenizer.token_to_id(t) for t in "the pizza was great".split()]
    True
    >>> encoded.context_mask[0], encoded.positions[0].tolist()
    ([1, 0, 1, 1], [1, 1, 4])
"""

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
from attnkit.errors import AttnkitError, ConfigError
from attnkit.tasks.absa.readers import POLARITIES


@dataclass
class EncodedAspects:
    """Model inputs of a batch of examples (ragged lists; ``positions`` is (N, 3):
    first and last aspect token, sentence length in tokens) and each kept token's text."""

    sentence_ids: list[list[int]]
    aspect_ids: list[list[int]]
    context_mask: list[list[int]]
    positions: np.ndarray
    tokens: list[list[str]]


def window(length: int, first: int, last: int, max_length: int) -> tuple[int, int]:
    """The ``[start, end)`` token window of at most ``max_length`` tokens around the aspect
    tokens ``first..last`` (the whole sentence when it fits)."""
    if length <= max_length:
        return 0, length
    spare = max(max_length - (last - first + 1), 0)
    start = min(max(first - spare // 2, 0), length - max_length)
    start = min(start, first)
    return start, start + max_length


@dataclass
class AbsaPreprocessor:
    """Tokenizer, label order (``negative``, ``neutral``, ``positive``), maximum length and,
    with pretrained word vectors, where they come from (``vectors`` holds the ones read at
    ``fit`` for the model's first table; it is not saved)."""

    tokenizer: Tokenizer
    labels: list[str]
    max_length: int = 100
    word_vectors: VectorSource | None = None
    vectors: WordVectors | None = field(default=None, repr=False, compare=False)

    @classmethod
    def fit(
        cls,
        sentences: Sequence[str],
        *,
        max_length: int = 100,
        vocab_size: int = 30000,
        min_frequency: int = 1,
        lowercase: bool = True,
        pretrained: str = "",
        word_vectors: str = "",
        word_vectors_limit: int = 50000,
    ) -> AbsaPreprocessor:
        """Load ``pretrained``'s tokenizer (``"minilm"`` or a checkpoint folder), or learn a
        word vocabulary from the training sentences, extended by the ``word_vectors_limit``
        most frequent words of ``word_vectors`` (a GloVe / ``.vec`` file or an alias) when
        given."""
        if max_length <= 0:
            raise ConfigError(f"preprocess.max_length must be positive, got {max_length}")
        if pretrained and word_vectors:
            raise ConfigError("set preprocess.pretrained or preprocess.word_vectors, not both")
        if pretrained:
            tokenizer = load_tokenizer(resolve_checkpoint(pretrained) / "tokenizer.json")
            return cls(tokenizer, list(POLARITIES), max_length)
        if word_vectors:
            source = VectorSource(word_vectors, word_vectors_limit, lowercase)
            tokenizer, vectors = source.fit_tokenizer(sentences, vocab_size, min_frequency)
            return cls(tokenizer, list(POLARITIES), max_length, source, vectors)
        tokenizer = train_word_tokenizer(sentences, vocab_size, min_frequency, lowercase)
        return cls(tokenizer, list(POLARITIES), max_length)

    @property
    def vocabulary_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def id_to_token(self, token_id: int) -> str:
        return self.tokenizer.id_to_token(int(token_id)) or ""

    def encode(
        self, sentences: Sequence[str], starts: Sequence[int], ends: Sequence[int],
        names: Sequence[str] | None = None,
    ) -> EncodedAspects:
        """Encode each sentence and its aspect span; ``names`` label examples in errors."""
        encodings = self.tokenizer.encode_batch(list(sentences), add_special_tokens=False)
        out = EncodedAspects([], [], [], np.zeros((len(encodings), 3), dtype="int32"), [])
        for row, (encoding, sentence, start, end) in enumerate(
            zip(encodings, sentences, starts, ends, strict=True)
        ):
            offsets = encoding.offsets
            inside = [i for i, (s, e) in enumerate(offsets) if s < end and e > start]
            if not inside:
                name = names[row] if names is not None else f"record {row}"
                raise AttnkitError(
                    f"{name}: the aspect span from={start} to={end} "
                    f"({sentence[start:end]!r}) holds no token"
                )
            first, last = inside[0], inside[-1]
            begin, stop = window(len(offsets), first, last, self.max_length)
            ids = encoding.ids[begin:stop]
            first, last = first - begin, min(last, stop - 1) - begin
            out.sentence_ids.append(ids)
            out.aspect_ids.append(ids[first : last + 1])
            out.context_mask.append([0 if first <= i <= last else 1 for i in range(len(ids))])
            out.positions[row] = (first, last, len(ids))
            out.tokens.append([sentence[s:e] for s, e in offsets[begin:stop]])
        return out

    def encode_labels(self, split: DataSplit) -> np.ndarray:
        return encode_split_labels(split, self.labels)

    def to_dict(self) -> dict:
        return {
            "tokenizer": json.loads(self.tokenizer.to_str()),
            "labels": self.labels,
            "max_length": self.max_length,
            "word_vectors": self.word_vectors.to_dict() if self.word_vectors else None,
        }

    @classmethod
    def from_dict(cls, data: dict) -> AbsaPreprocessor:
        return cls(
            tokenizer=Tokenizer.from_str(json.dumps(data["tokenizer"])),
            labels=list(data["labels"]),
            max_length=int(data["max_length"]),
            word_vectors=VectorSource.from_dict(data["word_vectors"])
            if data.get("word_vectors") else None,
        )
