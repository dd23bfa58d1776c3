"""``attnkit predict``: answers for raw inputs from a saved model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from attnkit.pipelines.outputs import write_atomically
from attnkit.pipelines.tracking import load_model


def predict(model_uri: str, inputs: Any, explain: bool = False, batch_size: int = 256) -> list[dict]:
    """Predict raw inputs (e.g. a list of texts) with the model at ``model_uri``.

    Example:
        >>> predict("runs:/<run_id>/model", ["a warm, witty film"])  # doctest: +SKIP
        [{'label': 'positive', 'probabilities': {'negative': 0.03, 'positive': 0.97}}]
    """
    return load_model(model_uri).predict(inputs, explain=explain, batch_size=batch_size)


def predict_file(
    model_uri: str, input_path: str, output_path: str | None = None, explain: bool = False
) -> list[dict]:
    """Read ``input_path`` (a ``.txt`` with one input per line, or a data file the task
    reads), predict, and write JSON Lines to ``output_path`` (atomically) if given."""
    loaded = load_model(model_uri)
    split = loaded.task.read_file(Path(input_path), loaded.recipe["data"], labelled=False)
    records = split.frame.select(list(loaded.task.input_fields))
    answers = loaded.predict(records, explain=explain)
    if output_path:
        write_atomically(output_path, "".join(json.dumps(a) + "\n" for a in answers))
    return answers
