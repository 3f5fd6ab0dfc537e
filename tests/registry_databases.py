"""The registry databases the API tests run on: SQLite, and PostgreSQL in a private server the
session starts (tooling.services.LocalPostgres), or in the one ISANFARM_TEST_POSTGRES names.
Each test gets a fresh database. A PostgreSQL that cannot be reached fails its tests: a skip
would let a machine without one pass while half of what the registry supports went untested."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tooling.services import LocalPostgres

#: A libpq URL of an existing server's database, used only to create and drop a scratch
#: database per test: for a server the tests must not start themselves (a CI service).
EXTERNAL = "ISANFARM_TEST_POSTGRES"


@dataclass(frozen=True, slots=True)
class PostgresServer:
    """A PostgreSQL server the tests may create and drop databases on."""

    admin_url: str

    @property
    def port(self) -> int:
        return make_url(self.admin_url).port or 5432

    def create_database(self) -> str:
        name = f"isanfarm_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def database_url(self, name: str, port: int | None = None) -> str:
        """The SQLAlchemy URL of database ``name``, reached on ``port`` if given (a proxy)."""
        url = make_url(self.admin_url).set(drivername="postgresql+psycopg", database=name)
        if port is not None:
            url = url.set(port=port)
        return url.render_as_string(hide_password=False)


@contextmanager
def postgres_server(data_dir: Path) -> Iterator[PostgresServer]:
    """The server ISANFARM_TEST_POSTGRES names, or a private one with its data in ``data_dir``."""
    external = os.environ.get(EXTERNAL)
    if external:
        yield PostgresServer(external)
        return
    with LocalPostgres(data_dir) as server:
        yield PostgresServer(server.url)


def database_urls() -> list[Any]:
    """Parameters for a fixture: the name of the fixture (tests/integration/conftest.py) that
    gives a fresh registry database's URL, to pass to ``request.getfixturevalue``."""
    return [
        pytest.param("sqlite_registry", id="sqlite"),
        pytest.param("postgres_registry", id="postgresql"),
    ]
