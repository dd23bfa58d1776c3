"""Text-pair readers on hand-written files: MSRP with and without its header, pair tables,
unlabelled pair lines, and their bad cases (file, line and field in every error)."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnkit.errors import ConfigError, DataError
from attnkit.tasks.text_pairs.readers import (
    detect_pair_format,
    read_msrp,
    read_pair_file,
    read_pair_table,
)

HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
ROWS = (
    '1\t702876\t702977\tAmrozi accused his brother, whom he called "the witness".\t'
    'Referring to him as only "the witness", Amrozi accused his brother.\n'
    "0\t2108705\t2108831\tYucaipa owned Dominick's before 1998.\tYucaipa bought Dominick's in 1995.\n"
)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


@pytest.mark.parametrize("header", [True, False], ids=["with-header", "without-header"])
def test_msrp_with_and_without_header(tmp_path: Path, header: bool) -> None:
    # The official files start with a byte-order mark and use CRLF; quotes stay unbalanced.
    text = ("\ufeff" + HEADER if header else "\ufeff") + ROWS.replace("\n", "\r\n")
    path = write(tmp_path / "msr_paraphrase_train.txt", text)
    frame = read_msrp(path)
    assert frame.columns == ["text_a", "text_b", "label", "_line"]
    assert frame["label"].to_list() == ["1", "0"]
    assert frame["text_a"][0] == 'Amrozi accused his brother, whom he called "the witness".'
    assert frame["text_b"][1] == "Yucaipa bought Dominick's in 1995."
    assert frame["_line"].to_list() == ([2, 3] if header else [1, 2])
    assert detect_pair_format(path) == "msrp"
    assert read_pair_file(path).equals(frame)


@pytest.mark.parametrize(
    ("line", "message", "field"),
    [
        ("1\t1\t2\tonly four fields\n", "expected 5 tab-separated fields", None),
        ("2\t1\t2\ta\tb\n", "expected 0 or 1, found '2'", "Quality"),
        ("yes\t1\t2\ta\tb\n", "expected 0 or 1", "Quality"),
        ("1\t1\t2\t  \tb\n", "empty or missing text", "#1 String"),
        ("0\t1\t2\ta\t\n", "empty or missing text", "#2 String"),
    ],
)
def test_bad_msrp_lines_name_file_line_and_field(tmp_path: Path, line, message, field) -> None:
    path = write(tmp_path / "bad.txt", HEADER + ROWS + line)
    with pytest.raises(DataError, match=message) as caught:
        read_msrp(path)
    assert (caught.value.path, caught.value.line, caught.value.field) == (str(path), 4, field)


def test_msrp_header_only_and_missing_or_empty_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no data rows"):
        read_msrp(write(tmp_path / "header.txt", HEADER))
    with pytest.raises(DataError, match="file is empty"):
        read_msrp(write(tmp_path / "empty.txt", "\n \n"))
    with pytest.raises(DataError, match="file not found"):
        read_msrp(tmp_path / "missing.txt")
    with pytest.raises(DataError, match="undecodable bytes at line 2"):
        (tmp_path / "latin.txt").write_bytes(HEADER.encode() + "1\t1\t2\tcaf\u00e9\tb\n".encode("latin-1"))
        read_msrp(tmp_path / "latin.txt")


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_generic_pair_tables(tmp_path: Path, suffix: str) -> None:
    if suffix == ".csv":
        text = 'text_a,text_b,label\n"a cat, sat",the cat sat,1\nrain,sun,0\n'
    elif suffix == ".tsv":
        text = "label\ttext_a\ttext_b\n1\ta cat, sat\tthe cat sat\n0\train\tsun\n"
    else:
        text = ('{"text_a": "a cat, sat", "text_b": "the cat sat", "label": 1}\n\n'
                '{"text_a": "rain", "text_b": "sun", "label": "0"}\n')
    path = write(tmp_path / f"pairs{suffix}", text)
    frame = read_pair_file(path)
    assert detect_pair_format(path) == "table"
    assert frame.select("text_a", "text_b", "label").rows() == [
        ("a cat, sat", "the cat sat", "1"), ("rain", "sun", "0")
    ]


def test_tables_without_labels_and_renamed_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "source,suspicious\nx y,y x\n")
    frame = read_pair_table(path, "source", "suspicious")
    assert frame["label"].to_list() == [None]
    unlabelled = write(tmp_path / "in.txt", "first text\tsecond text\nthird\tfourth\n")
    assert detect_pair_format(unlabelled) == "tsv-pairs"
    assert read_pair_file(unlabelled)["text_b"].to_list() == ["second text", "fourth"]


@pytest.mark.parametrize(
    ("name", "text", "message", "line", "field"),
    [
        ("a.csv", "text_a,label\nx,1\n", "missing column; found columns: 'text_a', 'label'", 1,
         "text_b"),
        ("b.csv", "text_a,text_b,label\nx,y,1\nx,y\n", "expected 3 fields, found 2", 3, None),
        ("c.csv", "text_a,text_b,label\nx,y,1\nx,y,\n", "missing label", 3, "label"),
        ("d.jsonl", '{"text_a": "x", "text_b": "y"}\n{"text_a": "x"\n', "invalid JSON", 2, None),
        ("e.jsonl", '{"text_a": "x"}\n', "missing field", 1, "text_b"),
        ("f.jsonl", '{"text_a": "x", "text_b": null}\n', "empty or missing text", 1, "text_b"),
        ("g.jsonl", '[1, 2]\n', "expected a JSON object", 1, None),
        ("h.csv", 'text_a,text_b\n"x,y\n', "malformed CSV", 2, None),
        ("i.txt", "one\ttwo\nthree\n", "expected 2 tab-separated texts", 2, None),
    ],
)
def test_bad_pair_tables(tmp_path: Path, name, text, message, line, field) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(DataError, match=message) as caught:
        read_pair_file(path, "tsv-pairs" if name.endswith(".txt") else "auto")
    assert (caught.value.line, caught.value.field) == (line, field)


def test_unknown_formats(tmp_path: Path) -> None:
    path = write(tmp_path / "odd.txt", "just one text per line\nand another\n")
    with pytest.raises(DataError, match="cannot tell the format"):
        read_pair_file(path)
    with pytest.raises(DataError, match="unsupported table extension"):
        read_pair_table(write(tmp_path / "x.xml", "<a/>"))
    with pytest.raises(ConfigError, match="unknown data format 'xml'"):
        read_pair_file(path, "xml")
