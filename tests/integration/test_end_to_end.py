"""Simulated farms through the real path: edge agents -> Mosquitto -> ingest -> InfluxDB -> API."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from isanfarm import contract
from isanfarm.influx import InfluxV1, series_rows
from isanfarm.settings import MqttSettings
from tests.helpers import Observer, count_points, run_simulated_farm, wait_for
from tests.integration.conftest import RunningWorker
from tooling.seed import register_simulated_farm
from tooling.services import LocalMosquitto
from tooling.simulate import SimulatedFleet

pytestmark = pytest.mark.integration

READINGS_PER_DEVICE = 40


@pytest.fixture
def observer(mosquitto: LocalMosquitto, unique_id: str) -> Iterator[Observer]:
    watcher = Observer(mosquitto.port, contract.subscription(farm_id=unique_id), f"obs-{unique_id}")
    yield watcher
    watcher.close()


def run_fleet(port: int, farm_id: str, state_dir: Path) -> SimulatedFleet:
    """Two days back at 20,000x: a 600 s reading every 30 ms of real time per device."""
    two_days_ago = int(time.time() * 1000) - 2 * 86_400_000
    return run_simulated_farm(port, farm_id, state_dir, two_days_ago, 20_000, READINGS_PER_DEVICE)


def stored_points(influx: InfluxV1) -> dict[tuple[str, int], dict[str, object]]:
    """Every telemetry point, by the message it came from (device, seq)."""
    results = influx.query('SELECT * FROM "telemetry"')
    return {(str(row["device"]), int(row["seq"])): row for _, row in series_rows(results[0])}


@pytest.fixture
def stored_fleet(
    mosquitto: LocalMosquitto,
    influx: InfluxV1,
    start_ingest: Callable[..., RunningWorker],
    observer: Observer,
    unique_id: str,
    tmp_path: Path,
) -> SimulatedFleet:
    """A simulated farm that has published through ingest, with every reading stored (and
    seen by the observer, which subscribes before the farm starts)."""
    start_ingest()
    fleet = run_fleet(mosquitto.port, unique_id, tmp_path)
    published = sum(agent.stats.taken for agent in fleet.agents)
    assert all(agent.unacknowledged() == 0 for agent in fleet.agents)
    wait_for(lambda: count_points(influx, "telemetry", "seq") == published, "all points stored")
    return fleet


def test_every_simulated_reading_is_stored_with_its_values_and_device_time(
    stored_fleet: SimulatedFleet, influx: InfluxV1, observer: Observer, unique_id: str
) -> None:
    published = sum(agent.stats.taken for agent in stored_fleet.agents)
    wait_for(lambda: len(observer.messages) == published, "the observer to see every message")

    points = stored_points(influx)
    assert len(points) == published
    for message in observer.messages:
        point = points[(message.device_id, message.seq)]
        assert point["farm"] == unique_id
        assert point["site"] == message.site
        assert point["time"] == message.ts_ms
        assert point.get("animal") == message.animal_id
        for sensor, value in message.readings.items():
            assert point[sensor] == value, (message, sensor)


def test_the_api_returns_each_devices_latest_readings_with_units(
    stored_fleet: SimulatedFleet,
    mosquitto: LocalMosquitto,
    influx: InfluxV1,
    observer: Observer,
    unique_id: str,
    tmp_path: Path,
) -> None:
    fleet = stored_fleet

    settings = ApiSettings(
        mqtt=MqttSettings(port=mosquitto.port),
        influx=influx.settings,
        database_url=f"sqlite:///{tmp_path}/registry.sqlite3",
    )
    app = create_app(settings)
    with app.state.sessions() as session, session.begin():
        key = register_simulated_farm(
            session, "coop-demo", [a.config for a in fleet.agents], date(2026, 5, 1)
        )
    with TestClient(app) as api:
        for agent in fleet.agents:
            device = agent.config.device.device_id
            response = api.get(
                f"/v1/devices/{device}/latest", headers={"Authorization": f"Bearer {key}"}
            )
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["farm_id"] == unique_id
            latest = {r["sensor"]: r for r in body["readings"]}
            # The newest message without an animal carries every climate sensor of the device.
            last = max(
                (m for m in observer.messages if m.device_id == device and not m.animal_id),
                key=lambda m: m.ts_ms,
            )
            for sensor, value in last.readings.items():
                assert latest[sensor]["value"] == value
                assert latest[sensor]["unit"] == contract.SENSOR_CATALOGUE[sensor].unit
                assert latest[sensor]["seq"] == last.seq
                stamp = datetime.fromisoformat(latest[sensor]["time"])
                assert stamp == datetime.fromtimestamp(last.ts_ms / 1000, tz=UTC)
            passes = [m for m in observer.messages if m.device_id == device and m.animal_id]
            if passes:
                newest = max(m.ts_ms for m in passes)
                weighed = {
                    (m.animal_id, m.readings["animal_weight"]) for m in passes if m.ts_ms == newest
                }
                weight = latest["animal_weight"]
                assert (weight["animal_id"], weight["value"]) in weighed
                assert weight["unit"] == "kg"
