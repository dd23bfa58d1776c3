"""Turning per-example answers into tables and files.

Example:
    >>> answers_to_frame([{"label": "1", "probabilities": {"0": 0.2, "1": 0.8}}]).columns.tolist()
    ['label', 'probability_0', 'probability_1']
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd


def answers_to_frame(answers: list[dict]) -> pd.DataFrame:
    """Flatten answers: ``probabilities`` become ``probability_<label>`` columns; nested
    values (attention) become JSON strings."""
    rows = []
    for answer in answers:
        row = {}
        for key, value in answer.items():
            if key == "probabilities":
                row.update({f"probability_{label}": p for label, p in value.items()})
            elif isinstance(value, (list, dict)):
                row[key] = json.dumps(value)
            else:
                row[key] = value
        rows.append(row)
    return pd.DataFrame(rows)


def write_atomically(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so no half-written file remains."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
