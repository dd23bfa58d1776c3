"""One process at a time trains a run: the checkpoint folder's lock and the clear error a
second identical ``fit`` gets while the first is training."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import keras
import pytest

import attnkit
from attnkit.pipelines import cli
from attnkit.pipelines.checkpoints import RunInProgressError, exclusive_run

pytestmark = pytest.mark.usefixtures("mlflow_db")


def test_the_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints" / "key"
    with exclusive_run(folder):
        assert (folder / ".lock").read_text() == f"process {os.getpid()}"
        with pytest.raises(RunInProgressError, match=f"already being trained by process "
                                                     f"{os.getpid()}"):  # fmt: skip
            with exclusive_run(folder):
                pass
    assert not folder.exists()  # nothing was saved in it: no empty folder is left behind
    with pytest.raises(ValueError), exclusive_run(folder):
        (folder / "state.json").write_text("{}")
        raise ValueError("training failed")
    assert (folder / "state.json").exists()  # a checkpoint stays for the resume
    with exclusive_run(folder):  # released after the error too
        pass


class SameCommandAgain(keras.callbacks.Callback):
    """Runs the same ``attnkit fit`` command while the first is still training."""

    def __init__(self, arguments: list[str]) -> None:
        super().__init__()
        self.arguments = arguments
        self.code: int | None = None
        self.error = io.StringIO()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if self.code is None:
            with contextlib.redirect_stderr(self.error), contextlib.redirect_stdout(io.StringIO()):
                self.code = cli.main(self.arguments)


def test_a_second_identical_fit_stops_with_a_clear_error(sample_dir: Path, tiny_overrides) -> None:
    overrides = [*tiny_overrides, "training.epochs=2"]
    arguments = ["fit", "sample-lama", "--data", str(sample_dir)]
    arguments += [part for override in overrides for part in ("--set", override)]
    second = SameCommandAgain(arguments)
    result = attnkit.fit("sample-lama", data=str(sample_dir), overrides=overrides, verbose=0,
                         callbacks=[second])  # fmt: skip
    assert second.code == 2
    message = second.error.getvalue()
    assert f"already being trained by process {os.getpid()}" in message
    assert "checkpoint folder" in message and message.count("\n") == 1  # one line, no traceback
    assert result.metrics["test_accuracy"] > 0  # the first run was not disturbed
    # ...and once it has finished, the same command trains (a new run) as usual
    assert cli.main(arguments) == 0
