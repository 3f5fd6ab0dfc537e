"""Engines, sessions and migrations for the registry database."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


#: Defaults of ``make_engine``'s timeouts, in seconds (ApiSettings sets the API's own).
CONNECT_TIMEOUT_S = 2.0
STATEMENT_TIMEOUT_S = 3.0
POOL_TIMEOUT_S = 3.0


def make_engine(
    url: str,
    *,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    statement_timeout_s: float = STATEMENT_TIMEOUT_S,
    pool_timeout_s: float = POOL_TIMEOUT_S,
) -> Engine:
    """SQLite gets foreign keys switched on (off by default there) and its folder created.
    PostgreSQL gets timeouts, so that a server that stops answering (host down, partition,
    stuck failover) fails a request within seconds instead of holding it, and a worker thread
    with it, for as long as TCP takes to notice; ``pool_timeout_s`` bounds the wait for a
    pooled connection when every one is taken by such stuck requests."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if make_url(url).get_backend_name() != "postgresql":
        engine = create_engine(url, pool_pre_ping=True)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_foreign_keys)
        return engine
    return _postgres_engine(url, connect_timeout_s, statement_timeout_s, pool_timeout_s)


def _postgres_engine(
    url: str, connect_timeout_s: float, statement_timeout_s: float, pool_timeout_s: float
) -> Engine:
    from registry import postgres

    engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_timeout=pool_timeout_s,
        connect_args=postgres.timeout_parameters(connect_timeout_s, statement_timeout_s),
    )

    @event.listens_for(engine, "do_connect")
    def bounded_connect(
        dialect: object, record: object, cargs: list[Any], cparams: dict[str, Any]
    ) -> postgres.BoundedConnection:
        return postgres.connect(statement_timeout_s, *cargs, **cparams)

    return engine


def _sqlite_foreign_keys(connection: object, record: object) -> None:
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent); says so in one log line when it
    changed anything (the CLI keeps alembic's own INFO lines out of every command's output)."""
    config = _config()
    with engine.begin() as connection:
        before = MigrationContext.configure(connection).get_current_revision()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        after = MigrationContext.configure(connection).get_current_revision()
    if after != before:
        log.info("registry schema upgraded from %s to %s", before or "empty", after)


class SchemaNotCurrentError(RuntimeError):
    """The registry database is not at the revision this code needs."""


def require_current(engine: Engine) -> None:
    """Refuse a registry that is not at the newest revision, without changing it: for API
    processes that share a database and leave the upgrade to ``isanfarm registry migrate``."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current != head:
        raise SchemaNotCurrentError(
            f"the registry database is at revision {current or 'none (empty)'}, this code needs "
            f"{head}: run `isanfarm registry migrate` once, or set "
            "ISANFARM_MIGRATE_ON_START=true where a single API process may upgrade it"
        )


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
