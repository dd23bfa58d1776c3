"""Recommendation over long behaviour sequences: DARE, TWIN and DIN CTR models, the polars
sequence builder (MovieLens, Taobao, CSV/Parquet logs), id maps, metrics and the task."""

from attnkit.recsys.model import LongSequenceCTR
from attnkit.recsys.preprocessor import SequenceIdMaps
from attnkit.recsys.task import SequentialCTRTask

__all__ = ["LongSequenceCTR", "SequenceIdMaps", "SequentialCTRTask"]
