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

from attnkit.pipelines.outputs import write_atomically

WEIGHTS_FILE = "last.weights.h5"
PREPROCESSOR_FILE = "preprocessor.json"
STATE_FILE = "state.json"


def attnkit_home() -> Path:
    return Path(os.environ.get("ATTNKIT_HOME", ".attnkit"))


def run_key(
    recipe: dict[str, Any],
    data_path: str,
    experiment: str,
    tracking_uri: str,
    scope: str | None = None,
) -> str:
    """``scope`` tells apart runs of one recipe that must not share a checkpoint (search trials)."""
    fields = {"recipe": recipe, "data": data_path, "experiment": experiment}
    fields["tracking"] = tracking_uri
    if scope is not None:
        fields["scope"] = scope
    payload = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def checkpoint_dir(key: str) -> Path:
    return attnkit_home() / "checkpoints" / key


def read_state(directory: Path) -> dict[str, Any] | None:
    """The saved state if ``directory`` holds a complete checkpoint, else None."""
    needed = [STATE_FILE, WEIGHTS_FILE, PREPROCESSOR_FILE]
    if not all((directory / name).is_file() for name in needed):
        return None
    state = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
    return state if "epoch" in state else None


def save_training_state(directory: Path, trainer: keras.Model, state: dict[str, Any]) -> None:
    """Weights and optimizer variables (Keras saves both), then the state file, which is
    written last because it marks the set complete."""
    temporary = directory / f".tmp-{WEIGHTS_FILE}"
    trainer.save_weights(str(temporary))
    os.replace(temporary, directory / WEIGHTS_FILE)
    write_atomically(directory / STATE_FILE, json.dumps(state))


def restore_training_state(directory: Path, trainer: keras.Model) -> None:
    """Load weights and optimizer variables saved by :func:`save_training_state`."""
    # The optimizer must exist before loading, or Keras skips its saved variables.
    trainer.optimizer.build(trainer.trainable_variables)
    trainer.load_weights(str(directory / WEIGHTS_FILE))
