"""Where an interrupted ``fit`` keeps what it needs to resume, and how it is found again.

A run is identified by its *run key*: a hash of the resolved recipe, the data path, the
MLflow experiment and tracking URI. Running the same command again finds the key's folder
under ``$ATTNKIT_HOME/checkpoints`` (default ``./.attnkit``) and continues from its last
finished epoch, in the same MLflow run.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import keras
import numpy as np

from attnkit.pipelines.outputs import write_atomically

OPTIMIZER_FILE = "optimizer.npz"
WEIGHTS_FILE = "last.weights.h5"
PREPROCESSOR_FILE = "preprocessor.json"
STATE_FILE = "state.json"


def attnkit_home() -> Path:
    return Path(os.environ.get("ATTNKIT_HOME", ".attnkit"))


def run_key(recipe: dict[str, Any], data_path: str, experiment: str, tracking_uri: str) -> str:
    payload = json.dumps(
        {"recipe": recipe, "data": data_path, "experiment": experiment, "tracking": tracking_uri},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def checkpoint_dir(key: str) -> Path:
    return attnkit_home() / "checkpoints" / key


def read_state(directory: Path) -> dict[str, Any] | None:
    """The saved state if ``directory`` holds a complete checkpoint, else None."""
    needed = [STATE_FILE, WEIGHTS_FILE, OPTIMIZER_FILE, PREPROCESSOR_FILE]
    if not all((directory / name).is_file() for name in needed):
        return None
    state = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
    return state if "epoch" in state else None


def save_training_state(directory: Path, trainer: keras.Model, state: dict[str, Any]) -> None:
    """Weights, optimizer variables, then the state file last (it marks the set complete)."""
    temporary = directory / f".tmp-{WEIGHTS_FILE}"
    trainer.save_weights(str(temporary))
    os.replace(temporary, directory / WEIGHTS_FILE)
    arrays = {f"v{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(trainer.optimizer.variables)}
    temporary = directory / f".tmp-{OPTIMIZER_FILE}"
    with open(temporary, "wb") as file:
        np.savez(file, **arrays)
    os.replace(temporary, directory / OPTIMIZER_FILE)
    write_atomically(directory / STATE_FILE, json.dumps(state))


def restore_training_state(directory: Path, trainer: keras.Model) -> None:
    """Load weights and optimizer variables saved by :func:`save_training_state`."""
    trainer.load_weights(str(directory / WEIGHTS_FILE))
    trainer.optimizer.build(trainer.trainable_variables)
    with np.load(directory / OPTIMIZER_FILE) as saved:
        values = [saved[f"v{i}"] for i in range(len(saved.files))]
    variables = trainer.optimizer.variables
    if len(values) != len(variables):
        raise RuntimeError(
            f"{directory}: checkpoint has {len(values)} optimizer variables, model has {len(variables)}"
        )
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)
