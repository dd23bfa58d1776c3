"""User-facing errors.

Every error a user can cause (bad file, bad recipe key, unknown model URI) is an
:class:`AttnkitError`. The CLI prints its message on one line and exits with status 2;
anything else is a bug and keeps its traceback.

Example:
    >>> raise DataError("data/train.tsv", "missing column 'label'", line=1)
    Traceback (most recent call last):
    ...
    attnkit.errors.DataError: data/train.tsv, line 1: missing column 'label'
"""

from __future__ import annotations

from os import PathLike


class AttnkitError(Exception):
    """An error caused by the user's input, reported without a traceback."""


class DataError(AttnkitError):
    """A data file is missing, empty, undecodable or malformed.

    The message always starts with the file (and the line or field when known).
    """

    def __init__(
        self,
        path: str | PathLike[str],
        problem: str,
        *,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        where = str(path)
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {problem}")
        self.path = str(path)
        self.line = line
        self.field = field
        self.problem = problem


class ConfigError(AttnkitError):
    """A recipe, a ``--set`` override or an argument is invalid."""


class ModelNotFoundError(AttnkitError):
    """A model URI or path does not resolve to an attnkit model."""
