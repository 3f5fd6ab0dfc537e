"""Property-based fuzzing of the whole API from its own OpenAPI description (schemathesis), as
its command line runs it: every phase (the schema's examples, coverage of each parameter's
edges and of the methods a path does not take, random fuzzing, and stateful sequences along the
links schemathesis infers) and every check (no 5xx, status codes, content types, headers and
bodies as documented, valid data accepted, invalid data refused, authentication really checked,
405 with `Allow`), with zero failures.

Twice per registry (SQLite and PostgreSQL): in-process through the ASGI app, and over real HTTP
against `isanfarm api` in a subprocess, started from `ISANFARM_*` settings as an operator would
start it, so uvicorn's parsing, headers and framing are what the checks see.

The number of examples per operation is small (``MAX_EXAMPLES``) to keep the four runs near a
minute on a loaded two-core machine; a longer hunt is ``st run`` against a running server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from api.main import create_app
from api.settings import ApiSettings
from isanfarm import storage
from isanfarm.influx import InfluxV1
from isanfarm.processes import stop_process
from isanfarm.settings import MqttSettings
from registry import models
from tests.api_world import World, seed, write_forecasts
from tests.helpers import wait_for
from tests.paths import ROOT
from tooling.services import LocalMosquitto, free_port

pytestmark = pytest.mark.integration
MAX_EXAMPLES = 4
#: Refusals the schema cannot express, made by business rules on schema-valid requests: a
#: cooperative creates ids in its own namespace only, a telemetry range needs `start` before
#: `end`, within the years InfluxDB stores, and a subscription's address must suit its channel
#: (a LINE id for LINE, an e-mail address for e-mail). All are 422s the spec documents.
BUSINESS_RULES = {
    "POST /v1/farms": "namespace",
    "POST /v1/fields": "namespace",
    "GET /v1/fields/{field_id}/telemetry": "time range",
    "GET /v1/herds/{herd_id}/telemetry": "time range",
    "POST /v1/subscriptions": "address suits the channel",
}
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "422"]


@pytest.fixture(params=["sqlite_registry", "postgres_registry"])
def registry_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(request.param)
    return url


@pytest.fixture
def settings(mosquitto: LocalMosquitto, influx: InfluxV1, registry_url: str) -> ApiSettings:
    influx.execute(
        f'CREATE RETENTION POLICY "{storage.ROLLUP_POLICY}" ON "{influx.settings.database}" '
        "DURATION INF REPLICATION 1"
    )
    write_forecasts(influx, "coop-a")
    return ApiSettings(
        mqtt=MqttSettings(port=mosquitto.port), influx=influx.settings, database_url=registry_url
    )


def _seed(settings: ApiSettings) -> World:
    """The two cooperatives, and an open and an acknowledged alert of coop-a, so that the
    alerts' times are in the answers the checks read."""
    app = create_app(settings)
    world = seed(app)
    with app.state.sessions() as session, session.begin():
        now = datetime.now(UTC)
        for acknowledged in (None, now):
            session.add(
                models.Alert(
                    cooperative_id="coop-a",
                    farm_id="coop-a-farm1",
                    kind="soil_dry",
                    subject="coop-a-farm1-f1",
                    message="soil is dry",
                    raised_at=now,
                    acknowledged_at=acknowledged,
                    acknowledged_by=None if acknowledged is None else "a admin",
                )
            )
    app.state.engine.dispose()
    return world


def _config(world: World, base_url: str | None = None) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            **({"base-url": base_url} if base_url else {}),
            "seed": 17,
            "workers": 1,
            "continue-on-failure": True,
            "suppress-health-check": ["all"],
            "headers": world.auth("a-admin"),
            "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
            "operations": [
                {
                    "include-name": list(BUSINESS_RULES),
                    "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}},
                }
            ],
        }
    )


def _run(schema: Any) -> tuple[list[str], dict[str, int]]:
    """Every phase and check; the distinct failures (check, operation, title, message) and how
    many requests each phase sent."""
    failures: dict[tuple[str, str, str], str] = {}
    sent: dict[str, int] = {}
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            phase = getattr(event, "phase", None)
            name = phase.value if phase is not None else "fuzzing"
            sent[name] = sent.get(name, 0) + len(event.recorder.interactions)
            for nodes in event.recorder.checks.values():
                for node in nodes:
                    if node.failure_info is not None:
                        failure = node.failure_info.failure
                        key = (node.name, failure.operation or "", failure.title)
                        failures.setdefault(key, (failure.message or "")[:500])
        elif isinstance(event, events.NonFatalError):
            failures.setdefault(("error", event.label, str(event.value)[:200]), "")
        elif isinstance(event, events.FatalError):
            raise event.exception
    return [
        f"{check} {operation}: {title}\n  {message}"
        for (check, operation, title), message in failures.items()
    ], sent


def _judge(failures: list[str], sent: dict[str, int], registry_url: str) -> None:
    assert sum(sent.values()) > 100, f"too few requests were sent: {sent}"
    assert {"examples", "coverage", "fuzzing", "stateful"} <= set(sent), sent
    print(f"requests per phase: {sent}", *failures, sep="\n")
    assert failures == [], "\n".join(failures)


def test_in_process_every_phase_and_check_passes(settings: ApiSettings) -> None:
    world = _seed(settings)
    app = create_app(settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=_config(world))
    assert len(list(schema.get_all_operations())) >= 20, "the schema lost its operations"
    _judge(*_run(schema), settings.database_url)


@pytest.fixture
def api_server(settings: ApiSettings, tmp_path: Path) -> Iterator[str]:
    """``isanfarm api`` in a subprocess on a free port, from ``ISANFARM_*`` settings only."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISANFARM_")}
    env |= {
        "PYTHONPATH": str(ROOT),
        "ISANFARM_DATABASE_URL": settings.database_url,
        "ISANFARM_INFLUX_URL": settings.influx.url,
        "ISANFARM_INFLUX_DATABASE": settings.influx.database,
        "ISANFARM_MQTT_PORT": str(settings.mqtt.port),
        "ISANFARM_HOST": "127.0.0.1",
        "ISANFARM_PORT": str(port),
    }
    log = tmp_path / "api.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tooling.cli", "api"],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(process, f"{base_url}/health"), "isanfarm api", timeout_s=60)
        yield base_url
    finally:
        stop_process(process)
        print(log.read_text(errors="replace")[-3000:])


def _answers(process: subprocess.Popen[bytes], url: str) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"isanfarm api exited with {process.returncode}; see its log")
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        time.sleep(0.2)
        return False


def test_over_http_every_phase_and_check_passes(settings: ApiSettings, api_server: str) -> None:
    world = _seed(settings)
    config = _config(world, base_url=api_server)
    schema = schemathesis.openapi.from_url(f"{api_server}/openapi.json", config=config)
    _judge(*_run(schema), settings.database_url)
