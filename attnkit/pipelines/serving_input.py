"""Checking a served request's inputs before the model sees them.

MLflow's scoring server parses the request body (``dataframe_records``, ``dataframe_split``,
``inputs``, ``instances``, CSV) into a DataFrame, a dict of columns, a list or a NumPy array.
:func:`request_records` turns any of these into one plain record (``{field: value}``) per
example, and rejects what no task can answer: a missing or null field, an empty string, an
empty or oversize batch. Type checks per field are the task's ``parse_raw``.

One case is out of our reach: MLflow parses ``{"inputs": [...]}`` with ``np.array``, which turns
a list that mixes strings and numbers (``["a film", 7]``) into strings before the model sees
it. Homogeneous lists (``[7, 8]``), nulls and records keep their types and are refused.

The largest batch one request may carry is ``ATTNKIT_MAX_BATCH_SIZE`` (default 1024), which
``attnkit serve --max-batch-size`` sets for the server.

Example:
    >>> request_records({"text": ["a fine film", "dull"]}, ("text",), max_batch_size=8)
    [{'text': 'a fine film'}, {'text': 'dull'}]
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pandas as pd

from attnkit.errors import AttnkitError, ConfigError

MAX_BATCH_ENV = "ATTNKIT_MAX_BATCH_SIZE"
DEFAULT_MAX_BATCH_SIZE = 1024


class InvalidRequest(AttnkitError):
    """A served request whose inputs cannot be answered (answered with HTTP 400)."""


def max_batch_size_from_env() -> int:
    """The batch limit from ``ATTNKIT_MAX_BATCH_SIZE``, or the default when it is unset."""
    raw = os.environ.get(MAX_BATCH_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_BATCH_SIZE
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(f"{MAX_BATCH_ENV}={raw!r}: expected a positive integer")
    return value


def _plain(value: Any) -> Any:
    """NumPy scalars and arrays -> Python values; NaN (pandas' missing value) -> None."""
    if isinstance(value, np.ndarray | np.generic):
        value = value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _columns_to_records(columns: dict[str, Any], fields: tuple[str, ...]) -> list[dict]:
    missing = [field for field in fields if field not in columns]
    if missing:
        raise InvalidRequest(
            f"missing field {missing[0]!r}: each record needs {list(fields)} "
            f"(the request has {sorted(map(str, columns))})"
        )
    values = {}
    for field in fields:
        column = _plain(columns[field])
        # A single value (`{"inputs": {"text": "a film"}}`) is one record.
        values[field] = column if isinstance(column, list) else [column]
    lengths = {len(column) for column in values.values()}
    if len(lengths) > 1:
        raise InvalidRequest(f"fields {list(fields)} have different numbers of values")
    count = lengths.pop()
    return [{field: values[field][row] for field in fields} for row in range(count)]


def _to_records(model_input: Any, fields: tuple[str, ...]) -> list[dict]:
    if isinstance(model_input, pd.DataFrame):
        if model_input.shape[0] == 0:
            return []
        columns = {str(name): model_input[name].tolist() for name in model_input.columns}
        return _columns_to_records(columns, fields)
    if isinstance(model_input, dict):
        return _columns_to_records(model_input, fields)
    items = _plain(model_input)
    if not isinstance(items, list):
        items = [items]
    records = []
    for index, item in enumerate(items):
        if isinstance(item, dict):
            missing = [field for field in fields if field not in item]
            if missing:
                raise InvalidRequest(f"record {index}: missing field {missing[0]!r}")
            records.append({field: item[field] for field in fields})
        elif len(fields) == 1:  # a bare value is the only field (`{"inputs": ["a", "b"]}`)
            records.append({fields[0]: item})
        else:
            raise InvalidRequest(
                f"record {index}: expected an object with fields {list(fields)}, "
                f"got {type(item).__name__}"
            )
    return records


def request_records(
    model_input: Any, fields: tuple[str, ...], max_batch_size: int
) -> list[dict[str, Any]]:
    """One ``{field: value}`` per example of a parsed request; raises :class:`InvalidRequest`
    naming the record and field when the request cannot be answered."""
    records = _to_records(model_input, tuple(fields))
    if not records:
        raise InvalidRequest("the request has no records")
    if len(records) > max_batch_size:
        raise InvalidRequest(
            f"the request has {len(records)} records; at most {max_batch_size} are allowed "
            f"per request (set by {MAX_BATCH_ENV} or attnkit serve --max-batch-size)"
        )
    for index, record in enumerate(records):
        for field in fields:
            value = _plain(record[field])
            if value is None:
                raise InvalidRequest(f"record {index}: field {field!r} is missing (null)")
            if isinstance(value, str) and not value.strip():
                raise InvalidRequest(f"record {index}: field {field!r} is empty")
            record[field] = value
    return records
