"""``attnkit evaluate``: score a saved model on labelled data."""

from __future__ import annotations

from pathlib import Path

from attnkit.errors import DataError
from attnkit.pipelines.tracking import load_model


def evaluate(model_uri: str, data: str, batch_size: int = 256) -> dict[str, float]:
    """Metrics of ``model_uri`` on ``data``: a labelled file (metrics named ``test_*``) or a
    folder of ``train``/``dev``/``test`` files (each split scored).

    Example:
        >>> evaluate("runs:/<run_id>/model", "data/sample/test.tsv")  # doctest: +SKIP
        {'test_accuracy': 0.97, 'test_macro_f1': 0.97, 'test_loss': 0.09, 'test_auc': 0.99}
    """
    loaded = load_model(model_uri)
    path = Path(data)
    options = loaded.recipe["data"]
    if not path.exists():
        raise DataError(path, "not found")
    if path.is_file():
        splits = [loaded.task.read_file(path, options, labelled=True)]
    else:
        splits = list(loaded.task.read_splits(path, options, loaded.recipe["seed"]).values())
    metrics: dict[str, float] = {}
    for split in splits:
        metrics.update(loaded.evaluate(split, batch_size))
    return metrics
