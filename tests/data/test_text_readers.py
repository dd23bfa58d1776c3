"""Tests for attnkit.data.files and attnkit.data.text_readers on tiny hand-written files."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from attnkit.data.files import nonblank_lines, read_text
from attnkit.data.text_readers import (
    FORMATS,
    READERS,
    detect_format,
    read_ag_news_csv,
    read_glue_sst2,
    read_kim_cnn,
    read_table,
    read_text_file,
    read_tsv_pairs,
    unescape_ag_news,
)
from attnkit.errors import ConfigError, DataError


def write(directory: Path, name: str, content: str | bytes) -> Path:
    path = directory / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def rows(frame: pl.DataFrame) -> list[tuple[str, str | None, int]]:
    return frame.select("text", "label", "_line").rows()


# --- files.py ---------------------------------------------------------------


def test_read_text_strips_bom_and_nonblank_lines_numbers_from_one(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "a.txt", b"\xef\xbb\xbfone\r\n\n  \ntwo\n")
    assert read_text(path) == "one\r\n\n  \ntwo\n"
    assert nonblank_lines(path) == [(1, "one"), (4, "two")]


def test_read_text_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_text(tmp_path / "nope.tsv")


def test_read_text_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a directory"):
        read_text(tmp_path)


@pytest.mark.parametrize("content", [b"", b"\n \n"])
def test_read_text_empty_file(tmp_path: Path, content: bytes) -> None:
    with pytest.raises(DataError, match="file is empty"):
        read_text(write(tmp_path, "e.tsv", content))


def test_undecodable_bytes_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.txt", b"0 fine\n1 also fine\n0 caf\xe9 latin-1\n")
    with pytest.raises(
        DataError, match=r"line 3.*undecodable bytes at line 3 \(expected utf-8"
    ):
        read_kim_cnn(path)
    assert read_kim_cnn(path, encoding="latin-1")["text"][2] == "café latin-1"


# --- GLUE SST-2 ---------------------------------------------------------------


def test_glue_sst2_keeps_quotes_and_strips_text(tmp_path: Path) -> None:
    path = write(tmp_path, "train.tsv", 'sentence\tlabel\na "great film \t1\nbad \t0\n')
    frame = read_glue_sst2(path)
    assert frame.schema == {"text": pl.Utf8, "label": pl.Utf8, "_line": pl.Int64}
    assert rows(frame) == [('a "great film', "1", 2), ("bad", "0", 3)]


def test_glue_sst2_unlabelled_test_form(tmp_path: Path) -> None:
    path = write(tmp_path, "test.tsv", "index\tsentence\n0\tfine .\n1\tdull .\n")
    assert rows(read_glue_sst2(path)) == [("fine .", None, 2), ("dull .", None, 3)]


def test_glue_sst2_bad_label_names_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "train.tsv", "sentence\tlabel\nok\t1\nhmm\t2\n")
    with pytest.raises(
        DataError, match=r"line 3, field 'label': expected 0 or 1"
    ) as err:
        read_glue_sst2(path)
    assert err.value.line == 3


def test_glue_sst2_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path, "train.tsv", "text\tlabel\nok\t1\n")
    with pytest.raises(DataError, match="field 'sentence': missing column") as err:
        read_glue_sst2(path)
    assert err.value.field == "sentence"


def test_glue_sst2_header_only(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no data rows"):
        read_glue_sst2(write(tmp_path, "train.tsv", "sentence\tlabel\n"))


# --- Kim CNN ----------------------------------------------------------------------


def test_kim_cnn(tmp_path: Path) -> None:
    path = write(tmp_path, "stsa.binary.dev", "1 a fine film .\n\n0 a dull one .\n")
    assert rows(read_kim_cnn(path)) == [
        ("a fine film .", "1", 1),
        ("a dull one .", "0", 3),
    ]


def test_kim_cnn_bad_label(tmp_path: Path) -> None:
    path = write(tmp_path, "stsa.binary.dev", "1 fine\npos not a number\n")
    with pytest.raises(DataError, match="line 2: expected an integer label"):
        read_kim_cnn(path)


# --- AG News CSV ----------------------------------------------------------------

AG_CSV = (
    '"3","Oil, again","Prices rose\\Analysts said ""up"", for \\$5."\n'
    '"1","Talks","Leaders met in Paris."\n'
)


def test_ag_news_unescapes_and_keeps_commas_inside_quotes(tmp_path: Path) -> None:
    frame = read_ag_news_csv(write(tmp_path, "test.csv", AG_CSV))
    assert rows(frame) == [
        ('Prices rose Analysts said "up", for $5.', "Business", 1),
        ("Leaders met in Paris.", "World", 2),
    ]


def test_ag_news_include_title_and_class_names(tmp_path: Path) -> None:
    path = write(tmp_path, "test.csv", AG_CSV)
    frame = read_ag_news_csv(path, include_title=True, class_names=["a", "b", "c", "d"])
    assert frame["text"][0] == 'Oil, again. Prices rose Analysts said "up", for $5.'
    assert frame["label"].to_list() == ["c", "a"]


def test_ag_news_classes_txt_beside_file(tmp_path: Path) -> None:
    write(tmp_path, "classes.txt", "Alpha\nBeta\nGamma\n")
    path = write(tmp_path, "test.csv", AG_CSV)
    assert read_ag_news_csv(path)["label"].to_list() == ["Gamma", "Alpha"]


def test_ag_news_line_numbers_follow_multiline_fields(tmp_path: Path) -> None:
    path = write(tmp_path, "test.csv", '"2","T","two\nlines"\n"9","T","x"\n')
    with pytest.raises(
        DataError, match=r"line 3, field 'class': expected a class from 1 to 4"
    ):
        read_ag_news_csv(path)


def test_ag_news_wrong_field_count(tmp_path: Path) -> None:
    path = write(tmp_path, "test.csv", '"1","T","ok"\n"2","only two"\n')
    with pytest.raises(DataError, match="line 2: expected 3 fields"):
        read_ag_news_csv(path)


def test_unescape_ag_news_backslash_is_a_line_break() -> None:
    assert (
        unescape_ag_news("social\\network \\\\Yahoo \\$1") == "social network  Yahoo $1"
    )


# --- TSV pairs --------------------------------------------------------------------


def test_tsv_pairs(tmp_path: Path) -> None:
    path = write(tmp_path, "dev.tsv", 'A "quoted" story.\tSci/Tech\nGoal!\tSports\n')
    assert rows(read_tsv_pairs(path)) == [
        ('A "quoted" story.', "Sci/Tech", 1),
        ("Goal!", "Sports", 2),
    ]


def test_tsv_pairs_line_without_tab(tmp_path: Path) -> None:
    path = write(tmp_path, "dev.tsv", "ok\tWorld\nno tab here\n")
    with pytest.raises(DataError, match="line 2: expected 2 tab-separated fields"):
        read_tsv_pairs(path)


# --- generic tables -------------------------------------------------------------


def test_table_csv_keeps_raw_label_tokens(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", 'id,text,label\n7,"great, really",1\n8,meh,0\n')
    assert rows(read_table(path)) == [("great, really", "1", 2), ("meh", "0", 3)]


def test_table_tsv_with_header_and_custom_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "d.tsv", 'review\tstars\nsay "hi"\t5\nno\t1\n')
    frame = read_table(path, text_column="review", label_column="stars")
    assert rows(frame) == [('say "hi"', "5", 2), ("no", "1", 3)]


def test_table_jsonl(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "d.jsonl",
        '{"text": "good", "label": 1}\n\n{"text": "bad", "label": "neg"}\n',
    )
    assert rows(read_table(path)) == [("good", "1", 1), ("bad", "neg", 3)]


def test_table_without_label_column_is_unlabelled(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "text\nhello\nworld\n")
    frame = read_table(path)
    assert frame["label"].null_count() == 2
    assert frame.schema["label"] == pl.Utf8


def test_table_missing_text_column_lists_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "sentence,label\nhi,1\n")
    with pytest.raises(
        DataError, match="field 'text': missing column; found columns: 'sentence'"
    ):
        read_table(path)


def test_table_empty_text(tmp_path: Path) -> None:
    path = write(tmp_path, "d.jsonl", '{"text": "ok"}\n{"text": null}\n')
    with pytest.raises(DataError, match="line 2, field 'text'"):
        read_table(path)


def test_table_jsonl_bad_line(tmp_path: Path) -> None:
    path = write(
        tmp_path, "d.jsonl", '{"text": "ok", "label": "a"}\n{"text": "oops",\n'
    )
    with pytest.raises(DataError, match="line 2: invalid JSON"):
        read_table(path)


def test_table_labels_on_some_rows_only(tmp_path: Path) -> None:
    path = write(tmp_path, "d.jsonl", '{"text": "a", "label": "x"}\n{"text": "b"}\n')
    with pytest.raises(DataError, match="line 2, field 'label': missing label"):
        read_table(path)


def test_table_header_only(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no data rows"):
        read_table(write(tmp_path, "d.csv", "text,label\n"))


# --- detection and dispatch -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("train.tsv", "sentence\tlabel\nfine\t1\n", "glue-sst2"),
        ("test.tsv", "index\tsentence\n0\tfine\n", "glue-sst2"),
        ("stsa.binary.test", "0 dull .\n1 fine .\n", "kim-cnn"),
        ("test.csv", AG_CSV, "ag-news-csv"),
        ("dev.tsv", "a story\tWorld\nanother\tSports\n", "tsv-pairs"),
        ("dev", "a story\tWorld\n", "tsv-pairs"),
        ("d.csv", "id,text,label\n1,hi,a\n", "table"),
        ("d.tsv", "text\tlabel\nhi\ta\n", "table"),
        ("d.jsonl", '{"text": "hi"}\n', "table"),
    ],
)
def test_detect_format(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = write(tmp_path, name, content)
    assert detect_format(path) == expected
    assert read_text_file(path).height >= 1


def test_detect_format_unknown(tmp_path: Path) -> None:
    path = write(tmp_path, "notes.txt", "just some prose\n")
    with pytest.raises(DataError, match="cannot tell the format.*glue-sst2, kim-cnn"):
        detect_format(path)


def test_detect_format_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_text_file(tmp_path / "train.tsv")


def test_read_text_file_options_and_unknown_format(tmp_path: Path) -> None:
    path = write(tmp_path, "test.csv", AG_CSV)
    assert (
        read_text_file(path, include_title=True)["text"][1]
        == "Talks. Leaders met in Paris."
    )
    with pytest.raises(ConfigError, match="unknown data format 'sst'.*auto, glue-sst2"):
        read_text_file(path, "sst")


def test_readers_registry_matches_formats() -> None:
    assert tuple(READERS) == FORMATS
