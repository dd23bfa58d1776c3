"""Synthetic interaction logs with a learnable signal, for tests and memory benchmarks.

Each user prefers a few categories and clicks mostly items of those; items belong to one
category and their popularity is Zipf-like. Rows are written in user chunks (CSV with a
header: ``user,item,category,timestamp``, or Parquet), so 10M rows need little memory.

Example:
    >>> path = make_synthetic_log("log.csv", users=50, mean_length=30, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl


def synthetic_chunk(first_user: int, users: int, items: int, categories: int,
                    mean_length: int, rng: np.random.Generator) -> pl.DataFrame:
    """Interactions of users ``first_user .. first_user + users - 1``."""
    item_category = np.arange(items) % categories
    popularity = 1.0 / np.arange(1, items + 1) ** 0.8
    lengths = np.maximum(rng.poisson(mean_length, users), 3)
    owner = np.repeat(np.arange(users), lengths)
    favourite = rng.integers(0, categories, (users, 2))
    by_category = [np.flatnonzero(item_category == c) for c in range(categories)]
    picked = np.empty(len(owner), dtype=np.int64)
    liked = rng.random(len(owner)) < 0.8  # the rest: any item, by popularity
    preferred = favourite[owner, rng.integers(0, 2, len(owner))]
    for c in range(categories):
        pool = by_category[c]
        wanted = liked & (preferred == c)
        picked[wanted] = rng.choice(pool, wanted.sum(), p=popularity[pool] / popularity[pool].sum())
    rest = ~liked
    picked[rest] = rng.choice(items, rest.sum(), p=popularity / popularity.sum())
    start = rng.integers(1_500_000_000, 1_510_000_000, users)
    stamps = start[owner] + np.arange(len(owner)) * 60
    return pl.DataFrame({
        "user": (owner + first_user).astype(np.int64),
        "item": (picked + 1).astype(np.int64),
        "category": (item_category[picked] + 1).astype(np.int64),
        "timestamp": stamps.astype(np.int64),
    })


def make_synthetic_log(path: str | Path, users: int = 100, items: int = 500,
                       categories: int = 10, mean_length: int = 40, seed: int = 0,
                       chunk_users: int = 20_000) -> Path:
    """Write a log of about ``users * mean_length`` rows to ``path`` (``.csv`` or ``.parquet``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if path.suffix == ".parquet":
        parts = [synthetic_chunk(first, min(chunk_users, users - first), items, categories,
                                 mean_length, rng) for first in range(0, users, chunk_users)]
        pl.concat(parts).write_parquet(path)
        return path
    with path.open("wb") as out:
        for index, first in enumerate(range(0, users, chunk_users)):
            chunk = synthetic_chunk(first, min(chunk_users, users - first), items, categories,
                                    mean_length, rng)
            chunk.write_csv(out, include_header=index == 0)
    return path
