"""Word-level tokenizers built on Hugging Face ``tokenizers``.

Id 0 is always padding (``[PAD]``) and id 1 the unknown token (``[UNK]``).

Example:
    >>> tok = train_word_tokenizer(["a good film", "a bad film"], vocab_size=100, min_frequency=1)
    >>> tok.encode("a good plot").ids[:2], tok.token_to_id("[PAD]")
    ([2, 5], 0)
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

from attnkit.errors import DataError

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
SPECIAL_TOKENS = (PAD_TOKEN, UNK_TOKEN)


def _configure(tokenizer: Tokenizer, lowercase: bool) -> Tokenizer:
    steps = [normalizers.NFKC()]
    if lowercase:
        steps.append(normalizers.Lowercase())
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    return tokenizer


def train_word_tokenizer(
    texts: Iterable[str], vocab_size: int = 30000, min_frequency: int = 2, lowercase: bool = True
) -> Tokenizer:
    """Learn a word vocabulary (most frequent first) from ``texts``."""
    tokenizer = _configure(Tokenizer(models.WordLevel(unk_token=UNK_TOKEN)), lowercase)
    trainer = trainers.WordLevelTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def load_tokenizer(path: str | Path, lowercase: bool = True) -> Tokenizer:
    """Load a ``tokenizer.json`` or a vocabulary file (one token per line, line order = id).

    A vocabulary file gets ``[PAD]`` and ``[UNK]`` prepended when it lacks them, so that
    padding is id 0.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "vocabulary file not found")
    if path.suffix == ".json":
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as error:  # noqa: BLE001 (tokenizers raises a bare Exception on bad JSON)
            raise DataError(path, f"not a Hugging Face tokenizer.json ({error})") from None
        if tokenizer.token_to_id(PAD_TOKEN) != 0:
            raise DataError(path, f"the tokenizer must map {PAD_TOKEN} to id 0")
        # attnkit pads per batch and truncates itself; special tokens are not added either.
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return tokenizer
    try:
        tokens = [line.rstrip("\r\n") for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError as error:
        raise DataError(path, f"undecodable bytes at offset {error.start} (expected utf-8)") from None
    tokens = [token for token in tokens if token]
    if not tokens:
        raise DataError(path, "vocabulary file is empty")
    if PAD_TOKEN in tokens and (UNK_TOKEN not in tokens or tokens[0] != PAD_TOKEN):
        raise DataError(path, f"{PAD_TOKEN} must be the first token of the vocabulary file")
    return word_tokenizer_from_tokens(tokens, lowercase)


def word_tokenizer_from_tokens(tokens: Iterable[str], lowercase: bool = True) -> Tokenizer:
    """A word-level tokenizer whose ids follow ``tokens`` (after ``[PAD]`` and ``[UNK]``,
    which are prepended when missing; repeated tokens keep their first id)."""
    tokens = list(tokens)
    vocab = [token for token in SPECIAL_TOKENS if token not in tokens] + tokens
    seen: dict[str, int] = {}
    for token in vocab:
        seen.setdefault(token, len(seen))
    return _configure(Tokenizer(models.WordLevel(vocab=seen, unk_token=UNK_TOKEN)), lowercase)


def vocabulary(tokenizer: Tokenizer) -> list[str]:
    """The tokenizer's tokens in id order."""
    return [tokenizer.id_to_token(i) or "" for i in range(tokenizer.get_vocab_size())]
