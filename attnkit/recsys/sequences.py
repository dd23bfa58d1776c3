"""From an interaction log to CTR examples over behaviour sequences (DARE's data preparation).

The log is sorted per user by time (ties by file line) and stored once, as flat arrays of
item and category codes with per-user offsets (:class:`BehaviourLog`). An example is
``(user, end, item, category, label)``: its history is the user's behaviours before flat
index ``end`` (the last ``max_length`` of them, cut at batching time), so examples cost a
few bytes each however long the histories are, and 10M interactions fit in a few hundred MB.

Per user with L behaviours (spec §5, DARE ``preprocess/taobao_v4.py``): training targets at
``L - k`` for ``k`` in ``train_offsets`` (3, 8, ..., 93), the validation target at ``L - 2``,
the test target at ``L - 1`` (the last behaviour); a target needs at least ``min_history``
earlier behaviours. Every positive gets ``negatives`` items drawn in proportion to their
frequency in the log, none of them anywhere in that user's sequence, with the positive's
history. No history ever contains its own target or anything after it.

Example:
    >>> log = build_log(frame, path)  # doctest: +SKIP
    >>> splits = make_examples(log, ExampleSpec(), seed=0)  # doctest: +SKIP
    >>> sorted(splits)  # doctest: +SKIP
    ['dev', 'test', 'train']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from attnkit.errors import ConfigError, DataError

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class BehaviourLog:
    """Users' behaviours in time order: flat code arrays and per-user offsets.

    ``items[starts[u]:starts[u + 1]]`` are user ``u``'s item codes, oldest first; codes index
    ``item_vocabulary`` / ``category_vocabulary`` (the raw ids, as strings).
    """

    path: Path
    users: np.ndarray
    starts: np.ndarray
    items: np.ndarray
    categories: np.ndarray
    item_vocabulary: np.ndarray
    category_vocabulary: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.starts)

    def item_categories(self) -> np.ndarray:
        """The category code of every item code (its first occurrence in the log)."""
        out = np.zeros(len(self.item_vocabulary), dtype=np.int32)
        order = np.arange(len(self.items))[::-1]  # later writes win: reversed -> first occurrence
        out[self.items[order]] = self.categories[order]
        return out


@dataclass(frozen=True)
class ExampleSpec:
    """Where the targets are and how many negatives each positive gets (``[data]`` keys)."""

    train_offsets: tuple[int, ...] = tuple(range(3, 94, 5))
    dev_offset: int = 2
    test_offset: int = 1
    negatives: int = 2
    min_history: int = 1
    min_behaviours: int = 1

    def __post_init__(self) -> None:
        offsets = [*self.train_offsets, self.dev_offset, self.test_offset]
        if min(offsets) < 1:
            raise ConfigError("target offsets count from the end and must be >= 1")
        if len(set(offsets)) != len(offsets):
            raise ConfigError(f"train, dev and test target offsets overlap: {offsets}")
        if self.negatives < 0 or self.min_history < 0 or self.min_behaviours < 1:
            raise ConfigError("negatives, min_history must be >= 0 and min_behaviours >= 1")


@dataclass(frozen=True)
class Examples:
    """One split's examples, as a polars frame with int columns."""

    frame: pl.DataFrame = field(repr=False)

    @property
    def size(self) -> int:
        return self.frame.height


def build_log(frame: pl.DataFrame, path: Path, min_behaviours: int = 1) -> BehaviourLog:
    """Encode and sort a checked log (:func:`attnkit.recsys.log_readers.collect_log`);
    users with fewer than ``min_behaviours`` behaviours are dropped."""
    codes = frame.select(
        (pl.col(column).rank("dense") - 1).cast(pl.Int32).alias(column)
        for column in ("user", "item", "category")
    ).with_columns(frame["timestamp"], frame["line"])
    if min_behaviours > 1:
        codes = codes.filter(pl.len().over("user") >= min_behaviours)
    ordered = codes.sort(["user", "timestamp", "line"])
    if ordered.height == 0:
        raise DataError(path, f"no user has at least {min_behaviours} behaviours "
                              "(data.min_behaviours)")
    user_codes = ordered["user"].to_numpy()
    first = np.flatnonzero(np.r_[True, user_codes[1:] != user_codes[:-1]])
    counts = np.diff(np.r_[first, len(user_codes)])
    vocabularies = {column: frame[column].unique().sort().to_numpy()
                    for column in ("user", "item", "category")}
    return BehaviourLog(
        path=Path(path),
        users=vocabularies["user"][user_codes[first]],
        starts=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        items=ordered["item"].to_numpy().astype(np.int32),
        categories=ordered["category"].to_numpy().astype(np.int32),
        item_vocabulary=vocabularies["item"],
        category_vocabulary=vocabularies["category"],
    )


def _positives(log: BehaviourLog, offsets: tuple[int, ...], min_history: int):
    """(user, end) of every target at ``L - k`` with at least ``min_history`` behaviours before."""
    lengths = log.lengths
    users, ends = [], []
    for offset in offsets:
        position = lengths - offset  # index of the target within the user's sequence
        keep = np.flatnonzero(position >= max(min_history, 0))
        users.append(keep)
        ends.append(log.starts[keep] + position[keep])
    users = np.concatenate(users).astype(np.int32)
    ends = np.concatenate(ends).astype(np.int64)
    order = np.lexsort((ends, users))
    return users[order], ends[order]


def seen_keys(log: BehaviourLog) -> np.ndarray:
    """Sorted ``user * vocabulary + item`` keys of every behaviour (for membership tests)."""
    owner = np.repeat(np.arange(len(log.users), dtype=np.int64), log.lengths)
    keys = owner * len(log.item_vocabulary) + log.items
    keys.sort()
    return keys


def _sample_negatives(log: BehaviourLog, users: np.ndarray, count: int,
                      rng: np.random.Generator, seen: np.ndarray) -> np.ndarray:
    """``count`` item codes per entry of ``users``, drawn in proportion to item frequency,
    none of them in that user's sequence (``seen``: :func:`seen_keys`)."""
    vocabulary = len(log.item_vocabulary)
    frequency = np.bincount(log.items, minlength=vocabulary).astype(np.float64)
    cumulative = np.cumsum(frequency)
    wanted = np.repeat(users.astype(np.int64), count)
    drawn = np.empty(len(wanted), dtype=np.int64)
    todo = np.arange(len(wanted))
    for _ in range(1000):
        if len(todo) == 0:
            break
        pick = np.searchsorted(cumulative, rng.random(len(todo)) * cumulative[-1], side="right")
        pick = np.minimum(pick, vocabulary - 1)
        keys = wanted[todo] * vocabulary + pick
        slot = np.minimum(np.searchsorted(seen, keys), len(seen) - 1)
        ok = seen[slot] != keys
        drawn[todo[ok]] = pick[ok]
        todo = todo[~ok]
    if len(todo):
        user = log.users[wanted[todo[0]]]
        raise DataError(log.path, f"cannot sample negatives for user {user!r}: they have "
                                  "interacted with (almost) every item")
    return drawn.reshape(len(users), count)


def _split_examples(log: BehaviourLog, users: np.ndarray, ends: np.ndarray, negatives: int,
                    item_categories: np.ndarray, rng: np.random.Generator,
                    seen: np.ndarray) -> Examples:
    items = log.items[ends]
    columns = {
        "user": [users], "end": [ends], "item": [items], "label": [np.ones(len(users), np.int8)],
    }
    if negatives:
        drawn = _sample_negatives(log, users, negatives, rng, seen)
        for column in range(negatives):
            columns["user"].append(users)
            columns["end"].append(ends)
            columns["item"].append(drawn[:, column].astype(np.int32))
            columns["label"].append(np.zeros(len(users), np.int8))
    # Interleave each positive with its negatives (stable order: user, position, positive first).
    stacked = {name: np.stack(parts, axis=1).reshape(-1) for name, parts in columns.items()}
    stacked["category"] = item_categories[stacked["item"]]
    categories = stacked.pop("category")
    frame = pl.DataFrame({
        "user": stacked["user"].astype(np.int32), "end": stacked["end"].astype(np.int64),
        "item": stacked["item"].astype(np.int32), "category": categories.astype(np.int32),
        "label": stacked["label"],
    })
    return Examples(frame)


def make_examples(log: BehaviourLog, spec: ExampleSpec, seed: int,
                  splits: tuple[str, ...] = SPLITS) -> dict[str, Examples]:
    """Train / dev / test examples; negatives are seeded by (``seed``, split)."""
    offsets = {"train": tuple(spec.train_offsets), "dev": (spec.dev_offset,),
               "test": (spec.test_offset,)}
    item_categories = log.item_categories()
    seen = seen_keys(log) if spec.negatives else np.zeros(0, np.int64)
    out = {}
    for index, name in enumerate(SPLITS):
        if name not in splits:
            continue
        users, ends = _positives(log, offsets[name], spec.min_history)
        if len(users) == 0:
            raise DataError(log.path, f"no {name} examples: no user has a target at offset "
                                      f"{offsets[name]} with {spec.min_history} earlier behaviours")
        rng = np.random.default_rng([seed, index])
        out[name] = _split_examples(log, users, ends, spec.negatives, item_categories, rng, seen)
    return out


def history_coverage(log: BehaviourLog, examples: Examples, max_length: int) -> np.ndarray:
    """Boolean mask over the flat log: the behaviours some example's history contains."""
    ends = examples.frame["end"].to_numpy()
    users = examples.frame["user"].to_numpy()
    begins = np.maximum(log.starts[users], ends - max_length)
    marks = np.zeros(len(log.items) + 1, dtype=np.int64)
    np.add.at(marks, begins, 1)
    np.add.at(marks, ends, -1)
    return np.cumsum(marks[:-1]) > 0
