"""Fixtures: a real Mosquitto, InfluxDB and PostgreSQL per test session, on free loopback ports
in temp dirs, plus per-test isolation (a farm id and a database of its own) so tests never see
each other's data. Servers missing from the machine fail the tests loudly: scripts/setup
installs them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.settings import IngestSettings
from ingest.worker import IngestWorker
from isanfarm.influx import InfluxV1
from isanfarm.settings import InfluxSettings, MqttSettings
from tests import registry_databases
from tests.helpers import wait_for
from tests.registry_databases import PostgresServer
from tooling.services import LocalInfluxDB, LocalMosquitto


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMosquitto]:
    with LocalMosquitto(tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalInfluxDB]:
    with LocalInfluxDB(tmp_path_factory.mktemp("influxdb")) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    with registry_databases.postgres_server(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture
def postgres_registry(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database's URL for the registry, dropped after the test."""
    name = postgres_server.create_database()
    yield postgres_server.database_url(name)
    postgres_server.drop_database(name)


@pytest.fixture
def sqlite_registry(tmp_path: Path) -> str:
    """A fresh SQLite file's URL for the registry."""
    return f"sqlite:///{tmp_path}/registry.sqlite3"


@pytest.fixture
def influx(influxdb: LocalInfluxDB, unique_id: str) -> Iterator[InfluxV1]:
    client = InfluxV1(InfluxSettings(url=influxdb.url, database=unique_id.replace("-", "_")))
    client.create_database()
    yield client
    client.close()


@pytest.fixture
def ingest_settings(mosquitto: LocalMosquitto, influx: InfluxV1, unique_id: str) -> IngestSettings:
    return IngestSettings(
        mqtt=MqttSettings(port=mosquitto.port),
        influx=influx.settings,
        topic_filter=f"isanfarm/v1/{unique_id}/#",
        client_id=f"ingest-{unique_id}",
        batch_max_age_s=0.2,
    )


class RunningWorker:
    """An ingest worker in a thread, stoppable mid-test."""

    def __init__(self, settings: IngestSettings, influx: InfluxV1) -> None:
        self.worker = IngestWorker(settings, influx)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.worker.run, args=(self._stop,), daemon=True)
        self._thread.start()
        wait_for(lambda: self.worker.stats.connected, what="ingest to connect")
        time.sleep(0.2)  # the SUBACK follows CONNACK

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)
        assert not self._thread.is_alive(), "ingest worker did not stop"


@pytest.fixture
def start_ingest(
    ingest_settings: IngestSettings, influx: InfluxV1
) -> Iterator[Callable[..., RunningWorker]]:
    workers: list[RunningWorker] = []

    def start(**overrides: object) -> RunningWorker:
        settings = ingest_settings.model_copy(update=overrides)
        workers.append(RunningWorker(settings, InfluxV1(settings.influx)))
        return workers[-1]

    yield start
    for running in workers:
        running.stop()


@pytest.fixture
def publisher(mosquitto: LocalMosquitto, unique_id: str) -> Iterator[mqtt.Client]:
    """A plain MQTT client, as any device or tool would be."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{unique_id}")
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    yield client
    client.disconnect()
    client.loop_stop()
