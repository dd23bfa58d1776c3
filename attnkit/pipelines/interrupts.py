"""Ctrl-C during training stops at the next batch boundary, not wherever the signal lands.

Python raises ``KeyboardInterrupt`` at whatever bytecode the main thread is running. In
``fit`` that may be inside an MLflow or Optuna storage write (SQLite, PostgreSQL), leaving a
transaction half done and its lock held, so the cleanup after the interrupt (marking the
run KILLED, queueing the trial again) can block on it. While :func:`deferred_interrupts`
is active, the first SIGINT only sets a flag; :class:`StopAtBatchEnd` raises
``KeyboardInterrupt`` at the end of the running batch, from Keras' own loop. A second
Ctrl-C raises at once, as usual.

Example:
    >>> with deferred_interrupts() as stop:
    ...     isinstance(stop, StopAtBatchEnd)
    True
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import keras


class StopAtBatchEnd(keras.callbacks.Callback):
    """Raises ``KeyboardInterrupt`` at a batch or epoch end once ``requested`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.requested = False

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.check()

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.check()

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.check()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.check()


@contextmanager
def deferred_interrupts() -> Iterator[StopAtBatchEnd]:
    """Defer SIGINT to a batch boundary while the block runs (main thread only).

    Pass the yielded callback to ``fit``. An interrupt requested but not yet acted on when
    the block ends is raised then. Where SIGINT is ignored (a job started in the background)
    or this is not the main thread, nothing changes.
    """
    stop = StopAtBatchEnd()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if in_main else None
    if not in_main or previous in (signal.SIG_IGN, None):
        yield stop
        return

    def request_stop(signum: int, frame: Any) -> None:
        if stop.requested:  # the second Ctrl-C: stop now
            raise KeyboardInterrupt
        stop.requested = True
        print("interrupt: stopping after this batch (Ctrl-C again to stop at once)",
              file=sys.stderr, flush=True)  # fmt: skip

    signal.signal(signal.SIGINT, request_stop)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
    stop.check()
