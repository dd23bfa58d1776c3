"""Readers of interaction logs: MovieLens, Taobao UserBehavior and generic CSV / Parquet.

Every reader returns a polars ``LazyFrame`` with string columns ``user``, ``item``,
``category``, ``timestamp`` and the file ``line`` of each row (for error messages), so the
whole log is only ever scanned, never loaded as text. Gzip files (``*.gz``) are decompressed
to a temporary file first, in chunks. :func:`collect_log` checks and types the columns.

Example:
    >>> frame = collect_log(*scan_log("../shared/data/movielens-1m-users1-2999"))  # doctest: +SKIP
    >>> frame.columns  # doctest: +SKIP
    ['user', 'item', 'category', 'timestamp', 'line']
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl

from attnkit.errors import DataError

COLUMNS = ("user", "item", "category", "timestamp")
FORMATS = ("auto", "movielens", "taobao", "csv", "parquet")
#: Log files recognised in a data folder, in order of preference.
KNOWN_LOGS = ("ratings.dat", "ratings.dat.gz", "u.data", "UserBehavior.csv",
              "interactions.csv", "interactions.parquet")


def find_log(path: Path, name: str = "") -> Path:
    """The log file: ``path`` itself, ``path/name``, or a known log name in the folder."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "not found")
    if path.is_file():
        return path
    if name:
        if not (path / name).is_file():
            raise DataError(path / name, "not found (data.log)")
        return path / name
    for known in KNOWN_LOGS:
        if (path / known).is_file():
            return path / known
    raise DataError(path, f"no interaction log found (looked for {', '.join(KNOWN_LOGS)}); "
                          "set data.log to the file name")


def detect_format(file: Path) -> str:
    name = file.name.removesuffix(".gz")
    if name in ("ratings.dat", "u.data") or name.endswith(".dat"):
        return "movielens"
    if name.lower().startswith("userbehavior"):
        return "taobao"
    if name.endswith(".parquet"):
        return "parquet"
    return "csv"


@contextlib.contextmanager
def plain_file(file: Path) -> Iterator[Path]:
    """``file``, or a decompressed temporary copy of a ``.gz`` file (removed afterwards)."""
    if file.suffix != ".gz":
        yield file
        return
    handle, temporary = tempfile.mkstemp(prefix="attnkit-log-", suffix=file.stem)
    try:
        with os.fdopen(handle, "wb") as out, gzip.open(file, "rb") as compressed:
            try:
                shutil.copyfileobj(compressed, out, length=1 << 22)
            except (OSError, EOFError) as error:
                raise DataError(file, f"not a readable gzip file ({error})") from None
        yield Path(temporary)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _check_not_empty(file: Path) -> None:
    if file.stat().st_size == 0:
        raise DataError(file, "file is empty (no interactions)")


def _movielens_categories(ratings: Path, given: str = "") -> pl.LazyFrame:
    """Item -> first genre, from ``movies.dat`` (ML-1M) or ``u.item`` (ML-100K)."""
    folder = ratings.parent
    candidates = [Path(given)] if given else [folder / "movies.dat", folder / "u.item"]
    for meta in candidates:
        if not meta.is_file():
            continue
        rows = []
        text = meta.read_bytes().decode("latin-1")
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            if meta.name == "u.item" or "|" in line and "::" not in line:
                fields = line.split("|")
                flags = fields[-19:]
                genre = next((str(i) for i, flag in enumerate(flags) if flag == "1"), "none")
                rows.append((fields[0], genre))
            else:
                fields = line.split("::")
                if len(fields) < 3:
                    raise DataError(meta, "expected MovieID::Title::Genres", line=number)
                rows.append((fields[0], fields[2].split("|")[0]))
        return pl.LazyFrame(rows, schema={"item": pl.Utf8, "category": pl.Utf8}, orient="row")
    raise DataError(ratings, "no movies.dat or u.item beside it (movie genres are the "
                             "categories); set data.categories to the file")


def scan_movielens(file: Path, categories: str = "") -> pl.LazyFrame:
    """``UserID::MovieID::Rating::Timestamp`` (ratings.dat) or ``u.data`` (tab-separated)."""
    _check_not_empty(file)
    if file.name.startswith("u.data"):
        raw = pl.scan_csv(file, has_header=False, separator="\t", infer_schema=False,
                          new_columns=["user", "item", "rating", "timestamp"])
    else:  # '::' is two one-byte separators with an empty field between them
        raw = pl.scan_csv(file, has_header=False, separator=":", infer_schema=False,
                          new_columns=["user", "_1", "item", "_2", "rating", "_3", "timestamp"])
    raw = raw.with_row_index("line", offset=1).select("user", "item", "timestamp", "line")
    genres = _movielens_categories(file, categories)
    return raw.join(genres, on="item", how="left").select(*COLUMNS, "line")


def scan_taobao(file: Path, behaviours: Sequence[str] = ("pv",)) -> pl.LazyFrame:
    """Taobao ``UserBehavior.csv``: ``user,item,category,behaviour,timestamp``, no header;
    keeps the ``behaviours`` types (DARE: clicks, ``pv``)."""
    _check_not_empty(file)
    raw = pl.scan_csv(file, has_header=False, infer_schema=False,
                      new_columns=["user", "item", "category", "behaviour", "timestamp"],
                      missing_columns="insert")
    raw = raw.with_row_index("line", offset=1)
    if behaviours:
        raw = raw.filter(pl.col("behaviour").is_in(list(behaviours)) | pl.col("timestamp").is_null())
    return raw.select(*COLUMNS, "line")


def scan_table(file: Path, fmt: str, columns: dict[str, str]) -> pl.LazyFrame:
    """A CSV (with a header) or Parquet file with user, item, category, timestamp columns
    (``columns`` maps each to its name in the file)."""
    _check_not_empty(file)
    lazy = (pl.scan_parquet(file) if fmt == "parquet"
            else pl.scan_csv(file, infer_schema=False))
    try:
        names = lazy.collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as error:
        raise DataError(file, f"cannot read as {fmt} ({str(error).splitlines()[0]})") from None
    for column in COLUMNS:
        if columns[column] not in names:
            raise DataError(file, f"missing column {columns[column]!r} (columns: {names})",
                            field=columns[column])
    first_line = 1 if fmt == "parquet" else 2
    return (lazy.with_row_index("line", offset=first_line)
            .select(*[pl.col(columns[c]).cast(pl.Utf8).alias(c) for c in COLUMNS], "line"))


def scan_log(path: Path, fmt: str = "auto", log: str = "", categories: str = "",
             behaviours: Sequence[str] = ("pv",), columns: dict[str, str] | None = None
             ) -> tuple[pl.LazyFrame, Path]:
    """The lazy log of the file or folder ``path`` and the file it comes from."""
    if fmt not in FORMATS:
        raise DataError(path, f"unknown log format {fmt!r}; expected one of {FORMATS}",
                        field="format")
    file = find_log(Path(path), log)
    fmt = detect_format(file) if fmt == "auto" else fmt
    columns = {c: c for c in COLUMNS} | dict(columns or {})
    if fmt == "movielens":
        return scan_movielens(file, categories), file
    if fmt == "taobao":
        return scan_taobao(file, behaviours), file
    return scan_table(file, fmt, columns), file


def _first_bad(frame: pl.DataFrame, condition: pl.Expr) -> dict | None:
    rows = frame.filter(condition).head(1).to_dicts()
    return rows[0] if rows else None


def collect_log(lazy: pl.LazyFrame, file: Path) -> pl.DataFrame:
    """Run the scan (polars' streaming engine) and check it: no empty log, no missing ids,
    numeric timestamps (integers or decimals, stored as int64 seconds).

    A row cut off before its timestamp is dropped only when it is the file's last line
    (the byte-truncated heads of UserBehavior.csv end that way); anywhere else it is an error.
    """
    try:
        frame = lazy.collect(engine="streaming")
    except pl.exceptions.PolarsError as error:
        raise DataError(file, f"cannot read the log ({str(error).splitlines()[0]})") from None
    if frame.height == 0:
        raise DataError(file, "no interactions (the log is empty or every row was filtered out)")
    last_line = frame["line"].max()
    truncated = pl.col("timestamp").is_null() & (pl.col("line") == last_line)
    frame = frame.filter(~truncated)
    for column in COLUMNS:
        bad = _first_bad(frame, pl.col(column).is_null() | (pl.col(column).str.strip_chars() == ""))
        if bad is not None:
            raise DataError(file, f"missing {column}", line=int(bad["line"]), field=column)
    stamps = pl.col("timestamp").str.strip_chars().cast(pl.Float64, strict=False)
    frame = frame.with_columns(stamps.alias("_stamp"))
    bad = _first_bad(frame, pl.col("_stamp").is_null() | pl.col("_stamp").is_nan())
    if bad is not None:
        raise DataError(file, f"timestamp {bad['timestamp']!r} is not a number",
                        line=int(bad["line"]), field="timestamp")
    return frame.with_columns(pl.col("_stamp").cast(pl.Int64).alias("timestamp")).drop("_stamp")
