"""The registry databases the API tests run on: SQLite always, PostgreSQL where one answers
(this machine kind runs one on 127.0.0.1:5432 with trust auth); each test gets a fresh one."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

#: Where to find a PostgreSQL server for the tests; its database is used only to create and
#: drop a scratch database per test.
POSTGRES_ADMIN = os.environ.get(
    "ISANFARM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)

Factory = Callable[[Path], tuple[str, Callable[[], None]]]


def sqlite(tmp_path: Path) -> tuple[str, Callable[[], None]]:
    return f"sqlite:///{tmp_path}/registry.sqlite3", lambda: None


def postgres(tmp_path: Path) -> tuple[str, Callable[[], None]]:
    import psycopg

    name = f"isanfarm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")

    def drop() -> None:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base}/{name}", drop


def _postgres_unreachable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN, connect_timeout=3):
            return None
    except Exception as exc:  # any failure means: not here
        return (
            f"no PostgreSQL at {POSTGRES_ADMIN} ({type(exc).__name__}); set ISANFARM_TEST_POSTGRES"
        )


def database_urls() -> list[Any]:
    reason = _postgres_unreachable()
    return [
        pytest.param(sqlite, id="sqlite"),
        pytest.param(
            postgres,
            id="postgresql",
            marks=pytest.mark.skipif(reason is not None, reason=reason or ""),
        ),
    ]
