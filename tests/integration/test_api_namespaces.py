"""Cooperative namespaces cannot overlap, on SQLite and PostgreSQL: with cooperatives
``coopa`` and ``coopa-x`` (cooperative ids may contain ``-``), an id beginning ``coopa-x-``
is ``coopa-x``'s, and ``coopa`` can neither probe it nor take it (issue 17, defect 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.main import create_app
from api.settings import ApiSettings
from isanfarm.influx import InfluxV1
from registry import models
from registry.importer import RegistryImportError, import_csv
from registry.keys import create_key
from tests.paths import ROOT
from tests.registry_databases import database_urls

pytestmark = pytest.mark.integration


@pytest.fixture(params=database_urls())
def client(request: pytest.FixtureRequest, influx: InfluxV1) -> Iterator[TestClient]:
    url: str = request.getfixturevalue(request.param)
    settings = ApiSettings(influx=influx.settings, database_url=url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def _sessions(client: TestClient) -> Session:
    session: Session = client.app.state.sessions()  # type: ignore[attr-defined]
    return session


@pytest.fixture
def keys(client: TestClient) -> dict[str, dict[str, str]]:
    """``coopa`` and ``coopa-x`` with an admin key each, ``coopa-x-farm1`` of ``coopa-x``."""
    with _sessions(client) as session, session.begin():
        for coop in ("coopa", "coopa-x"):
            session.add(models.Cooperative(id=coop, name=coop, province="Khon Kaen"))
        session.flush()
        session.add(models.Farm(id="coopa-x-farm1", cooperative_id="coopa-x", name="x1"))
        raw = {
            "coopa": create_key(session, "coopa", "admin", "coopa admin"),
            "coopa-x": create_key(session, "coopa-x", "admin", "coopa-x admin"),
            "operator": create_key(session, None, "admin", "operator"),
        }
    return {who: {"Authorization": f"Bearer {key}"} for who, key in raw.items()}


def _farm(client: TestClient, farm_id: str, auth: dict[str, str], **extra: str) -> int:
    body = {"id": farm_id, "name": "new member", **extra}
    status: int = client.post("/v1/farms", json=body, headers=auth).status_code
    return status


def test_the_issues_three_requests(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    # coopa learns nothing of coopa-x's farm: refused as outside its namespace, not "taken".
    taken = client.post(
        "/v1/farms", json={"id": "coopa-x-farm1", "name": "x"}, headers=keys["coopa"]
    )
    assert taken.status_code == 422, taken.text
    assert taken.json()["field"] == "id"
    assert "taken" not in taken.json()["detail"]
    # The same answer for a free id of that namespace, so coopa cannot take it either ...
    assert _farm(client, "coopa-x-new", keys["coopa"]) == 422
    # ... and coopa-x creates it.
    assert _farm(client, "coopa-x-new", keys["coopa-x"]) == 201
    assert client.get("/v1/farms/coopa-x-new", headers=keys["coopa-x"]).status_code == 200


def test_each_keeps_its_own_namespace(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    assert _farm(client, "coopa-farm2", keys["coopa"]) == 201
    assert _farm(client, "coopa-xfarm", keys["coopa"]) == 201  # "coopa-xfarm" is not "coopa-x-"
    assert _farm(client, "coopa-farm3", keys["coopa-x"]) == 422
    assert _farm(client, "coopa-x-farm1", keys["coopa-x"]) == 409  # its own: it may know
    field = {
        "id": "coopa-x-f1",
        "farm_id": "coopa-farm2",
        "name": "plot",
        "area_rai": 10.0,
        "variety": "KU50",
        "planting_date": "2026-05-01",
        "soil": "loamy_sand",
    }
    assert client.post("/v1/fields", json=field, headers=keys["coopa"]).status_code == 422
    field["id"] = "coopa-farm2-f1"
    assert client.post("/v1/fields", json=field, headers=keys["coopa"]).status_code == 201


def test_the_operator_cannot_put_an_id_in_another_namespace(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    operator = keys["operator"]
    assert _farm(client, "coopa-x-op", operator, cooperative_id="coopa") == 422
    assert _farm(client, "coopa-x-op", operator, cooperative_id="coopa-x") == 201
    assert _farm(client, "coopa-op", operator, cooperative_id="coopa") == 201
    # An id in no cooperative's namespace stays the operator's choice, as before.
    assert _farm(client, "farm-17", operator, cooperative_id="coopa") == 201


def test_the_importer_keeps_namespaces_apart(
    client: TestClient, keys: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    farms = tmp_path / "farms.csv"
    farms.write_text("id,cooperative_id,name\ncoopa-x-imp,coopa,Imported\n")
    with _sessions(client) as session, session.begin(), pytest.raises(RegistryImportError) as e:
        import_csv(session, "farms", farms)
    assert "row 2, column id: 'coopa-x-imp'" in str(e.value)
    # A farm of coopa left from before (ids were checked by prefix) ...
    with _sessions(client) as session, session.begin():
        session.add(models.Farm(id="coopa-y-old", cooperative_id="coopa", name="squatter"))
    # ... keeps a new cooperative coopa-y from being added over it.
    cooperatives = tmp_path / "cooperatives.csv"
    cooperatives.write_text("id,name,province\ncoopa-y,Coop A-Y,Khon Kaen\n")
    with _sessions(client) as session, session.begin(), pytest.raises(RegistryImportError) as e:
        import_csv(session, "cooperatives", cooperatives)
    assert "farm 'coopa-y-old' of 'coopa'" in str(e.value)
    # Updating a cooperative or member that exists is no new claim.
    cooperatives.write_text("id,name,province\ncoopa-x,Renamed,Khon Kaen\n")
    farms.write_text("id,cooperative_id,name\ncoopa-y-old,coopa,Renamed\n")
    with _sessions(client) as session, session.begin():
        assert import_csv(session, "cooperatives", cooperatives) == 1
        assert import_csv(session, "farms", farms) == 1


def test_ids_left_in_another_namespace_are_listed(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    """What ids checked by prefix left behind: coopa's farm coopa-x-old lies in coopa-x's
    namespace. ``isanfarm registry check-namespaces`` lists such rows (exit 1)."""
    url = str(client.app.state.engine.url.render_as_string(hide_password=False))  # type: ignore[attr-defined]
    clean = _check_namespaces(url)
    assert clean.returncode == 0, clean.stderr
    with _sessions(client) as session, session.begin():
        session.add(models.Farm(id="coopa-x-old", cooperative_id="coopa", name="squatter"))
        session.add(models.Farm(id="farm-17", cooperative_id="coopa", name="no namespace"))
    found = _check_namespaces(url)
    assert found.returncode == 1, found.stderr
    assert found.stdout.splitlines() == [
        "farm 'coopa-x-old' of 'coopa' lies in 'coopa-x''s namespace"
    ]


def _check_namespaces(url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ISANFARM_DATABASE_URL": url}
    command = [sys.executable, "-m", "tooling.cli", "registry", "check-namespaces"]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
