"""Every time the registry gives back is UTC with an explicit offset, on SQLite (which keeps no
time zone) and on PostgreSQL (which answers in the session's zone), and so is every time the
API returns from it (issue 17, defect 3)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select
from sqlalchemy.exc import StatementError

from api.main import create_app
from api.settings import ApiSettings
from isanfarm.influx import InfluxV1
from registry import models
from registry.keys import create_key
from tests.registry_databases import database_urls

pytestmark = pytest.mark.integration
BANGKOK = timezone(timedelta(hours=7))


def _bangkok_sessions(engine: Engine) -> None:
    """A PostgreSQL server set to local time answers ``timestamptz`` in +07:00."""
    if engine.dialect.name != "postgresql":
        return

    def set_zone(connection: Any, record: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'Asia/Bangkok'")
        connection.commit()

    event.listen(engine, "connect", set_zone)
    engine.dispose()


@pytest.fixture(params=database_urls())
def client(request: pytest.FixtureRequest, influx: InfluxV1) -> Iterator[TestClient]:
    url: str = request.getfixturevalue(request.param)
    settings = ApiSettings(influx=influx.settings, database_url=url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        _bangkok_sessions(test_client.app.state.engine)  # type: ignore[attr-defined]
        yield test_client


def _is_utc(text: str) -> bool:
    return datetime.fromisoformat(text).utcoffset() == timedelta(0)


def test_a_time_reads_back_as_the_same_instant_in_utc(client: TestClient) -> None:
    raised = datetime(2026, 12, 3, 17, 30, 5, 123000, tzinfo=BANGKOK)  # 10:30:05 UTC
    sessions = client.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as session, session.begin():
        session.add(models.Cooperative(id="coop-a", name="A", province="Khon Kaen"))
        session.flush()
        session.add(
            models.Alert(
                cooperative_id="coop-a",
                kind=models.FORECAST_COVERAGE,
                subject="coop-a",
                message="m",
                raised_at=raised,
            )
        )
    with sessions() as session:
        stored = session.scalars(select(models.Alert.raised_at)).one()
    assert stored == raised
    assert stored.tzinfo is UTC
    assert stored.isoformat() == "2026-12-03T10:30:05.123000+00:00"
    with sessions() as session:  # and a comparison in SQL sees the same instant
        later = raised + timedelta(seconds=1)
        assert session.scalar(select(models.Alert.id).where(models.Alert.raised_at < later))


def test_a_time_without_zone_is_refused(client: TestClient) -> None:
    sessions = client.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as session, session.begin():
        session.add(models.Cooperative(id="coop-a", name="A", province="Khon Kaen"))
    with sessions() as session:
        session.add(
            models.Alert(
                cooperative_id="coop-a",
                kind=models.FORECAST_COVERAGE,
                subject="coop-a",
                message="m",
                raised_at=datetime(2026, 12, 3, 10, 0),
            )
        )
        with pytest.raises(StatementError, match="has no time zone"):
            session.flush()


def test_the_api_returns_utc_times(client: TestClient) -> None:
    sessions = client.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as session, session.begin():
        session.add(models.Cooperative(id="coop-a", name="A", province="Khon Kaen"))
        session.flush()
        session.add(
            models.Alert(
                cooperative_id="coop-a",
                kind=models.FORECAST_COVERAGE,
                subject="coop-a",
                message="m",
                raised_at=datetime.now(UTC),
            )
        )
        admin = create_key(session, "coop-a", "admin", "a admin")
        operator = create_key(session, None, "admin", "operator")
    auth = {"Authorization": f"Bearer {admin}"}
    alert = client.get("/v1/alerts", headers=auth).json()["items"][0]
    acknowledged = client.post(f"/v1/alerts/{alert['id']}/acknowledge", headers=auth)
    assert acknowledged.status_code == 200
    listed = client.get("/v1/alerts", params={"state": "all"}, headers=auth).json()["items"][0]
    times = [listed["raised_at"], listed["acknowledged_at"]]
    assert [t for t in times if not _is_utc(t)] == []

    op = {"Authorization": f"Bearer {operator}"}
    future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    created = client.post(
        "/v1/keys",
        json={"cooperative_id": "coop-a", "label": "x", "expires_at": future},
        headers=op,
    ).json()["info"]
    client.post(f"/v1/keys/{created['prefix']}/revoke", headers=op)
    for key in client.get("/v1/keys", headers=op).json()["items"]:
        times += [key[name] for name in ("created_at", "last_used_at", "expires_at", "revoked_at")]
    present = [t for t in times if t is not None]
    assert (
        len(present) >= 2 + 2 + 4
    )  # the alert's two; each key's created; a use, expiry, revocation
    assert [t for t in present if not _is_utc(t)] == []
