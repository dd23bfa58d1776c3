"""Pair classification metrics: the text-classification ones plus the positive class's
precision, recall and F1 (e.g. plagiarised pairs, MSRP paraphrases).

Example:
    >>> import numpy as np
    >>> m = pair_metrics(np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), 1)
    >>> m["precision"], m["recall"], round(m["f1"], 4)
    (1.0, 0.5, 0.6667)
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

from attnkit.tasks.text_classification.metrics import classification_metrics


def pair_metrics(
    targets: np.ndarray, probabilities: np.ndarray, positive_index: int
) -> dict[str, float]:
    """``accuracy``, ``macro_f1``, ``loss``, ``auc`` and the positive class's ``precision``,
    ``recall`` and ``f1`` (0 where undefined)."""
    metrics = classification_metrics(targets, probabilities)
    predicted = np.asarray(probabilities).argmax(axis=1)
    precision, recall, f1, _ = precision_recall_fscore_support(
        np.asarray(targets), predicted, labels=[positive_index], average=None, zero_division=0
    )
    metrics.update(
        {"precision": float(precision[0]), "recall": float(recall[0]), "f1": float(f1[0])}
    )
    return metrics
