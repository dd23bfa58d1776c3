"""Fixtures for the pipeline tests that need a real PostgreSQL server.

``.ci/run`` starts one on loopback and exports ``ATTNKIT_TEST_POSTGRES_URL`` (a database the
user may create databases from); locally these tests skip unless it is set. Each test gets
its own fresh database, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

POSTGRES_ENV = "ATTNKIT_TEST_POSTGRES_URL"


@pytest.fixture
def new_postgres_database() -> Iterator[Callable[[], str]]:
    """``new_postgres_database()`` creates an empty database and returns its URL."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set (.ci/run starts a PostgreSQL server and sets it)")
    import psycopg

    created: list[str] = []

    def create() -> str:
        name = f"attnkit_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(base, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))

    yield create
    with psycopg.connect(base, autocommit=True) as connection:
        for name in created:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
