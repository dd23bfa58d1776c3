"""Tests for attnkit.data.splits.load_splits on tiny hand-written directories."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from attnkit.data.splits import DataSplit, load_splits
from attnkit.errors import ConfigError, DataError


def pairs(path: Path, count: int, label: str = "World") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(f"story {i}\t{label}\n" for i in range(count)), encoding="utf-8"
    )
    return path


def texts(split: DataSplit) -> set[str]:
    return set(split.frame["text"].to_list())


def test_directory_discovery(tmp_path: Path) -> None:
    train = pairs(tmp_path / "train.tsv", 5)
    dev = pairs(tmp_path / "valid.tsv", 2)
    test = pairs(tmp_path / "test.tsv", 3)
    (tmp_path / "README.md").write_text("# notes\n")
    (tmp_path / "SOURCE").write_text("where from\n")
    splits = load_splits(tmp_path)
    assert list(splits) == ["train", "dev", "test"]
    assert [(s.name, s.path, s.frame.height) for s in splits.values()] == [
        ("train", train, 5),
        ("dev", dev, 2),
        ("test", test, 3),
    ]


def test_directory_without_dev_or_test_carves_dev(tmp_path: Path) -> None:
    train = pairs(tmp_path / "train.tsv", 20)
    splits = load_splits(tmp_path, dev_fraction=0.25)
    assert list(splits) == ["train", "dev"]
    assert (splits["train"].frame.height, splits["dev"].frame.height) == (15, 5)
    assert splits["dev"].path == train
    assert not texts(splits["train"]) & texts(splits["dev"])


def test_named_files_carve_dev_and_use_formats(tmp_path: Path) -> None:
    train = pairs(tmp_path / "sub" / "pairs.txt", 10)
    test = tmp_path / "other" / "stsa.test"
    test.parent.mkdir()
    test.write_text("1 fine .\n0 dull .\n", encoding="utf-8")
    splits = load_splits(
        tmp_path,
        files={"train": "sub/pairs.txt", "test": "other/stsa.test"},
        formats={"train": "tsv-pairs"},
        seed=3,
    )
    assert list(splits) == ["train", "dev", "test"]
    assert splits["train"].frame.height + splits["dev"].frame.height == 10
    assert splits["dev"].path == splits["train"].path == train
    assert splits["test"].path == test
    assert splits["test"].frame["label"].to_list() == ["1", "0"]


def test_named_files_absent_fall_back_to_discovery(tmp_path: Path) -> None:
    pairs(tmp_path / "train.tsv", 4)
    splits = load_splits(tmp_path, files={"train": "glue/train.tsv"})
    assert splits["train"].path == tmp_path / "train.tsv"


def test_single_file_split_sizes_and_disjointness(tmp_path: Path) -> None:
    path = pairs(tmp_path / "all.tsv", 50)
    splits = load_splits(path, dev_fraction=0.1, test_fraction=0.2, seed=1)
    sizes = {name: split.frame.height for name, split in splits.items()}
    assert sizes == {"train": 35, "dev": 5, "test": 10}
    train, dev, test = (texts(splits[name]) for name in ("train", "dev", "test"))
    assert not (train & dev or train & test or dev & test)
    assert len(train | dev | test) == 50
    assert all(split.path == path for split in splits.values())


def test_single_file_split_is_deterministic_by_seed(tmp_path: Path) -> None:
    path = pairs(tmp_path / "all.tsv", 40)
    first = load_splits(path, seed=7)
    pl.set_random_seed(123)  # polars' global RNG must not matter
    again = load_splits(path, seed=7)
    other = load_splits(path, seed=8)
    assert first["dev"].frame.equals(again["dev"].frame)
    assert not first["dev"].frame.equals(other["dev"].frame)


def test_tiny_file_gives_every_split_a_row(tmp_path: Path) -> None:
    splits = load_splits(pairs(tmp_path / "all.tsv", 3))
    assert [split.frame.height for split in splits.values()] == [1, 1, 1]


def test_too_few_rows_to_split(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="need at least 3 rows to split"):
        load_splits(pairs(tmp_path / "all.tsv", 2))


def test_missing_train_file(tmp_path: Path) -> None:
    pairs(tmp_path / "test.tsv", 3)
    with pytest.raises(
        DataError, match=r"no train file found \(looked for train\.\*\)"
    ):
        load_splits(tmp_path)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_splits(tmp_path / "nowhere")


def test_bad_options(tmp_path: Path) -> None:
    pairs(tmp_path / "train.tsv", 4)
    with pytest.raises(ConfigError, match="dev_fraction"):
        load_splits(tmp_path, dev_fraction=1.5)
    with pytest.raises(ConfigError, match="unknown split 'validation'"):
        load_splits(tmp_path, files={"validation": "train.tsv"})
