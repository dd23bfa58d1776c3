"""Find or carve the train / dev / test splits of a text-classification data set.

Example:
    >>> splits = load_splits("data/sst2", files={"train": "glue-SST-2/train.tsv",
    ...                                          "dev": "glue-SST-2/dev.tsv"})  # doctest: +SKIP
    >>> sorted(splits)  # doctest: +SKIP
    ['dev', 'train']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from attnkit.data.files import PathArg
from attnkit.data.text_readers import read_text_file
from attnkit.errors import ConfigError, DataError

SPLIT_STEMS: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "dev": ("dev", "valid", "validation", "val"),
    "test": ("test",),
}
_IGNORED_SUFFIXES = (".md",)
_IGNORED_PREFIXES = ("SOURCE", "README")

Reader = Callable[[Path, str], pl.DataFrame]


@dataclass(frozen=True)
class DataSplit:
    """One split: its name, the file its rows came from, and the rows.

    Example:
        >>> DataSplit("dev", Path("train.tsv"), frame).path  # doctest: +SKIP
        PosixPath('train.tsv')
    """

    name: str
    path: Path
    frame: pl.DataFrame


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ConfigError(f"{name} must be between 0 and 1 (exclusive), got {value}")


def _take(frame: pl.DataFrame, rows: np.ndarray) -> pl.DataFrame:
    # Sorted so each split keeps file order; shuffling for training happens later.
    return frame[np.sort(rows).tolist()]


def _carve(
    file: Path, frame: pl.DataFrame, fractions: list[float], seed: int
) -> list[pl.DataFrame]:
    """Split ``frame`` into the rest, then one part per fraction; each gets >= 1 row.

    numpy's seeded RNG, not polars', keeps this reproducible whatever else touched a
    global RNG.
    """
    needed = len(fractions) + 1
    if frame.height < needed:
        raise DataError(
            file, f"need at least {needed} rows to split, found {frame.height}"
        )
    sizes = [max(1, round(frame.height * fraction)) for fraction in fractions]
    rest = frame.height - sum(sizes)
    if rest < 1:
        raise DataError(
            file, f"{frame.height} rows are too few to split by {fractions}"
        )
    order = np.random.default_rng(seed).permutation(frame.height)
    bounds = np.cumsum([rest, *sizes])
    parts = np.split(order, bounds[:-1])
    return [_take(frame, part) for part in parts]


def _split_file(
    file: Path, frame: pl.DataFrame, dev: float, test: float, seed: int
) -> dict[str, DataSplit]:
    train, dev_frame, test_frame = _carve(file, frame, [dev, test], seed)
    return {
        "train": DataSplit("train", file, train),
        "dev": DataSplit("dev", file, dev_frame),
        "test": DataSplit("test", file, test_frame),
    }


def _carve_dev(
    train: DataSplit, dev_fraction: float, seed: int
) -> tuple[DataSplit, DataSplit]:
    rest, dev = _carve(train.path, train.frame, [dev_fraction], seed)
    return DataSplit("train", train.path, rest), DataSplit("dev", train.path, dev)


def _check_split_names(option: str, names: Mapping[str, str] | None) -> None:
    unknown = sorted(set(names or {}) - set(SPLIT_STEMS))
    if unknown:
        raise ConfigError(
            f"{option} has unknown split {unknown[0]!r}; expected train, dev or test"
        )


def _is_data_file(file: Path) -> bool:
    return (
        file.is_file()
        and not file.name.startswith(".")
        and file.suffix.lower() not in _IGNORED_SUFFIXES
        and not file.name.upper().startswith(_IGNORED_PREFIXES)
    )


def _discover(directory: Path) -> dict[str, Path]:
    """Map split name to the file in ``directory`` named ``<stem>.*`` for that split."""
    found: dict[str, Path] = {}
    files = sorted(file for file in directory.iterdir() if _is_data_file(file))
    for split, stems in SPLIT_STEMS.items():
        matches = [
            file
            for file in files
            if file.name.split(".")[0] in stems and "." in file.name
        ]
        if len(matches) > 1:
            names = ", ".join(file.name for file in matches)
            raise DataError(directory, f"more than one {split} file: {names}")
        if matches:
            found[split] = matches[0]
    return found


def _named(directory: Path, files: Mapping[str, str]) -> dict[str, Path] | None:
    """Resolve ``files`` under ``directory``; None when none of them exist."""
    paths = {split: directory / name for split, name in files.items()}
    missing = [path for path in paths.values() if not path.is_file()]
    if len(missing) == len(paths):
        return None
    if missing:
        raise DataError(missing[0], "not found (named in files)")
    return paths


def load_splits(
    path: PathArg,
    *,
    files: Mapping[str, str] | None = None,
    formats: Mapping[str, str] | None = None,
    dev_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    read: Reader = read_text_file,
) -> dict[str, DataSplit]:
    """Return ``{"train", "dev"[, "test"]}`` splits from a file or a directory.

    A single file is shuffled (seeded) into all three splits. In a directory the
    files come from ``files`` (split -> relative path) or, when those are absent,
    from names like ``train.*``, ``dev.*``/``valid.*``, ``test.*``. A missing dev
    split is carved from train; a missing test split stays missing. ``formats``
    maps split -> format name for ``read`` (default ``"auto"``; a single file uses
    the ``"train"`` entry).

    Example:
        >>> splits = load_splits("reviews.jsonl", seed=1)  # doctest: +SKIP
        >>> {name: split.frame.height for name, split in splits.items()}  # doctest: +SKIP
        {'train': 800, 'dev': 100, 'test': 100}
    """
    _check_fraction("dev_fraction", dev_fraction)
    _check_fraction("test_fraction", test_fraction)
    _check_split_names("files", files)
    _check_split_names("formats", formats)
    root = Path(path)
    fmt = dict(formats or {})
    if not root.exists():
        raise DataError(root, "not found")
    if root.is_file():
        frame = read(root, fmt.get("train", "auto"))
        return _split_file(root, frame, dev_fraction, test_fraction, seed)

    paths = _named(root, files) if files else None
    if paths is None:
        paths = _discover(root)
    if "train" not in paths:
        looked = "train.*" if not files else f"{', '.join(files.values())} or train.*"
        raise DataError(root, f"no train file found (looked for {looked})")

    splits = {
        split: DataSplit(split, file, read(file, fmt.get(split, "auto")))
        for split, file in paths.items()
    }
    if "dev" not in splits:
        splits["train"], splits["dev"] = _carve_dev(splits["train"], dev_fraction, seed)
    return {name: splits[name] for name in SPLIT_STEMS if name in splits}
