"""Checked access to text data files.

Every reader goes through :func:`read_text`, so a missing, empty or undecodable
file gives the same :class:`~attnkit.errors.DataError` whatever its format.

Example:
    >>> lines = nonblank_lines("data/train.tsv")  # doctest: +SKIP
    >>> lines[0]  # doctest: +SKIP
    (1, 'sentence\\tlabel')
"""

from __future__ import annotations

import codecs
from os import PathLike
from pathlib import Path

from attnkit.errors import DataError

PathArg = str | PathLike[str]


def read_text(path: PathArg, encoding: str = "utf-8") -> str:
    """Return the decoded contents of ``path``, without a UTF-8 byte-order mark.

    Example:
        >>> read_text("data/train.tsv")[:14]  # doctest: +SKIP
        'sentence\\tlabel'
    """
    file = Path(path)
    if not file.exists():
        raise DataError(file, "file not found")
    if file.is_dir():
        raise DataError(file, "is a directory, expected a file")
    data = file.read_bytes()
    if not data.strip():
        raise DataError(file, "file is empty")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataError(file, f"unknown encoding {encoding!r}") from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DataError(
            file,
            f"undecodable bytes at line {line} (expected {encoding} text)",
            line=line,
        ) from None
    return text.removeprefix("\ufeff")


def split_lines(text: str) -> list[str]:
    """Split ``text`` on ``\\n`` only, dropping a trailing ``\\r`` from each line.

    ``str.splitlines`` also splits on form feeds and U+2028, which would shift the
    line numbers reported in errors and cut sentences that contain them.

    Example:
        >>> split_lines("a\\r\\nb\\x0cc\\n")
        ['a', 'b\\x0cc', '']
    """
    return [line.removesuffix("\r") for line in text.split("\n")]


def nonblank_lines(path: PathArg, encoding: str = "utf-8") -> list[tuple[int, str]]:
    """Return ``(line_number, line)`` for each non-blank line, numbered from 1.

    Example:
        >>> nonblank_lines("data/train.tsv")[:1]  # doctest: +SKIP
        [(1, 'sentence\\tlabel')]
    """
    lines = split_lines(read_text(path, encoding))
    return [(number, line) for number, line in enumerate(lines, 1) if line.strip()]
