"""Text-classification data: checked file access, format readers and splits.

Example:
    >>> from attnkit.data import load_splits
    >>> splits = load_splits("data/ag-news", seed=0)  # doctest: +SKIP
"""

from attnkit.data.files import nonblank_lines, read_text
from attnkit.data.splits import DataSplit, load_splits
from attnkit.data.text_readers import (
    AG_NEWS_CLASSES,
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

__all__ = [
    "AG_NEWS_CLASSES",
    "FORMATS",
    "READERS",
    "DataSplit",
    "detect_format",
    "load_splits",
    "nonblank_lines",
    "read_ag_news_csv",
    "read_glue_sst2",
    "read_kim_cnn",
    "read_table",
    "read_text",
    "read_text_file",
    "read_tsv_pairs",
    "unescape_ag_news",
]
