"""Text classification metrics: accuracy, macro-F1, AUC and cross-entropy.

Example:
    >>> import numpy as np
    >>> classification_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]))["accuracy"]
    1.0
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score


def classification_metrics(targets: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """``accuracy``, ``macro_f1``, ``loss`` and ``auc`` (binary: positive = class 1;
    multi-class: macro one-vs-rest). AUC is omitted when a class is absent from ``targets``."""
    targets = np.asarray(targets)
    probabilities = np.asarray(probabilities, dtype="float64")
    num_classes = probabilities.shape[1]
    predicted = probabilities.argmax(axis=1)
    picked = probabilities[np.arange(len(targets)), targets]
    metrics = {
        "accuracy": float(accuracy_score(targets, predicted)),
        "macro_f1": float(
            f1_score(targets, predicted, average="macro", labels=list(range(num_classes)), zero_division=0)
        ),
        "loss": float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0)))),
    }
    if len(np.unique(targets)) == num_classes:
        if num_classes == 2:
            metrics["auc"] = float(roc_auc_score(targets, probabilities[:, 1]))
        else:
            normalised = probabilities / probabilities.sum(axis=1, keepdims=True)
            metrics["auc"] = float(roc_auc_score(targets, normalised, multi_class="ovr"))
    return metrics
