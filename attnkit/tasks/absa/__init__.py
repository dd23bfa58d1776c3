"""Aspect-based sentiment analysis: SemEval-2014 XML and ``.seg`` readers, MemNet and TNet-ATT
(models that expose their aspect attention, so PSS trains them), and the task."""

from attnkit.tasks.absa.memnet import MemNet
from attnkit.tasks.absa.preprocessor import AbsaPreprocessor
from attnkit.tasks.absa.task import AspectSentimentTask
from attnkit.tasks.absa.tnet import TNetATT

__all__ = ["AbsaPreprocessor", "AspectSentimentTask", "MemNet", "TNetATT"]
