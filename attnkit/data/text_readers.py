"""Readers for text-classification files.

Each reader returns a :class:`polars.DataFrame` with the columns ``text`` (Utf8),
``label`` (Utf8; all null when the file has no labels) and ``_line`` (Int64, the
1-based source line of the row, for error messages). Labels stay strings here.

Example:
    >>> frame = read_text_file("glue-SST-2/train.tsv")  # doctest: +SKIP
    >>> frame.columns  # doctest: +SKIP
    ['text', 'label', '_line']
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import polars as pl

from attnkit.data.files import PathArg, nonblank_lines, read_text
from attnkit.errors import ConfigError, DataError

FORMATS: tuple[str, ...] = ("glue-sst2", "kim-cnn", "ag-news-csv", "tsv-pairs", "table")
AG_NEWS_CLASSES: tuple[str, ...] = ("World", "Sports", "Business", "Sci/Tech")

_SCHEMA = {"text": pl.Utf8, "label": pl.Utf8, "_line": pl.Int64}
_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_TSV_SUFFIXES = (".tsv", ".tab")
_LABEL_HEADERS = ("label", "labels", "class", "category", "target")
_KIM_LINE = re.compile(r"^-?\d+ \S")
_AG_LINE = re.compile(r'^"\d+","')
_INTEGER = re.compile(r"^-?\d+$")
_DETECT_SAMPLE = 20

Row = tuple[int, str, str | None]


def _frame(path: PathArg, rows: list[Row], label_field: str = "label") -> pl.DataFrame:
    """Build the reader frame; reject no rows and labels present on some rows only."""
    if not rows:
        raise DataError(path, "no data rows")
    labelled = [label is not None for _, _, label in rows]
    if any(labelled) and not all(labelled):
        line = rows[labelled.index(False)][0]
        raise DataError(
            path, "missing label (other rows have one)", line=line, field=label_field
        )
    lines, texts, labels = zip(*rows, strict=True)
    return pl.DataFrame(
        {"text": list(texts), "label": list(labels), "_line": list(lines)},
        schema=_SCHEMA,
    )


def _text(path: PathArg, value: str, line: int, field: str) -> str:
    text = value.strip()
    if not text:
        raise DataError(path, "empty text", line=line, field=field)
    return text


def _label(value: str) -> str | None:
    return value.strip() or None


def _missing_column(
    path: PathArg, column: str, found: Sequence[str], line: int = 1
) -> DataError:
    names = ", ".join(repr(name) for name in found) or "none"
    return DataError(
        path, f"missing column; found columns: {names}", line=line, field=column
    )


def _tab_fields(path: PathArg, line: int, text: str, count: int) -> list[str]:
    fields = text.split("\t")
    if len(fields) != count:
        raise DataError(
            path,
            f"expected {count} tab-separated fields, found {len(fields)}",
            line=line,
        )
    return fields


def _csv_records(path: PathArg, text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(first_line, fields)`` per CSV record, skipping blank lines."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        for fields in reader:
            if fields:
                yield start, fields
            start = reader.line_num + 1
    except csv.Error as err:
        raise DataError(path, f"malformed CSV: {err}", line=start) from None


def read_glue_sst2(path: PathArg, *, encoding: str = "utf-8") -> pl.DataFrame:
    """Read a GLUE SST-2 TSV (``sentence<TAB>label``, or unlabelled ``index<TAB>sentence``).

    Split on TABs, not as CSV: SST sentences contain unbalanced ``"``.

    Example:
        >>> read_glue_sst2("glue-SST-2/dev.tsv").row(0)  # doctest: +SKIP
        ("it 's a charming and often affecting journey .", '1', 2)
    """
    lines = nonblank_lines(path, encoding)
    header_line, header = lines[0]
    columns = [name.strip() for name in header.split("\t")]
    if "sentence" not in columns:
        raise _missing_column(path, "sentence", columns, header_line)
    if "label" not in columns and "index" not in columns:
        raise _missing_column(path, "label", columns, header_line)
    text_at = columns.index("sentence")
    label_at = columns.index("label") if "label" in columns else None
    rows: list[Row] = []
    for line, raw in lines[1:]:
        fields = _tab_fields(path, line, raw, len(columns))
        label = None
        if label_at is not None:
            label = fields[label_at].strip()
            if label not in ("0", "1"):
                raise DataError(
                    path, f"expected 0 or 1, found {label!r}", line=line, field="label"
                )
        rows.append((line, _text(path, fields[text_at], line, "sentence"), label))
    return _frame(path, rows)


def read_kim_cnn(path: PathArg, encoding: str = "utf-8") -> pl.DataFrame:
    """Read Kim (2014) CNN files: ``<integer label> <sentence>`` per line.

    Example:
        >>> read_kim_cnn("stsa.binary.test").row(0)  # doctest: +SKIP
        ('no movement , no yuks , not much of anything .', '0', 1)
    """
    rows: list[Row] = []
    for line, raw in nonblank_lines(path, encoding):
        label, _, sentence = raw.strip().partition(" ")
        if not _INTEGER.match(label):
            raise DataError(
                path,
                f"expected an integer label then a space, found {label!r}",
                line=line,
            )
        rows.append((line, _text(path, sentence, line, "sentence"), str(int(label))))
    return _frame(path, rows)


def unescape_ag_news(text: str) -> str:
    """Undo AG News escapes: ``\\$`` is ``$``; any other run of backslashes is a line break.

    The AG readme says newlines are written ``\\n``, but the files use a bare backslash
    (``social\\network``, ``gave\\no indication``), so only the backslash is replaced.

    Example:
        >>> unescape_ag_news("for \\\\$1 billion.\\\\Yahoo said")
        'for $1 billion. Yahoo said'
    """
    return re.sub(r"\\+", " ", text.replace("\\$", "$"))


def _ag_class_names(path: PathArg, encoding: str) -> list[str]:
    classes = Path(path).with_name("classes.txt")
    if classes.is_file():
        return [name.strip() for _, name in nonblank_lines(classes, encoding)]
    return list(AG_NEWS_CLASSES)


def read_ag_news_csv(
    path: PathArg,
    include_title: bool = False,
    class_names: Sequence[str] | None = None,
    *,
    encoding: str = "utf-8",
) -> pl.DataFrame:
    """Read the original AG News CSV: ``"class","title","description"``, no header.

    Labels are class names from ``class_names``, else ``classes.txt`` beside the file,
    else the standard four AG News names.

    Example:
        >>> read_ag_news_csv("ag_news_csv/test.csv")["label"][0]  # doctest: +SKIP
        'Business'
    """
    text = read_text(path, encoding)
    names = (
        list(class_names)
        if class_names is not None
        else _ag_class_names(path, encoding)
    )
    rows: list[Row] = []
    for line, fields in _csv_records(path, text):
        if len(fields) != 3:
            raise DataError(
                path,
                f"expected 3 fields (class, title, description), found {len(fields)}",
                line=line,
            )
        index, title, description = fields
        if not _INTEGER.match(index.strip()) or not 1 <= int(index) <= len(names):
            raise DataError(
                path,
                f"expected a class from 1 to {len(names)}, found {index!r}",
                line=line,
                field="class",
            )
        body = _text(path, unescape_ag_news(description), line, "description")
        if include_title:
            body = f"{unescape_ag_news(title).strip()}. {body}"
        rows.append((line, body, names[int(index) - 1]))
    return _frame(path, rows)


def read_tsv_pairs(path: PathArg, *, encoding: str = "utf-8") -> pl.DataFrame:
    """Read headerless ``text<TAB>label`` lines.

    Example:
        >>> read_tsv_pairs("alps-train-subset/dev.tsv")["label"][0]  # doctest: +SKIP
        'Sci/Tech'
    """
    rows: list[Row] = []
    for line, raw in nonblank_lines(path, encoding):
        text, label = _tab_fields(path, line, raw, 2)
        if not label.strip():
            raise DataError(path, "empty label", line=line, field="label")
        rows.append((line, _text(path, text, line, "text"), label.strip()))
    return _frame(path, rows)


def _json_label(path: PathArg, value: object, line: int, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _label(value)
    raise DataError(
        path, f"expected a string or number, found {value!r}", line=line, field=field
    )


def _read_jsonl(
    path: PathArg, text_column: str, label_column: str, encoding: str
) -> list[Row]:
    rows: list[Row] = []
    for line, raw in nonblank_lines(path, encoding):
        try:
            # Numbers stay as their raw token: label 1 is "1", never "1.0".
            record = json.loads(raw, parse_int=str, parse_float=str)
        except json.JSONDecodeError as err:
            raise DataError(path, f"invalid JSON: {err.msg}", line=line) from None
        if not isinstance(record, dict):
            raise DataError(path, "expected a JSON object per line", line=line)
        if text_column not in record:
            raise _missing_column(path, text_column, list(record), line)
        value = record[text_column]
        if not isinstance(value, str):
            raise DataError(
                path, "empty or non-string text", line=line, field=text_column
            )
        label = _json_label(path, record.get(label_column), line, label_column)
        rows.append((line, _text(path, value, line, text_column), label))
    return rows


def _table_records(path: PathArg, encoding: str) -> list[tuple[int, list[str]]]:
    if Path(path).suffix.lower() in _TSV_SUFFIXES:
        return [(line, raw.split("\t")) for line, raw in nonblank_lines(path, encoding)]
    return list(_csv_records(path, read_text(path, encoding)))


def _read_delimited(
    path: PathArg, text_column: str, label_column: str, encoding: str
) -> list[Row]:
    records = _table_records(path, encoding)
    header_line, header = records[0]
    columns = [name.strip() for name in header]
    if text_column not in columns:
        raise _missing_column(path, text_column, columns, header_line)
    text_at = columns.index(text_column)
    label_at = columns.index(label_column) if label_column in columns else None
    rows: list[Row] = []
    for line, fields in records[1:]:
        if len(fields) != len(columns):
            raise DataError(
                path, f"expected {len(columns)} fields, found {len(fields)}", line=line
            )
        label = _label(fields[label_at]) if label_at is not None else None
        rows.append((line, _text(path, fields[text_at], line, text_column), label))
    return rows


def read_table(
    path: PathArg,
    text_column: str = "text",
    label_column: str = "label",
    *,
    encoding: str = "utf-8",
) -> pl.DataFrame:
    """Read a CSV or TSV with a header row, or JSON Lines (one object per line).

    A missing label column gives null labels (unlabelled data, e.g. for predict).

    Example:
        >>> read_table("reviews.jsonl", text_column="review")  # doctest: +SKIP
    """
    suffix = Path(path).suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        rows = _read_jsonl(path, text_column, label_column, encoding)
    elif suffix in (".csv", *_TSV_SUFFIXES):
        rows = _read_delimited(path, text_column, label_column, encoding)
    else:
        read_text(path, encoding)  # a missing or empty file is the clearer error
        raise DataError(
            path,
            "unsupported table extension; expected .csv, .tsv, .tab, .jsonl or .ndjson",
        )
    return _frame(path, rows, label_column)


def _header_fields(first: str, suffix: str) -> list[str]:
    if suffix == ".csv":
        fields = next(csv.reader([first]), [])
    else:
        fields = first.split("\t")
    return [name.strip() for name in fields]


def detect_format(
    path: PathArg, *, text_column: str = "text", encoding: str = "utf-8"
) -> str:
    """Guess the reader for ``path`` from its extension and first lines.

    Example:
        >>> detect_format("glue-SST-2/train.tsv")  # doctest: +SKIP
        'glue-sst2'
    """
    suffix = Path(path).suffix.lower()
    lines = [raw for _, raw in nonblank_lines(path, encoding)[:_DETECT_SAMPLE]]
    if suffix in _JSONL_SUFFIXES:
        return "table"
    first = lines[0]
    header = _header_fields(first, suffix)
    if suffix in _TSV_SUFFIXES and header in (
        ["sentence", "label"],
        ["index", "sentence"],
    ):
        return "glue-sst2"
    if suffix in (".csv", *_TSV_SUFFIXES) and text_column in header:
        return "table"
    if suffix == ".csv" and _AG_LINE.match(first):
        return "ag-news-csv"
    one_tab = all(raw.count("\t") == 1 for raw in lines)
    has_header = first.split("\t")[-1].strip().lower() in _LABEL_HEADERS
    if suffix in ("", ".txt", *_TSV_SUFFIXES) and one_tab and not has_header:
        return "tsv-pairs"
    if suffix not in (".csv", *_TSV_SUFFIXES) and all(
        _KIM_LINE.match(raw) for raw in lines
    ):
        return "kim-cnn"
    raise DataError(
        path,
        "cannot tell the format of this file; expected one of: "
        f"{', '.join(FORMATS)} (name the format to skip detection)",
    )


READERS: dict[str, Callable[..., pl.DataFrame]] = {
    "glue-sst2": read_glue_sst2,
    "kim-cnn": read_kim_cnn,
    "ag-news-csv": read_ag_news_csv,
    "tsv-pairs": read_tsv_pairs,
    "table": read_table,
}


def read_text_file(
    path: PathArg,
    format: str = "auto",
    *,
    include_title: bool = False,
    text_column: str = "text",
    label_column: str = "label",
    encoding: str = "utf-8",
) -> pl.DataFrame:
    """Read any supported text-classification file; ``format="auto"`` detects it.

    Example:
        >>> read_text_file("ag_news_csv/test.csv", include_title=True)  # doctest: +SKIP
    """
    if format == "auto":
        format = detect_format(path, text_column=text_column, encoding=encoding)
    if format not in READERS:
        raise ConfigError(
            f"unknown data format {format!r}; expected one of: auto, {', '.join(FORMATS)}"
        )
    if format == "ag-news-csv":
        return read_ag_news_csv(path, include_title, encoding=encoding)
    if format == "table":
        return read_table(path, text_column, label_column, encoding=encoding)
    return READERS[format](path, encoding=encoding)
