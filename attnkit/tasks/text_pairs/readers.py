"""Readers for text-pair files: MSRP, CSV/TSV/JSON Lines tables, and unlabelled pair lines.

Each reader returns a :class:`polars.DataFrame` with ``text_a``, ``text_b``, ``label`` (Utf8,
all null when the file has no labels) and ``_line`` (the 1-based source line, for errors).

Example:
    >>> frame = read_pair_file("msrp/msr_paraphrase_test.txt")  # doctest: +SKIP
    >>> frame.columns  # doctest: +SKIP
    ['text_a', 'text_b', 'label', '_line']
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import polars as pl

from attnkit.data.files import PathArg, nonblank_lines, read_text
from attnkit.errors import ConfigError, DataError

FORMATS = ("msrp", "table", "tsv-pairs")
MSRP_HEADER = ("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String")
MSRP_LABELS = ("0", "1")
_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_TSV_SUFFIXES = (".tsv", ".tab")
_SCHEMA = {"text_a": pl.Utf8, "text_b": pl.Utf8, "label": pl.Utf8, "_line": pl.Int64}
_DETECT_SAMPLE = 20

Row = tuple[int, str, str, str | None]


def _frame(path: PathArg, rows: list[Row], label_field: str) -> pl.DataFrame:
    if not rows:
        raise DataError(path, "no data rows")
    labelled = [row[3] is not None for row in rows]
    if any(labelled) and not all(labelled):
        line = rows[labelled.index(False)][0]
        raise DataError(path, "missing label (other rows have one)", line=line, field=label_field)
    lines, texts_a, texts_b, labels = (list(column) for column in zip(*rows, strict=True))
    return pl.DataFrame(
        {"text_a": texts_a, "text_b": texts_b, "label": labels, "_line": lines}, schema=_SCHEMA
    )


def _text(path: PathArg, value: object, line: int, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataError(path, "empty or missing text", line=line, field=field)
    return value.strip()


def _is_msrp_header(fields: list[str]) -> bool:
    return [field.strip().lower() for field in fields] == [name.lower() for name in MSRP_HEADER]


def read_msrp(path: PathArg, *, encoding: str = "utf-8") -> pl.DataFrame:
    """Read the Microsoft Research Paraphrase Corpus format: tab-separated
    ``Quality, #1 ID, #2 ID, #1 String, #2 String``, with or without that header line.

    Fields are split on tabs only (the sentences hold unbalanced quotes). The label is the
    ``Quality`` column, 1 (paraphrase) or 0.

    Example:
        >>> read_msrp("msr_paraphrase_train.txt").row(0)  # doctest: +SKIP
        ('Amrozi accused his brother, ...', 'Referring to him as ...', '1', 1)
    """
    lines = nonblank_lines(path, encoding)
    if _is_msrp_header(lines[0][1].split("\t")):
        lines = lines[1:]
    rows: list[Row] = []
    for line, raw in lines:
        fields = raw.split("\t")
        if len(fields) != len(MSRP_HEADER):
            raise DataError(
                path,
                f"expected {len(MSRP_HEADER)} tab-separated fields ({', '.join(MSRP_HEADER)}), "
                f"found {len(fields)}",
                line=line,
            )
        quality = fields[0].strip()
        if quality not in MSRP_LABELS:
            raise DataError(path, f"expected 0 or 1, found {quality!r}", line=line, field="Quality")
        rows.append((line, _text(path, fields[3], line, "#1 String"),
                     _text(path, fields[4], line, "#2 String"), quality))
    return _frame(path, rows, "Quality")


def read_tsv_pairs(path: PathArg, *, encoding: str = "utf-8") -> pl.DataFrame:
    """Read unlabelled ``text_a<TAB>text_b`` lines (for ``predict``)."""
    rows: list[Row] = []
    for line, raw in nonblank_lines(path, encoding):
        fields = raw.split("\t")
        if len(fields) != 2:
            raise DataError(path, f"expected 2 tab-separated texts, found {len(fields)} fields",
                            line=line)
        rows.append((line, _text(path, fields[0], line, "text_a"),
                     _text(path, fields[1], line, "text_b"), None))
    return _frame(path, rows, "label")


def _csv_records(path: PathArg, text: str) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records, start = [], 1
    try:
        for fields in reader:
            if fields:
                records.append((start, fields))
            start = reader.line_num + 1
    except csv.Error as error:
        raise DataError(path, f"malformed CSV: {error}", line=start) from None
    return records


def _label_value(path: PathArg, value: object, line: int, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str):
        return value.strip() or None
    raise DataError(path, f"expected a string or number, found {value!r}", line=line, field=field)


def _read_jsonl(path: PathArg, columns: tuple[str, str, str], encoding: str) -> list[Row]:
    text_a, text_b, label = columns
    rows: list[Row] = []
    for line, raw in nonblank_lines(path, encoding):
        try:
            record = json.loads(raw, parse_int=str, parse_float=str)
        except json.JSONDecodeError as error:
            raise DataError(path, f"invalid JSON: {error.msg}", line=line) from None
        if not isinstance(record, dict):
            raise DataError(path, "expected a JSON object per line", line=line)
        for column in (text_a, text_b):
            if column not in record:
                raise DataError(path, f"missing field; found fields: {sorted(record)}",
                                line=line, field=column)
        rows.append((line, _text(path, record[text_a], line, text_a),
                     _text(path, record[text_b], line, text_b),
                     _label_value(path, record.get(label), line, label)))
    return rows


def _read_delimited(path: PathArg, columns: tuple[str, str, str], encoding: str) -> list[Row]:
    if Path(path).suffix.lower() in _TSV_SUFFIXES:
        records = [(line, raw.split("\t")) for line, raw in nonblank_lines(path, encoding)]
    else:
        records = _csv_records(path, read_text(path, encoding))
    header_line, header = records[0]
    names = [name.strip() for name in header]
    for column in columns[:2]:
        if column not in names:
            found = ", ".join(repr(name) for name in names)
            raise DataError(path, f"missing column; found columns: {found}", line=header_line,
                            field=column)
    at_a, at_b = names.index(columns[0]), names.index(columns[1])
    at_label = names.index(columns[2]) if columns[2] in names else None
    rows: list[Row] = []
    for line, fields in records[1:]:
        if len(fields) != len(names):
            raise DataError(path, f"expected {len(names)} fields, found {len(fields)}", line=line)
        label = (fields[at_label].strip() or None) if at_label is not None else None
        rows.append((line, _text(path, fields[at_a], line, columns[0]),
                     _text(path, fields[at_b], line, columns[1]), label))
    return rows


def read_pair_table(
    path: PathArg,
    text_a_column: str = "text_a",
    text_b_column: str = "text_b",
    label_column: str = "label",
    *,
    encoding: str = "utf-8",
) -> pl.DataFrame:
    """Read a CSV/TSV with a header row or JSON Lines with ``text_a``, ``text_b`` and
    (optionally, for prediction) ``label``.

    Example:
        >>> read_pair_table("pairs.jsonl")["label"].to_list()  # doctest: +SKIP
        ['1', '0']
    """
    columns = (text_a_column, text_b_column, label_column)
    suffix = Path(path).suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        rows = _read_jsonl(path, columns, encoding)
    elif suffix in (".csv", *_TSV_SUFFIXES):
        rows = _read_delimited(path, columns, encoding)
    else:
        read_text(path, encoding)  # a missing or empty file is the clearer error
        raise DataError(path, "unsupported table extension; expected .csv, .tsv, .tab, .jsonl "
                        "or .ndjson")
    return _frame(path, rows, label_column)


def detect_pair_format(path: PathArg, *, text_a_column: str = "text_a",
                       encoding: str = "utf-8") -> str:
    """Guess the reader for ``path`` from its extension and first lines."""
    suffix = Path(path).suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        return "table"
    lines = [raw for _, raw in nonblank_lines(path, encoding)[:_DETECT_SAMPLE]]
    first = lines[0]
    header = next(csv.reader([first]), []) if suffix == ".csv" else first.split("\t")
    if suffix in (".csv", *_TSV_SUFFIXES) and text_a_column in [h.strip() for h in header]:
        return "table"
    fields = first.split("\t")
    if _is_msrp_header(fields) or (
        len(fields) == len(MSRP_HEADER) and fields[0].strip() in MSRP_LABELS
    ):
        return "msrp"
    if all(raw.count("\t") == 1 for raw in lines):
        return "tsv-pairs"
    raise DataError(
        path,
        "cannot tell the format of this file; expected MSRP (Quality<TAB>#1 ID<TAB>#2 ID<TAB>"
        f"#1 String<TAB>#2 String), a CSV/TSV with a header naming {text_a_column!r}, JSON Lines, "
        "or text_a<TAB>text_b lines (set data.format to skip detection)",
    )


def read_pair_file(
    path: PathArg,
    format: str = "auto",
    *,
    text_a_column: str = "text_a",
    text_b_column: str = "text_b",
    label_column: str = "label",
    encoding: str = "utf-8",
) -> pl.DataFrame:
    """Read any supported pair file; ``format="auto"`` detects it."""
    if format == "auto":
        format = detect_pair_format(path, text_a_column=text_a_column, encoding=encoding)
    if format == "msrp":
        return read_msrp(path, encoding=encoding)
    if format == "tsv-pairs":
        return read_tsv_pairs(path, encoding=encoding)
    if format == "table":
        return read_pair_table(path, text_a_column, text_b_column, label_column, encoding=encoding)
    raise ConfigError(f"unknown data format {format!r}; expected one of: auto, {', '.join(FORMATS)}")
