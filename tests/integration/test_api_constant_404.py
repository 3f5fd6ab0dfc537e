"""A 404 for an id that exists in another cooperative does the same work as a 404 for an id
that exists nowhere: the same SQL statements, and no row of the other cooperative loaded, on
SQLite and PostgreSQL (issue 17, defect 9). Counted, not timed: timing on a shared machine
proves nothing either way."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from api.main import create_app
from api.settings import ApiSettings
from isanfarm.influx import InfluxV1
from registry import models
from tests.api_world import World, seed
from tests.registry_databases import database_urls

pytestmark = pytest.mark.integration
B = "coop-b-farm1"

#: (method, path for an id of coop-b, path for an id that exists nowhere, json body)
LOOKUPS: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/cooperatives/coop-b", "/v1/cooperatives/coop-z", None),
    ("GET", f"/v1/farms/{B}", "/v1/farms/coop-z-farm1", None),
    ("GET", f"/v1/fields/{B}-f1", "/v1/fields/coop-z-farm1-f1", None),
    ("GET", f"/v1/herds/{B}-h1", "/v1/herds/coop-z-farm1-h1", None),
    ("GET", f"/v1/animals/{B}-cow1", "/v1/animals/coop-z-farm1-cow1", None),
    ("GET", f"/v1/devices/{B}-fnode", "/v1/devices/coop-z-farm1-fnode", None),
    ("GET", f"/v1/devices/{B}-fnode/latest", "/v1/devices/coop-z-farm1-fnode/latest", None),
    ("GET", f"/v1/fields/{B}-f1/forecast", "/v1/fields/coop-z-farm1-f1/forecast", None),
    ("GET", f"/v1/herds/{B}-h1/forecast", "/v1/herds/coop-z-farm1-h1/forecast", None),
    ("GET", f"/v1/fields/{B}-f1/telemetry", "/v1/fields/coop-z-farm1-f1/telemetry", None),
    ("GET", f"/v1/herds/{B}-h1/telemetry", "/v1/herds/coop-z-farm1-h1/telemetry", None),
    ("GET", "/v1/cooperatives/coop-b/summary", "/v1/cooperatives/coop-z/summary", None),
    ("GET", "/v1/cooperatives/coop-b/harvest-plan", "/v1/cooperatives/coop-z/harvest-plan", None),
    ("POST", "/v1/alerts/{b_alert}/acknowledge", "/v1/alerts/999999/acknowledge", None),
    (
        "POST",
        "/v1/fields",
        "/v1/fields",
        {
            "id": "coop-a-new-f1",
            "farm_id": B,
            "name": "plot",
            "area_rai": 10.0,
            "variety": "KU50",
            "planting_date": "2026-05-01",
            "soil": "loamy_sand",
        },
    ),
]


@dataclass
class Work:
    """What one request asked of the registry."""

    statements: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)


@pytest.fixture(params=database_urls())
def client(request: pytest.FixtureRequest, influx: InfluxV1) -> Iterator[TestClient]:
    url: str = request.getfixturevalue(request.param)
    settings = ApiSettings(influx=influx.settings, database_url=url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def _work(
    client: TestClient, method: str, path: str, body: dict[str, Any] | None, auth: Any
) -> Work:
    app: Any = client.app
    work = Work()

    def statement(conn: Any, cursor: Any, text: str, *args: Any) -> None:
        if not text.lstrip().upper().startswith("UPDATE API_KEYS"):  # a key's last use: per key
            work.statements.append(text)

    def loaded(session: Any, instance: Any) -> None:
        work.loaded.append(type(instance).__name__)

    event.listen(app.state.engine, "before_cursor_execute", statement)
    event.listen(app.state.sessions, "loaded_as_persistent", loaded)
    try:
        response = client.request(method, path, json=body, headers=auth)
    finally:
        event.remove(app.state.engine, "before_cursor_execute", statement)
        event.remove(app.state.sessions, "loaded_as_persistent", loaded)
    assert response.status_code == 404, (method, path, response.text)
    return work


def _coop_b_alert(client: TestClient) -> int:
    with client.app.state.sessions() as session, session.begin():  # type: ignore[attr-defined]
        alert = models.Alert(
            cooperative_id="coop-b",
            farm_id=B,
            kind=models.SOIL_DRY,
            subject=f"{B}-f1",
            message="dry",
            raised_at=datetime.now(UTC),
        )
        session.add(alert)
        session.flush()
        return alert.id


def test_a_404_does_the_same_work_whether_the_id_exists_elsewhere_or_nowhere(
    client: TestClient,
) -> None:
    world: World = seed(client.app)  # type: ignore[arg-type]
    b_alert = _coop_b_alert(client)
    auth = world.auth("a-admin")
    client.get("/v1/farms", headers=auth)  # the key's first use is recorded here, not below
    for method, elsewhere, nowhere, body in LOOKUPS:
        there = _work(client, method, elsewhere.format(b_alert=b_alert), body, auth)
        body_nowhere = None if body is None else {**body, "farm_id": "coop-z-farm1"}
        absent = _work(client, method, nowhere, body_nowhere, auth)
        assert len(there.statements) == len(absent.statements), elsewhere
        assert there.statements == absent.statements, elsewhere
        assert there.loaded == absent.loaded, elsewhere
        assert there.loaded == ["ApiKey"], elsewhere  # the caller's key, nothing of coop-b's
