"""Where an Optuna study lives: the default embedded store, RDB URLs, journal files.

- No ``--storage``: an SQLite file ``optuna.db`` next to the MLflow runs (the directory of
  an ``sqlite:///`` tracking DB, else the working directory). Optuna 5's JournalStorage has
  no heartbeat, so a trial whose worker was killed would stay RUNNING for ever; RDBStorage
  on SQLite has one, and its file locking (with a long busy timeout) serves a few local
  workers. Many workers, or several machines: ``postgresql://...`` (or ``mysql://...``).
- A URL (``sqlite:///``, ``postgresql://``, ...): :class:`optuna.storages.RDBStorage` with a
  heartbeat; a trial whose worker stops beating is failed and queued again (retried).
- A plain file path: an Optuna journal file (JournalFileBackend), for file systems where
  SQLite locking is unreliable (NFS). No heartbeat there.

Example:
    >>> mask_url("postgresql://tuner:secret@db:5432/studies")
    'postgresql://tuner:***@db:5432/studies'
"""

from __future__ import annotations

import random
import time
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from attnkit.errors import ConfigError

DEFAULT_FILE = "optuna.db"
#: How many times a trial whose worker died is queued again.
MAX_RETRY = 3
ATTEMPTS = 3


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs and MLflow)."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def default_storage_url(tracking_uri: str) -> str:
    """``sqlite:///<dir>/optuna.db``, next to an SQLite tracking DB or in the working directory."""
    directory = Path.cwd()
    if tracking_uri.startswith("sqlite:///"):
        directory = Path(tracking_uri[len("sqlite:///") :]).parent
    return f"sqlite:///{(directory / DEFAULT_FILE).resolve()}"


def has_heartbeat(url: str) -> bool:
    """Whether :func:`open_storage` gives ``url`` a heartbeat (RDB URLs do, journal files not)."""
    return "://" in url


def open_storage(url: str, heartbeat_interval: int):
    """An Optuna storage for ``url`` (see the module docstring); ConfigError if unreachable."""
    from optuna.storages.journal import JournalFileBackend, JournalStorage
    from sqlalchemy.exc import SQLAlchemyError

    if heartbeat_interval < 1:
        raise ConfigError(f"--heartbeat must be at least 1 second, got {heartbeat_interval}")
    if "://" not in url:
        path = Path(url).expanduser()
        if path.is_dir():
            raise ConfigError(f"--storage {url}: is a directory; give a journal file path")
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    engine_kwargs: dict = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        # Several local workers share the file; wait for the lock rather than fail.
        engine_kwargs["connect_args"] = {"timeout": 60}
    for attempt in range(ATTEMPTS):
        try:
            return _rdb_storage(url, engine_kwargs, heartbeat_interval)
        except ImportError as error:
            cause = error.__cause__ or error
            raise ConfigError(
                f"--storage {mask_url(url)}: the database driver is not installed ({cause}); "
                "for PostgreSQL: pip install 'psycopg[binary]'"
            ) from None
        except (SQLAlchemyError, ValueError) as error:
            # Workers that open a fresh database at the same moment race to create Optuna's
            # tables; the loser's error goes away on a second try.
            if attempt + 1 < ATTEMPTS and isinstance(error, SQLAlchemyError):
                time.sleep(1 + random.random())
                continue
            text = str(error).strip()
            first = text.splitlines()[0] if text else type(error).__name__
            raise ConfigError(
                f"--storage {mask_url(url)}: cannot open the study storage ({first})"
            ) from None
    raise AssertionError("unreachable")


def _rdb_storage(url: str, engine_kwargs: dict, heartbeat_interval: int):
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    with warnings.catch_warnings():
        # Heartbeats are "experimental" in Optuna 5, and have been since 2.9.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat_interval,
            grace_period=2 * heartbeat_interval,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
        )
