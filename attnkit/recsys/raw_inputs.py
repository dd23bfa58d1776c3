"""Raw prediction inputs of the sequence CTR task: a user's history and candidate items.

A record is ``{"history": [item ids, oldest first], "candidates": [item ids]}`` (a single
candidate may be given bare). Ids are strings or integers, as in the log.

Example:
    >>> parse_records([{"history": [1193, "661"], "candidates": 914}]).to_dicts()
    [{'history': ['1193', '661'], 'candidates': ['914']}]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from attnkit.errors import AttnkitError, DataError

FIELDS = ("history", "candidates")
SCHEMA = {"history": pl.List(pl.Utf8), "candidates": pl.List(pl.Utf8)}


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray | pl.Series | pd.Series):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _ids(value: Any, index: int, field: str, allow_scalar: bool) -> list[str]:
    value = _plain(value)
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)  # a JSON list sent as a string (CSV, some clients)
        except json.JSONDecodeError:
            pass
    if allow_scalar and (isinstance(value, str) or isinstance(value, int) and not isinstance(value, bool)):
        value = [value]
    if not isinstance(value, list | tuple):
        raise AttnkitError(f"record {index}: field {field!r} must be a list of item ids, got "
                           f"{type(value).__name__}")
    out = []
    for position, item in enumerate(value):
        item = _plain(item)
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise AttnkitError(f"record {index}: {field}[{position}] must be an item id (string "
                               f"or integer), got {type(item).__name__}")
        if isinstance(item, str) and not item.strip():
            raise AttnkitError(f"record {index}: {field}[{position}] is an empty id")
        out.append(str(item).strip())
    return out


def parse_records(records: Any) -> pl.DataFrame:
    """Records (dicts, a pandas or polars DataFrame) -> a frame with ``history`` and
    ``candidates`` list columns; raises :class:`AttnkitError` naming the record and field."""
    if isinstance(records, pl.DataFrame):
        records = records.to_dicts()
    elif isinstance(records, pd.DataFrame):
        records = records.to_dict("records")
    if isinstance(records, dict):
        records = [records]
    rows: dict[str, list] = {field: [] for field in FIELDS}
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise AttnkitError(f"record {index}: expected an object with 'history' and "
                               f"'candidates', got {type(record).__name__}")
        for field in FIELDS:
            if field not in record or record[field] is None:
                raise AttnkitError(f"record {index}: missing field {field!r}")
        candidates = _ids(record["candidates"], index, "candidates", allow_scalar=True)
        if not candidates:
            raise AttnkitError(f"record {index}: field 'candidates' is empty")
        rows["history"].append(_ids(record["history"], index, "history", allow_scalar=False))
        rows["candidates"].append(candidates)
    return pl.DataFrame(rows, schema=SCHEMA)


def read_records(path: Path) -> pl.DataFrame:
    """A JSON Lines file of records (or one JSON list of them)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise DataError(path, "file is empty")
    if text.startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(path, f"not valid JSON ({error.msg})", line=error.lineno) from None
    else:
        records = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise DataError(path, f"not valid JSON ({error.msg})", line=number) from None
    try:
        return parse_records(records)
    except AttnkitError as error:
        raise DataError(path, str(error)) from None
