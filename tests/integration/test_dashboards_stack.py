"""The production stack's broker rules and compose file.

The ACL (deploy/mosquitto.acl) is loaded into a real Mosquitto with passwords: a device may
publish to its own topics only. ``docker compose config`` (or Debian's ``docker-compose`` 1.x)
validates docker-compose.yml where one works; neither needs a Docker engine for ``config``.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from tests.helpers import ROOT, wait_for
from tooling.services import LocalMosquitto

pytestmark = pytest.mark.integration

USERS = {
    "korat-001/f01-node": "pw-a",
    "korat-001/f02-node": "pw-b",
    "isanfarm-ingest": "pw-ingest",
    "isanfarm-simulator": "pw-sim",
}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMosquitto]:
    server = LocalMosquitto(
        tmp_path_factory.mktemp("acl-broker"), users=USERS, acl_file=ROOT / "deploy/mosquitto.acl"
    )
    with server:
        yield server


class Client:
    """An MQTT 5 client that records the broker's PUBACK reason codes and what it receives."""

    def __init__(self, port: int, username: str, subscribe: str | None = None) -> None:
        self.acks: dict[int, int] = {}
        self.received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.mqtt = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.mqtt.username_pw_set(username, USERS[username])
        self.mqtt.on_publish = self._on_publish
        self.mqtt.on_message = self._on_message
        self.mqtt.on_subscribe = lambda *args: self._ready.set()
        if subscribe is None:
            self.mqtt.on_connect = lambda *args: self._ready.set()
        else:
            self.mqtt.on_connect = lambda c, *args: c.subscribe(subscribe, qos=1)
        self.mqtt.connect("127.0.0.1", port)
        self.mqtt.loop_start()
        assert self._ready.wait(10), f"{username} could not connect"

    def _on_publish(
        self, c: mqtt.Client, u: object, mid: int, code: ReasonCode, p: Properties
    ) -> None:
        with self._lock:
            self.acks[mid] = code.value

    def _on_message(self, c: mqtt.Client, u: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((message.topic, bytes(message.payload)))

    def publish(self, topic: str, payload: bytes) -> int:
        """Publish at QoS 1 and return the broker's reason code (0 success, 135 refused)."""
        info = self.mqtt.publish(topic, payload, qos=1)
        wait_for(lambda: info.mid in self.acks, f"PUBACK for {topic}", 10)
        return self.acks[info.mid]

    def close(self) -> None:
        self.mqtt.disconnect()
        self.mqtt.loop_stop()


NOT_AUTHORIZED = 0x87
#: Success, or success with "no matching subscribers".
ACCEPTED = {0x00, 0x10}


def test_a_device_may_publish_only_to_its_own_topics(broker: LocalMosquitto) -> None:
    ingest = Client(broker.port, "isanfarm-ingest", subscribe="isanfarm/v1/#")
    device_a = Client(broker.port, "korat-001/f01-node")
    try:
        refused = {
            "isanfarm/v1/korat-001/f02-node/telemetry": b"as device B",
            "isanfarm/v1/korat-002/f01-node/telemetry": b"as another farm",
            "isanfarm/v1/korat-001/f01-node/other": b"not a contract kind",
            "isanfarm/v1/time": b"as the platform clock",
        }
        for topic, payload in refused.items():
            assert device_a.publish(topic, payload) == NOT_AUTHORIZED, topic
        own = "isanfarm/v1/korat-001/f01-node/telemetry"
        assert device_a.publish(own, b"mine") == 0
        assert device_a.publish("isanfarm/v1/korat-001/f01-node/status", b"online") == 0
        # Messages of one client arrive in order: once its last one is in, any refused
        # one would have been delivered already.
        wait_for(lambda: len(ingest.received) >= 2, "the device's own messages")
        assert {topic for topic, _ in ingest.received} == {
            own,
            "isanfarm/v1/korat-001/f01-node/status",
        }
    finally:
        device_a.close()
        ingest.close()


def test_the_demo_simulator_is_confined_to_the_demo_farm(broker: LocalMosquitto) -> None:
    simulator = Client(broker.port, "isanfarm-simulator")
    try:
        assert simulator.publish("isanfarm/v1/korat-demo/field-01-node/telemetry", b"x") in ACCEPTED
        assert simulator.publish("isanfarm/v1/korat-001/f01-node/telemetry", b"x") == NOT_AUTHORIZED
    finally:
        simulator.close()


def test_the_platform_clock_reaches_devices(broker: LocalMosquitto) -> None:
    device = Client(broker.port, "korat-001/f02-node", subscribe="isanfarm/v1/time")
    ingest = Client(broker.port, "isanfarm-ingest")
    try:
        assert ingest.publish("isanfarm/v1/time", b'{"schema":1,"ts":1}') in ACCEPTED
        wait_for(lambda: device.received, "the time beacon at the device")
    finally:
        device.close()
        ingest.close()


def compose_command() -> list[str] | None:
    """``docker compose`` if the plugin works, else Debian's ``docker-compose``, else None."""
    candidates = [["docker", "compose"], ["docker-compose"]]
    for command in candidates:
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=60)
        if probe.returncode == 0:
            return command
    return None


def test_docker_compose_config_is_valid(tmp_path: Path) -> None:
    command = compose_command()
    if command is None:
        pytest.skip(
            "no working `docker compose` plugin or `docker-compose` here (the docker CLI has "
            "no compose plugin; Debian's docker-compose package provides one)"
        )
    result = subprocess.run(
        [*command, "--env-file", ".env.example", "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # Without the .env file, the required secrets are refused, not silently empty.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    missing = subprocess.run(
        [*command, "--env-file", str(empty), "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode != 0
    assert "in .env" in missing.stderr
