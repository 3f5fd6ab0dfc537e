"""Subscriptions through the CLI and the admin API, on SQLite and PostgreSQL: created, listed
and deleted, with clear errors for an unknown farm or cooperative, and a cooperative's key
confined to its own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from tests.api_world import World, seed
from tests.registry_databases import database_urls

LINE_ID = "U" + "ab" * 16


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ISANFARM_DATABASE_URL": url}
    command = [sys.executable, "-m", "tooling.cli", "notify", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, check=False)


@pytest.fixture(params=database_urls())
def client(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    settings = ApiSettings(database_url=request.getfixturevalue(request.param))
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def world(client: TestClient) -> World:
    return seed(client.app)  # type: ignore[arg-type]


def test_the_cli_subscribes_lists_and_unsubscribes_and_names_what_is_unknown(
    client: TestClient, world: World
) -> None:
    url = client.app.state.settings.database_url  # type: ignore[attr-defined]
    made = _cli(
        url,
        "subscribe",
        "--farm",
        "coop-a-farm1",
        "--line",
        LINE_ID,
        "--label",
        "ลุงสมชาย",
        "--kinds",
        "soil_dry,heat_stress",
        "--quiet",
        "21:00-06:00",
    )
    assert made.returncode == 0, made.stderr
    subscription_id = made.stdout.split()[0]
    staff = _cli(
        url,
        "subscribe",
        "--cooperative",
        "coop-a",
        "--email",
        "officer@coop.example",
        "--label",
        "officer",
        "--language",
        "en",
        "--quiet",
        "none",
    )
    assert staff.returncode == 0, staff.stderr

    listed = _cli(url, "list", "--cooperative", "coop-a")
    assert listed.returncode == 0, listed.stderr
    assert "coop-a-farm1" in listed.stdout
    assert LINE_ID in listed.stdout
    assert "kinds=soil_dry,heat_stress  quiet=21:00-06:00  repeat=6h" in listed.stdout
    assert "(staff of coop-a)" in listed.stdout
    assert "quiet=none" in listed.stdout
    assert listed.stdout.rstrip().endswith("2 subscription(s)")

    unknown_farm = _cli(
        url, "subscribe", "--farm", "coop-z-farm9", "--email", "a@b.example", "--label", "x"
    )
    assert unknown_farm.returncode == 2
    assert "farm 'coop-z-farm9' is not in the registry" in unknown_farm.stderr
    unknown_coop = _cli(url, "list", "--cooperative", "coop-z")
    assert (unknown_coop.returncode, unknown_coop.stderr.strip()) == (
        2,
        "isanfarm notify list: cooperative 'coop-z' is not in the registry",
    )
    bad_kind = _cli(
        url,
        "subscribe",
        "--farm",
        "coop-a-farm1",
        "--email",
        "a@b.example",
        "--label",
        "x",
        "--kinds",
        "rain",
    )
    assert bad_kind.returncode == 2
    assert "kinds: rain unknown" in bad_kind.stderr

    code = _cli(url, "link-code", "--farm", "coop-a-farm1")
    assert code.returncode == 0, code.stderr
    assert code.stdout.startswith("link code for coop-a-farm1: ")

    gone = _cli(url, "unsubscribe", subscription_id)
    assert gone.returncode == 0, gone.stderr
    again = _cli(url, "unsubscribe", subscription_id)
    assert again.returncode == 2
    assert f"subscription {subscription_id} does not exist" in again.stderr
    assert _cli(url, "list").stdout.rstrip().endswith("1 subscription(s)")


def test_the_admin_api_creates_lists_and_deletes_within_the_keys_cooperative(
    client: TestClient, world: World
) -> None:
    body = {"farm_id": "coop-a-farm1", "channel": "line", "address": LINE_ID, "label": "ลุงสมชาย"}
    made = client.post("/v1/subscriptions", json=body, headers=world.auth("a-admin"))
    assert made.status_code == 201, made.text
    created = made.json()
    assert (created["cooperative_id"], created["language"], created["quiet_start"]) == (
        "coop-a",
        "th",
        "21:00",
    )
    staff = {
        "channel": "email",
        "address": "officer@coop.example",
        "label": "officer",
        "language": "en",
        "quiet": "none",
        "kinds": ["forecast_coverage"],
    }
    assert (
        client.post("/v1/subscriptions", json=staff, headers=world.auth("a-admin")).status_code
        == 201
    )

    mine = client.get("/v1/subscriptions", headers=world.auth("a-admin")).json()
    assert [(s["farm_id"], s["channel"]) for s in mine] == [
        ("coop-a-farm1", "line"),
        (None, "email"),
    ]
    assert client.get("/v1/subscriptions", headers=world.auth("b-admin")).json() == []
    assert len(client.get("/v1/subscriptions", headers=world.auth("operator")).json()) == 2

    # Read keys do not see who is subscribed; another cooperative cannot touch them.
    assert client.get("/v1/subscriptions", headers=world.auth("a-read")).status_code == 403
    assert (
        client.delete(
            f"/v1/subscriptions/{created['id']}", headers=world.auth("b-admin")
        ).status_code
        == 404
    )
    into_a = client.post("/v1/subscriptions", json=body, headers=world.auth("b-admin"))
    assert into_a.status_code == 404
    assert "coop-a" not in into_a.text

    unknown = client.post(
        "/v1/subscriptions",
        json={**body, "farm_id": "coop-z-farm9"},
        headers=world.auth("operator"),
    )
    assert unknown.status_code == 404
    assert "farm 'coop-z-farm9' is not in the registry" in unknown.text
    no_coop = client.get("/v1/subscriptions?cooperative_id=coop-z", headers=world.auth("operator"))
    assert no_coop.status_code == 404
    assert "cooperative 'coop-z'" in no_coop.text
    not_line = client.post(
        "/v1/subscriptions", json={**body, "address": "somchai"}, headers=world.auth("a-admin")
    )
    assert not_line.status_code == 422
    assert "link the farmer's LINE with a link code" in not_line.text

    code = client.post(
        "/v1/link-codes", json={"farm_id": "coop-a-farm1"}, headers=world.auth("a-admin")
    )
    assert code.status_code == 201
    assert len(code.json()["code"]) == 8

    deleted = client.delete(f"/v1/subscriptions/{created['id']}", headers=world.auth("a-admin"))
    assert deleted.status_code == 204
    assert len(client.get("/v1/subscriptions", headers=world.auth("a-admin")).json()) == 1
