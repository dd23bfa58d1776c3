"""The sequence builder on a small hand-made log, the log readers and bad logs."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from attnkit.errors import DataError
from attnkit.recsys.task import SequentialCTRTask

TASK = SequentialCTRTask()
#: Targets at -3 and -5 for training, -2 dev, -1 test; one negative each; histories of 4.
DATA = {**TASK.data_defaults, "train_offset_start": 3, "train_offset_step": 2,
        "train_targets": 2, "negatives": 1, "min_behaviours": 1}


def write_log(path: Path) -> Path:
    """User A: items 101..112 (time order), user B: 201..204, user C: 301..330 (the pool
    negatives come from). Rows are shuffled so the reader has to sort by time."""
    rows = [("A", 100 + i, "x", 1000 + i) for i in range(1, 13)]
    rows += [("B", 200 + i, "y", 5000 + i) for i in range(1, 5)]
    rows += [("C", 300 + i, "z", 9000 + i) for i in range(1, 31)]
    order = np.random.default_rng(0).permutation(len(rows))
    lines = ["user,item,category,timestamp"] + [",".join(map(str, rows[i])) for i in order]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def splits(tmp_path: Path):
    return TASK.read_splits(write_log(tmp_path / "log.csv"), DATA, seed=0)


def raw_examples(split, max_length=4):
    """(user, history raw ids, target raw id, label) of every example."""
    log, frame = split.log, split.frame
    out = []
    for user, end, item, label in frame.select("user", "end", "item", "label").iter_rows():
        begin = max(int(log.starts[user]), end - max_length)
        history = [int(x) for x in log.item_vocabulary[log.items[begin:end]]]
        out.append((str(log.users[user]), history, int(log.item_vocabulary[item]), label))
    return out


def test_positions_histories_and_padding(splits, tmp_path: Path) -> None:
    positives = {name: [e for e in raw_examples(split) if e[3] == 1] for name, split in splits.items()}
    assert ("A", [106, 107, 108, 109], 110, 1) in positives["train"]  # target at -3
    assert ("A", [104, 105, 106, 107], 108, 1) in positives["train"]  # target at -5
    assert ("B", [201], 202, 1) in positives["train"]                 # -3; -5 does not exist
    assert len([e for e in positives["train"] if e[0] == "B"]) == 1
    assert ("A", [107, 108, 109, 110], 111, 1) in positives["dev"]
    assert ("A", [108, 109, 110, 111], 112, 1) in positives["test"]
    assert ("B", [201, 202, 203], 204, 1) in positives["test"]
    # Batches left-pad the short history with 0 and cut long ones to max_length.
    maps = TASK.fit_preprocessor(splits["train"], {"max_length": 4, "min_item_count": 1})
    batch = TASK.batches(maps, splits["test"], 64, shuffle=False, seed=0)[0][0]
    assert batch["history_items"].shape[1] == 4
    decoded = [[maps.items[i - 2] if i > 1 else i for i in row] for row in batch["history_items"]]
    assert [0, "201", "202", 1] in decoded  # B's test history, left-padded; 203 unknown
    assert ["108", "109", "110", 1] in decoded  # A's: 111 is a dev target only -> unknown (1)


def test_no_negative_from_the_history_and_no_test_leak(splits) -> None:
    logs = splits["train"].log
    whole = {str(u): set() for u in logs.users}
    for index, user in enumerate(logs.users):
        span = logs.items[logs.starts[index]:logs.starts[index + 1]]
        whole[str(user)] = {int(x) for x in logs.item_vocabulary[span]}
    test_targets = {e[0]: e[2] for e in raw_examples(splits["test"], 100) if e[3] == 1}
    for split in splits.values():
        examples = raw_examples(split, max_length=100)
        negatives = [e for e in examples if e[3] == 0]
        assert len(negatives) == len(examples) // 2  # one per positive
        for user, history, item, label in examples:
            if label == 0:
                assert item not in whole[user]
            assert test_targets[user] not in history  # the last behaviour is in no history


def test_id_maps_are_built_on_training_data(splits) -> None:
    maps = TASK.fit_preprocessor(splits["train"], {"max_length": 4, "min_item_count": 1})
    seen = {str(i) for _, history, item, _ in raw_examples(splits["train"]) for i in [*history, item]}
    assert set(maps.items) == seen  # histories (cut to max_length) and targets, negatives too
    assert "112" not in maps.items  # A's test target is in no training example
    encoded = maps.encode_items(["110", "112", "nope"])
    assert encoded[0] >= 2 and encoded[1] == 1 and encoded[2] == 1  # unknown -> reserved bucket
    assert maps.categories_of(encoded).tolist()[1:] == [1, 1]
    restored = TASK.load_preprocessor(maps.to_dict())
    assert restored.to_dict() == maps.to_dict()


def test_negatives_follow_the_seed(tmp_path: Path) -> None:
    log = write_log(tmp_path / "log.csv")
    first = TASK.read_splits(log, DATA, seed=3)["train"].frame
    again = TASK.read_splits(log, DATA, seed=3)["train"].frame
    other = TASK.read_splits(log, DATA, seed=4)["train"].frame
    assert first.equals(again) and not first.equals(other)


def test_movielens_gzip_with_genres_and_taobao_truncated_line(tmp_path: Path) -> None:
    folder = tmp_path / "ml"
    folder.mkdir()
    with gzip.open(folder / "ratings.dat.gz", "wt") as out:
        out.write("".join(f"1::{m}::4::{978300000 + m}\n" for m in (10, 20, 30)))
    (folder / "movies.dat").write_bytes("10::A (1995)::Comedy|Drama\n20::Mis\xe9rables::Drama\n"
                                        "30::C::Horror\n".encode("latin-1"))
    log = TASK._log(folder, {**DATA, "min_behaviours": 1})
    assert log.item_vocabulary.tolist() == ["10", "20", "30"]
    assert log.category_vocabulary[log.categories].tolist() == ["Comedy", "Drama", "Horror"]

    taobao = tmp_path / "UserBehavior.csv"
    taobao.write_text("1,5,7,pv,100\n1,6,7,buy,101\n1,8,9,pv,102\n2,5,7,pv")  # cut-off last line
    log = TASK._log(taobao, {**DATA, "min_behaviours": 1})
    assert log.item_vocabulary[log.items].tolist() == ["5", "8"]  # buy dropped, cut line dropped
    taobao.write_text("1,5,7,pv,100\n1,6,7,pv\n1,8,9,pv,102\n")
    with pytest.raises(DataError, match=r"UserBehavior.csv, line 2, field 'timestamp'"):
        TASK._log(taobao, DATA)


@pytest.mark.parametrize(("content", "message"), [
    ("user,item,timestamp\n1,2,3\n", r"log.csv, field 'category': missing column 'category'"),
    ("user,item,category,timestamp\n1,2,3,4\n1,3,3,yesterday\n",
     r"log.csv, line 3, field 'timestamp': timestamp 'yesterday' is not a number"),
    ("", r"log.csv: file is empty"),
    ("user,item,category,timestamp\n", r"log.csv: no interactions"),
    ("user,item,category,timestamp\n1,,3,4\n", r"log.csv, line 2, field 'item': missing item"),
])
def test_bad_logs_give_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "log.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        TASK.read_splits(path, DATA, seed=0)


def test_missing_file_and_folder_without_a_log(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        TASK.read_splits(tmp_path / "nothing.csv", DATA, seed=0)
    with pytest.raises(DataError, match="no interaction log found"):
        TASK.read_splits(tmp_path, DATA, seed=0)
