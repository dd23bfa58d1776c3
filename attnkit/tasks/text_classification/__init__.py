"""Binary and multi-class text classification: readers, preprocessor, model, metrics, task."""

from attnkit.tasks.text_classification.model import TextClassifier
from attnkit.tasks.text_classification.preprocessor import TextClassificationPreprocessor
from attnkit.tasks.text_classification.task import TextClassificationTask

__all__ = ["TextClassificationPreprocessor", "TextClassificationTask", "TextClassifier"]
