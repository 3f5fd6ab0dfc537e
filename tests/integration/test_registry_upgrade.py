"""A registry written before keys could expire (revision 0002) upgrades in place, on SQLite and
PostgreSQL: its keys keep working and never expire, and the times it holds read back in UTC."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from registry.db import MIGRATIONS, make_engine, migrate, session_factory
from registry.keys import authenticate, list_keys
from tests.registry_databases import database_urls

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("database", database_urls())
def test_an_older_registry_upgrades_and_its_keys_keep_working(
    request: pytest.FixtureRequest, database: str
) -> None:
    engine = make_engine(request.getfixturevalue(database))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
        # Rows as the code of revision 0002 wrote them: a UTC time, without offset on SQLite.
        created = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
        connection.execute(
            text("INSERT INTO cooperatives (id, name, province) VALUES ('coop-a', 'A', 'Korat')")
        )
        connection.execute(
            text(
                "INSERT INTO api_keys (prefix, secret_sha256, cooperative_id, role, label,"
                " created_at) VALUES ('0123abcd', :digest, 'coop-a', 'read', 'old', :created)"
            ),
            {
                "digest": hashlib.sha256(b"s3cret").hexdigest(),
                "created": created.replace(tzinfo=None)
                if engine.dialect.name == "sqlite"
                else created,
            },
        )
    migrate(engine)
    try:
        with session_factory(engine)() as session:
            principal = authenticate(session, "isf_0123abcd_s3cret")
            (key,) = list_keys(session)
        assert principal.cooperative_id == "coop-a"
        assert key.expires_at is None
        assert key.created_at == created
        assert key.created_at.tzinfo is UTC
        with engine.begin() as connection:  # and back, and up again
            config.attributes["connection"] = connection
            command.downgrade(config, "0002")
            command.upgrade(config, "head")
    finally:
        engine.dispose()
