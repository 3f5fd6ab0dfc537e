"""The registry's PostgreSQL stops answering without refusing (host down, partition, stuck
failover): requests fail within seconds with a 503, and succeed again once it answers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from isanfarm.influx import InfluxV1
from isanfarm.settings import MqttSettings
from tests.api_world import seed
from tests.registry_databases import PostgresServer
from tooling.services import LocalMosquitto

pytestmark = pytest.mark.integration


class SilentProxy:
    """Forwards TCP to PostgreSQL until ``go_silent()``: from then on it accepts connections
    and bytes and answers nothing, as a dead host behind a live network path would."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.silent = False
        self.unanswered: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def go_silent(self) -> None:
        self.silent = True

    def answer_again(self) -> None:
        self.silent = False

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            if self.silent:
                self.unanswered.append(client)  # kept open, never answered
                continue
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self.silent:
                    sink.sendall(data)
        except OSError:
            pass


@pytest.fixture
def proxied_client(
    mosquitto: LocalMosquitto, influx: InfluxV1, postgres_server: PostgresServer
) -> Iterator[tuple[TestClient, SilentProxy]]:
    name = postgres_server.create_database()
    proxy = SilentProxy(postgres_server.port)
    settings = ApiSettings(
        mqtt=MqttSettings(port=mosquitto.port),
        influx=influx.settings,
        database_url=postgres_server.database_url(name, port=proxy.port),
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, proxy
    postgres_server.drop_database(name)


def test_a_silent_registry_is_a_503_within_seconds_and_the_api_recovers(
    proxied_client: tuple[TestClient, SilentProxy],
) -> None:
    client, proxy = proxied_client
    auth = seed(client.app).auth("a-read")  # type: ignore[arg-type]
    assert client.get("/v1/fields", headers=auth).status_code == 200
    proxy.go_silent()
    answer: list[tuple[int, str, float]] = []

    def ask() -> None:
        started = time.monotonic()
        response = client.get("/v1/fields", headers=auth)
        answer.append((response.status_code, response.json()["title"], time.monotonic() - started))

    asking = threading.Thread(target=ask, daemon=True)  # the old code never returns
    asking.start()
    asking.join(20)
    assert answer, "the request still hangs after 20 s"
    status, title, seconds = answer[0]
    assert (status, title) == (503, "Registry unavailable")
    assert seconds < 10
    proxy.answer_again()
    assert client.get("/v1/fields", headers=auth).status_code == 200
