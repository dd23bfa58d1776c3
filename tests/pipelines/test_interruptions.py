"""Interrupting training: Ctrl-C lands on a batch boundary, and a run killed between its
checkpoint and its MLflow logging logs the missing epoch once when it resumes."""

from __future__ import annotations

import os
import signal

import keras
import numpy as np
import pytest

import attnkit  # noqa: F401  (the torch backend)
from attnkit.pipelines.callbacks import CheckpointAndEarlyStop, log_unlogged_epoch
from attnkit.pipelines.interrupts import deferred_interrupts


@pytest.fixture(autouse=True)
def _sigint_handled():
    """Ctrl-C handled as in a terminal, even where the test run itself was started in the
    background (a non-interactive shell's ``cmd &`` starts it with SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_the_first_ctrl_c_is_deferred_to_the_callback() -> None:
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.requested  # no exception yet: the signal only set the flag
            stop.on_train_batch_end(0)


def test_a_second_ctrl_c_stops_at_once() -> None:
    with deferred_interrupts() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
        stop.requested = False  # handled here; the block then ends normally
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_pending_interrupt_is_raised_when_the_block_ends() -> None:
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_sigint_stays_ignored() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with deferred_interrupts() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            assert not stop.requested
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_keras_fit_stops_after_the_batch_that_was_running() -> None:
    class InterruptOnBatch(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
            if batch == 2:
                os.kill(os.getpid(), signal.SIGINT)

    class CountBatches(keras.callbacks.Callback):
        done = 0

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            CountBatches.done += 1

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((40, 3), "float32"), np.ones((40, 1), "float32")
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts() as stop:
            model.fit(x, y, batch_size=4, epochs=1, verbose=0,
                      callbacks=[InterruptOnBatch(), CountBatches(), stop])  # fmt: skip
    assert CountBatches.done == 3  # batches 0, 1 and the interrupted batch 2 finished


def test_the_checkpoint_keeps_the_epoch_metrics(tmp_path) -> None:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    state: dict = {}
    checkpointer = CheckpointAndEarlyStop(tmp_path, "dev_loss", "min", 3, state, model)
    checkpointer.set_model(model)
    checkpointer.on_epoch_end(0, {"dev_loss": 0.5, "train_loss": np.float32(0.25), "x": "a"})
    assert state["epoch"] == 0 and state["epoch_metrics"] == {"dev_loss": 0.5, "train_loss": 0.25}


def test_an_epoch_checkpointed_but_not_logged_is_logged_once_on_resume(mlflow_db: str) -> None:
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_experiment("interruptions")  # not one cached from an earlier test's database
    with mlflow.start_run() as run:
        mlflow.log_metrics({"train_loss": 0.9, "dev_loss": 1.0}, step=0)
        state = {"epoch": 1, "epoch_metrics": {"train_loss": 0.7, "dev_loss": 0.8}}
        assert log_unlogged_epoch(run.info.run_id, state)
        assert not log_unlogged_epoch(run.info.run_id, state)  # already there: not again
        assert not log_unlogged_epoch(run.info.run_id, {"epoch": 0})  # an old checkpoint
    history = MlflowClient().get_metric_history(run.info.run_id, "dev_loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.8)]
