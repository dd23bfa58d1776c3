"""Readers for aspect-based sentiment data: SemEval-2014 XML, the ``.seg`` format, JSON Lines.

Every reader returns one row per (sentence, aspect term) with the columns ``sentence``,
``aspect`` (the term), ``from``/``to`` (its character span in the sentence), ``label``
(``negative``/``neutral``/``positive``, or null for prediction inputs), ``sid`` (the
sentence id, or the line of a ``.seg`` example) and ``_line``. Bad examples raise a
:class:`~attnkit.errors.DataError` naming the file and the sentence id (or line).

Example:
    >>> frame = read_absa_file("Restaurants_Train.xml.seg")  # doctest: +SKIP
    >>> frame.select("aspect", "from", "to", "label").row(0)  # doctest: +SKIP
    ('staff', 8, 13, 'negative')
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import polars as pl

from attnkit.data.files import PathArg, nonblank_lines, read_text, split_lines
from attnkit.errors import DataError

POLARITIES = ("negative", "neutral", "positive")
SEG_POLARITIES = {"-1": "negative", "0": "neutral", "1": "positive"}
DROPPED_POLARITIES = ("conflict",)  # the standard 3-way setting drops "conflict"
TARGET_MARK = "$T$"
FORMATS = ("auto", "xml", "seg", "jsonl", "tsv")
SCHEMA = {
    "sentence": pl.Utf8, "aspect": pl.Utf8, "from": pl.Int64, "to": pl.Int64,
    "label": pl.Utf8, "sid": pl.Utf8, "_line": pl.Int64,
}


def check_span(sentence: str, start: int, end: int, where: str) -> None:
    """Raise ``ValueError`` (message starts with ``where``) unless ``[start, end)`` is a
    non-blank span inside ``sentence``."""
    if not sentence.strip():
        raise ValueError(f"{where}: the sentence is empty")
    if not 0 <= start < end <= len(sentence):
        raise ValueError(
            f"{where}: aspect offsets from={start} to={end} lie outside the sentence "
            f"(length {len(sentence)})"
        )
    if not sentence[start:end].strip():
        raise ValueError(f"{where}: the aspect span from={start} to={end} is blank")


def _frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA)


def read_semeval_xml(path: PathArg, *, encoding: str = "utf-8") -> pl.DataFrame:
    """The official SemEval-2014 Task 4 XML (``<sentence id><text>`` with ``<aspectTerm term
    polarity from to>``); ``conflict`` terms are dropped, sentences without terms skipped."""
    text = read_text(path, encoding)
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as error:
        raise DataError(path, f"malformed XML: {error}", line=error.position[0]) from None
    rows = []
    for number, sentence in enumerate(root.iter("sentence"), start=1):
        sid = sentence.get("id") or f"#{number}"
        where = f"sentence id {sid}"
        body = sentence.findtext("text")
        if body is None or not body.strip():
            raise DataError(path, f"{where}: the sentence is empty", field="text")
        for term in sentence.iter("aspectTerm"):
            polarity = (term.get("polarity") or "").strip()
            if polarity in DROPPED_POLARITIES:
                continue
            if polarity not in POLARITIES:
                raise DataError(
                    path, f"{where}: unknown polarity {polarity!r}; expected one of "
                    f"{list(POLARITIES)} (or conflict, which is dropped)", field="polarity",
                )
            aspect = term.get("term") or ""
            try:
                start, end = int(term.get("from", "")), int(term.get("to", ""))
            except ValueError:
                raise DataError(path, f"{where}: aspect {aspect!r} has no integer from/to",
                                field="from") from None
            try:
                check_span(body, start, end, where)
            except ValueError as error:
                raise DataError(path, str(error), field="from") from None
            if aspect not in body:
                raise DataError(path, f"{where}: aspect term {aspect!r} does not occur in the "
                                f"sentence", field="term")
            if body[start:end] != aspect:
                raise DataError(path, f"{where}: offsets from={start} to={end} give "
                                f"{body[start:end]!r}, not the aspect term {aspect!r}",
                                field="from")
            rows.append({"sentence": body, "aspect": aspect, "from": start, "to": end,
                         "label": polarity, "sid": sid, "_line": None})
    if not rows:
        raise DataError(path, "no aspect terms with a positive, negative or neutral polarity")
    return _frame(rows)


def read_seg(path: PathArg, *, encoding: str = "utf-8") -> pl.DataFrame:
    """The three-lines-per-example format: the sentence with ``$T$`` in place of the aspect,
    the aspect term, its polarity (-1, 0, 1). Blank lines are not allowed inside an example;
    the sentence's ``sid`` is the line it starts on."""
    lines = split_lines(read_text(path, encoding))
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) % 3:
        raise DataError(path, f"{len(lines)} lines is not a multiple of 3 (sentence, aspect, "
                        "polarity per example)", line=len(lines))
    rows = []
    for index in range(0, len(lines), 3):
        line = index + 1
        template, aspect, polarity = (value.strip() for value in lines[index : index + 3])
        if not template.replace(TARGET_MARK, "").strip():
            raise DataError(path, "the sentence is empty", line=line)
        if not aspect:
            raise DataError(path, "the aspect term is empty", line=line + 1)
        if TARGET_MARK not in template:
            raise DataError(path, f"aspect term {aspect!r} does not occur in the sentence (no "
                            f"{TARGET_MARK} marker)", line=line)
        if polarity not in SEG_POLARITIES:
            raise DataError(path, f"unknown polarity {polarity!r}; expected -1, 0 or 1",
                            line=line + 2)
        start = template.index(TARGET_MARK)
        sentence = template[:start] + aspect + template[start + len(TARGET_MARK) :]
        sentence = sentence.replace(TARGET_MARK, aspect)
        rows.append({"sentence": sentence, "aspect": aspect, "from": start,
                     "to": start + len(aspect), "label": SEG_POLARITIES[polarity],
                     "sid": f"line {line}", "_line": line})
    return _frame(rows)


def read_absa_jsonl(path: PathArg, *, encoding: str = "utf-8") -> pl.DataFrame:
    """JSON Lines: ``{"sentence": ..., "aspect": term}`` or ``{"sentence": ..., "from": i,
    "to": j}``, with an optional ``"polarity"`` (or ``"label"``)."""
    rows = []
    for line, raw in nonblank_lines(path, encoding):
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as error:
            raise DataError(path, f"invalid JSON: {error.msg}", line=line) from None
        if not isinstance(record, dict):
            raise DataError(path, "expected a JSON object per line", line=line)
        try:
            sentence, aspect, start, end = resolve_aspect(record, f"line {line}")
        except ValueError as error:
            raise DataError(path, str(error).removeprefix(f"line {line}: "), line=line) from None
        label = record.get("polarity", record.get("label"))
        if label is not None:
            label = SEG_POLARITIES.get(str(label), str(label))
            if label not in POLARITIES:
                raise DataError(path, f"unknown polarity {label!r}; expected one of "
                                f"{list(POLARITIES)}", line=line, field="polarity")
        rows.append({"sentence": sentence, "aspect": aspect, "from": start, "to": end,
                     "label": label, "sid": f"line {line}", "_line": line})
    return _frame(rows)


def read_absa_tsv(path: PathArg, *, encoding: str = "utf-8") -> pl.DataFrame:
    """Unlabelled lines for ``predict``: ``sentence<TAB>aspect term`` or
    ``sentence<TAB>from<TAB>to``."""
    rows = []
    for line, raw in nonblank_lines(path, encoding):
        fields = raw.split("\t")
        if len(fields) == 2:
            record = {"sentence": fields[0], "aspect": fields[1]}
        elif len(fields) == 3 and fields[1].strip().isdigit() and fields[2].strip().isdigit():
            record = {"sentence": fields[0], "from": int(fields[1]), "to": int(fields[2])}
        else:
            raise DataError(path, "expected sentence<TAB>aspect or sentence<TAB>from<TAB>to, "
                            f"found {len(fields)} fields", line=line)
        try:
            sentence, aspect, start, end = resolve_aspect(record, f"line {line}")
        except ValueError as error:
            raise DataError(path, str(error).removeprefix(f"line {line}: "), line=line) from None
        rows.append({"sentence": sentence, "aspect": aspect, "from": start, "to": end,
                     "label": None, "sid": f"line {line}", "_line": line})
    return _frame(rows)


def resolve_aspect(record: dict, where: str) -> tuple[str, str, int, int]:
    """``(sentence, aspect term, from, to)`` of a raw record with a ``sentence`` and either an
    ``aspect`` term (its first occurrence), an ``aspect`` span ``[from, to]``, or ``from``/``to``
    fields. Raises ``ValueError`` starting with ``where`` on bad input."""
    sentence = record.get("sentence")
    if not isinstance(sentence, str):
        raise ValueError(f"{where}: field 'sentence' must be a string, got "
                         f"{type(sentence).__name__}")
    if not sentence.strip():
        raise ValueError(f"{where}: the sentence is empty")
    aspect = record.get("aspect")
    span = None
    if isinstance(aspect, (list, tuple)):
        span = aspect
    elif aspect is None or record.get("from") is not None:
        span = (record.get("from"), record.get("to"))
    if span is not None:
        if len(span) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in span):
            raise ValueError(f"{where}: the aspect span must be two integers [from, to], got "
                             f"{list(span)!r}")
        start, end = int(span[0]), int(span[1])
        check_span(sentence, start, end, where)
        term = sentence[start:end]
        if isinstance(aspect, str) and aspect.strip() and aspect != term:
            raise ValueError(f"{where}: from={start} to={end} give {term!r}, not the aspect "
                             f"{aspect!r}")
        return sentence, term, start, end
    if not isinstance(aspect, str):
        raise ValueError(f"{where}: field 'aspect' must be a term (string) or a span "
                         f"[from, to], got {type(aspect).__name__}")
    term = aspect.strip()
    if not term:
        raise ValueError(f"{where}: the aspect term is empty")
    start = sentence.find(term)
    if start < 0:
        start = sentence.lower().find(term.lower())
    if start < 0:
        raise ValueError(f"{where}: aspect term {term!r} does not occur in the sentence")
    return sentence, sentence[start : start + len(term)], start, start + len(term)


def detect_format(path: Path) -> str:
    """``xml``, ``seg``, ``jsonl`` or ``tsv`` from the file name (``.xml``, ``.seg``,
    ``.jsonl``/``.json``, ``.txt``/``.tsv``)."""
    suffix = path.suffix.lower()
    if suffix == ".xml":
        return "xml"
    if suffix == ".seg":
        return "seg"
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix in (".txt", ".tsv"):
        return "tsv"
    raise DataError(path, "unknown ABSA file type; expected .xml (SemEval), .seg (3 lines per "
                    "example), .jsonl or .txt/.tsv (sentence<TAB>aspect), or set data.format")


def read_absa_file(path: PathArg, fmt: str = "auto", *, encoding: str = "utf-8") -> pl.DataFrame:
    """Read one ABSA file in ``fmt`` (``auto`` detects it from the suffix)."""
    path = Path(path)
    if fmt not in FORMATS:
        raise DataError(path, f"unknown format {fmt!r}; expected one of {list(FORMATS)}")
    fmt = detect_format(path) if fmt == "auto" else fmt
    reader = {"xml": read_semeval_xml, "seg": read_seg, "jsonl": read_absa_jsonl,
              "tsv": read_absa_tsv}[fmt]
    return reader(path, encoding=encoding)
