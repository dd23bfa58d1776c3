"""Labels to class indices, with an error that names the file, line and split.

Example:
    >>> encode_split_labels(split, ["negative", "positive"])  # doctest: +SKIP
    array([1, 0, 1], dtype=int32)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from attnkit.data.splits import DataSplit
from attnkit.errors import DataError


def encode_split_labels(split: DataSplit, labels: Sequence[str]) -> np.ndarray:
    """Index of each row's label in ``labels``; a missing or unknown label is a DataError."""
    labels = list(labels)
    frame = split.frame
    unknown = frame.filter(pl.col("label").is_null() | ~pl.col("label").is_in(labels))
    if unknown.height:
        row = unknown.row(0, named=True)
        found = "no label" if row["label"] is None else f"label {row['label']!r}"
        raise DataError(
            split.path,
            f"{found} in the {split.name} split; expected one of {labels}",
            line=row.get("_line"),
            field="label",
        )
    index = {label: i for i, label in enumerate(labels)}
    return np.array([index[label] for label in frame["label"].to_list()], dtype="int32")
