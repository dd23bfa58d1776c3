"""CTR metrics: global AUC, GAUC (per-user AUC averaged, weighted by impressions), log loss.

Example:
    >>> import numpy as np
    >>> labels = np.array([1, 0, 0, 1, 0, 1]); users = np.array([1, 1, 1, 2, 2, 2])
    >>> scores = np.array([0.9, 0.2, 0.4, 0.3, 0.6, 0.8])
    >>> m = ctr_metrics(labels, scores, users)
    >>> round(m["auc"], 4), round(m["gauc"], 4)
    (0.7778, 0.75)
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score


def grouped_auc(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> float:
    """Impression-weighted mean of per-group AUCs over groups with both classes (DIN's
    GAUC); NaN if no group has both."""
    labels, scores, groups = np.asarray(labels), np.asarray(scores), np.asarray(groups)
    order = np.argsort(groups, kind="stable")
    labels, scores, groups = labels[order], scores[order], groups[order]
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    ends = np.r_[starts[1:], len(groups)]
    total = weight = 0.0
    for start, end in zip(starts, ends, strict=True):
        group = labels[start:end]
        if group.min() == group.max():
            continue
        total += (end - start) * roc_auc_score(group, scores[start:end])
        weight += end - start
    return total / weight if weight else float("nan")


def ctr_metrics(labels: np.ndarray, scores: np.ndarray, users: np.ndarray | None = None
                ) -> dict[str, float]:
    """``auc``, ``logloss`` and (with ``users``) ``gauc`` of click probabilities."""
    labels = np.asarray(labels).astype(int)
    scores = np.clip(np.asarray(scores, dtype="float64"), 1e-7, 1 - 1e-7)
    both = labels.min() != labels.max() if len(labels) else False
    metrics = {
        "auc": float(roc_auc_score(labels, scores)) if both else float("nan"),
        "logloss": float(log_loss(labels, scores, labels=[0, 1])) if len(labels) else float("nan"),
    }
    if users is not None:
        metrics["gauc"] = float(grouped_auc(labels, scores, users))
    return metrics
