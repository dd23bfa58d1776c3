"""Where an interrupted ``fit`` keeps what it needs to resume, and how it is found again.

A run is identified by its *run key*: a hash of the resolved recipe, the data path, the
MLflow experiment and tracking URI. Running the same command again finds the key's folder
under ``$ATTNKIT_HOME/checkpoints`` (default ``./.attnkit``) and continues from its last
finished epoch, in the same MLflow run. While a ``fit`` trains a run it holds an exclusive
lock on the run's folder (:func:`exclusive_run`), so the same command started twice at once
stops with a clear error instead of two processes writing one checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import keras

from attnkit.errors import AttnkitError
from attnkit.pipelines.outputs import write_atomically

try:  # POSIX advisory locks; elsewhere runs are not guarded against a concurrent twin
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None  # type: ignore[assignment]

WEIGHTS_FILE = "last.weights.h5"
PREPROCESSOR_FILE = "preprocessor.json"
STATE_FILE = "state.json"
LOCK_FILE = ".lock"


class RunInProgressError(AttnkitError):
    """Another process is training the same run (same recipe, data and MLflow experiment)."""


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


@contextmanager
def exclusive_run(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on a run's checkpoint folder (created if needed) for the block.

    The lock goes with the process: a killed ``fit`` leaves no stale lock behind, so running
    the command again resumes as usual. Raises :class:`RunInProgressError` at once if another
    process holds it.

    Example:
        >>> with exclusive_run(checkpoint_dir(key)):  # doctest: +SKIP
        ...     train()
    """
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_FILE, "a+", encoding="utf-8") as handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise RunInProgressError(
                    f"this run is already being trained by {holder} (checkpoint folder "
                    f"{directory}); wait for it to finish, or change the recipe, the "
                    "--experiment or ATTNKIT_HOME to train a separate run"
                ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            _remove_if_only_the_lock(directory)
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_if_only_the_lock(directory: Path) -> None:
    """A run that stopped before its first checkpoint leaves no folder behind."""
    try:
        if [entry.name for entry in directory.iterdir()] == [LOCK_FILE]:
            (directory / LOCK_FILE).unlink()
            directory.rmdir()
    except OSError:  # already removed (a finished run), or someone else's files appeared
        pass


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
