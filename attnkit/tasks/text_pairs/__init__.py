"""Text-pair classification (plagiarism / paraphrase detection): readers, preprocessor, the
attention-based BiLSTM pair model, metrics, the task, and a synthetic sample maker."""

from attnkit.tasks.text_pairs.model import AttentionPairClassifier
from attnkit.tasks.text_pairs.preprocessor import TextPairPreprocessor
from attnkit.tasks.text_pairs.task import TextPairTask

__all__ = ["AttentionPairClassifier", "TextPairPreprocessor", "TextPairTask"]
