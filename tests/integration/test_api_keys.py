"""API keys can be listed, revoked, rotated and expire, from the command line and through the
operator's endpoints, on SQLite and PostgreSQL (issue 17, defect 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from api.main import create_app
from api.settings import ApiSettings
from isanfarm.influx import InfluxV1
from registry import models
from registry.keys import create_key
from tests.paths import ROOT
from tests.registry_databases import database_urls

pytestmark = pytest.mark.integration


@pytest.fixture(params=database_urls())
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(request.param)
    return url


@pytest.fixture
def client(database_url: str, influx: InfluxV1) -> Iterator[TestClient]:
    settings = ApiSettings(influx=influx.settings, database_url=database_url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        with test_client.app.state.sessions() as session, session.begin():  # type: ignore[attr-defined]
            session.add(models.Cooperative(id="coop-a", name="A", province="Khon Kaen"))
        yield test_client


def _key(client: TestClient, cooperative: str | None, role: str = "admin") -> str:
    with client.app.state.sessions() as session, session.begin():  # type: ignore[attr-defined]
        return create_key(session, cooperative, role, f"{cooperative} {role}")


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ISANFARM_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "tooling.cli", "registry", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def _prefix(key: str) -> str:
    return key.split("_")[1]


def test_an_unknown_cooperative_is_a_clear_error(client: TestClient, database_url: str) -> None:
    result = _cli(database_url, "create-key", "--cooperative", "nowhere", "--label", "x")
    assert result.returncode == 2, result.stderr
    assert "cooperative 'nowhere' is not in the registry" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_the_command_line_lifecycle(client: TestClient, database_url: str) -> None:
    created = _cli(
        database_url, "create-key", "--cooperative", "coop-a", "--label", "laptop", "--expires-in"
    )
    assert created.returncode == 2  # --expires-in needs a value: argparse says so
    created = _cli(
        database_url,
        *("create-key", "--cooperative", "coop-a", "--role", "admin", "--label", "laptop"),
        *("--expires-in", "30d"),
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert client.get("/v1/farms", headers=_auth(key)).status_code == 200

    listed = _cli(database_url, "list-keys")
    assert listed.returncode == 0, listed.stderr
    line = next(x for x in listed.stdout.splitlines() if x.startswith(_prefix(key)))
    expires = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%d")
    assert line.split()[1:3] == ["admin", "coop-a"]
    assert expires in line
    assert "active" in line
    assert line.split()[4] != "-"  # last used: the request above
    assert key.split("_")[2] not in listed.stdout

    rotated = _cli(database_url, "rotate-key", _prefix(key), "--grace", "1h")
    assert rotated.returncode == 0, rotated.stderr
    new_key = rotated.stdout.strip()
    assert new_key.startswith("isf_")
    assert new_key != key
    for both in (key, new_key):  # the grace period: the old one still works
        assert client.get("/v1/farms", headers=_auth(both)).status_code == 200

    revoked = _cli(database_url, "revoke-key", _prefix(key))
    assert revoked.returncode == 0, revoked.stderr
    refused = client.get("/v1/farms", headers=_auth(key))
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert f"the API key {_prefix(key)} was revoked" in refused.json()["detail"]
    assert client.get("/v1/farms", headers=_auth(new_key)).status_code == 200
    assert _cli(database_url, "revoke-key", "00000000").returncode == 2


def test_an_expired_key_is_refused(client: TestClient) -> None:
    operator = _auth(_key(client, None))
    reader = _key(client, "coop-a", "read")
    assert client.get("/v1/farms", headers=_auth(reader)).status_code == 200
    rotated = client.post(
        f"/v1/keys/{_prefix(reader)}/rotate", json={"grace_s": 0}, headers=operator
    )
    assert rotated.status_code == 201, rotated.text
    refused = client.get("/v1/farms", headers=_auth(reader))
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert f"the API key {_prefix(reader)} expired at " in refused.json()["detail"]
    new = rotated.json()
    assert (new["info"]["role"], new["info"]["cooperative_id"]) == ("read", "coop-a")
    assert client.get("/v1/farms", headers=_auth(new["key"])).status_code == 200
    again = client.post(f"/v1/keys/{_prefix(reader)}/rotate", json={}, headers=operator)
    assert again.status_code == 409


def test_the_operators_key_endpoints(client: TestClient) -> None:
    operator = _auth(_key(client, None))
    for other in (_key(client, "coop-a", "admin"), _key(client, None, "read")):
        assert client.get("/v1/keys", headers=_auth(other)).status_code == 403
    unknown = client.post(
        "/v1/keys", json={"cooperative_id": "nowhere", "label": "x"}, headers=operator
    )
    assert unknown.status_code == 422
    assert "cooperative 'nowhere' is not in the registry" in unknown.json()["detail"]
    past = client.post(
        "/v1/keys",
        json={"cooperative_id": "coop-a", "label": "x", "expires_at": "2020-01-01T00:00:00Z"},
        headers=operator,
    )
    assert past.status_code == 422
    beyond = client.post(
        "/v1/keys",
        json={"cooperative_id": "coop-a", "label": "x", "expires_at": "9999-12-31T23:59:59-23:59"},
        headers=operator,
    )
    assert beyond.status_code == 422, beyond.text  # later than any UTC time: out of range
    expires = (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
    created = client.post(
        "/v1/keys",
        json={"cooperative_id": "coop-a", "label": "tablet", "expires_at": expires.isoformat()},
        headers=operator,
    )
    assert created.status_code == 201, created.text
    key, info = created.json()["key"], created.json()["info"]
    assert datetime.fromisoformat(info["expires_at"]) == expires
    assert (info["role"], info["state"], info["last_used_at"]) == ("read", "active", None)
    assert client.get("/v1/farms", headers=_auth(key)).status_code == 200

    listed = client.get("/v1/keys", params={"cooperative_id": "coop-a"}, headers=operator)
    assert listed.status_code == 200
    assert key.split("_")[2] not in listed.text
    assert "secret" not in listed.text
    mine = next(i for i in listed.json()["items"] if i["prefix"] == _prefix(key))
    assert mine["last_used_at"] is not None

    revoked = client.post(f"/v1/keys/{_prefix(key)}/revoke", headers=operator)
    assert revoked.status_code == 200
    assert revoked.json()["state"] == "revoked"
    assert client.get("/v1/farms", headers=_auth(key)).status_code == 401
    assert client.post("/v1/keys/00000000/revoke", headers=operator).status_code == 404


def test_last_use_is_written_at_most_once_a_minute(client: TestClient) -> None:
    key = _key(client, "coop-a", "read")
    updates: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_KEYS"):
            updates.append(statement)

    engine = client.app.state.engine  # type: ignore[attr-defined]
    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(5):
            assert client.get("/v1/farms", headers=_auth(key)).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(updates) == 1
