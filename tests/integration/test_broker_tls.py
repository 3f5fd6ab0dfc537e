"""The shipped broker configuration (deploy/mosquitto.conf and deploy/mosquitto.acl) on the real
Mosquitto, with the CA and the logins made by ``isanfarm devices``: a provisioned device
publishes over TLS with the ``[mqtt]`` section the command printed, and is refused in clear,
with a wrong password, or (with a certificate) on another device's topics."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.accelerated_clock import AcceleratedClock
from edge.agent import EdgeAgent
from edge.clock_health import TrustedClockHealth
from edge.config import load_config
from edge.runner import build_drivers
from isanfarm import contract
from tests.helpers import ROOT, wait_for
from tooling import devices
from tooling.services import LocalServer, free_port

pytestmark = pytest.mark.integration

FARM = "tls-farm"
INGEST_PASSWORD = "ingest-secret"


class ShippedBroker(LocalServer):
    """deploy/mosquitto.conf as shipped, with only its container paths and ports replaced:
    ``port`` is the internal plain listener (1883), ``tls_port`` 8883, ``cert_port`` 8884."""

    name = "mosquitto"
    binary = "mosquitto"

    def __init__(self, data_dir: Path, secrets: Path) -> None:
        super().__init__(data_dir)
        self.secrets = secrets
        self.tls_port = free_port()
        self.cert_port = free_port()

    def is_ready(self) -> bool:
        return all(_listening(port) for port in (self.port, self.tls_port, self.cert_port))

    def reload(self) -> None:
        """What ``docker compose kill -s HUP mosquitto`` does: reread passwords and ACL."""
        assert self._process is not None
        self._process.send_signal(1)

    def _command(self, executable: str) -> list[str]:
        text = (ROOT / "deploy" / "mosquitto.conf").read_text()
        for shipped, here in (
            ("/mosquitto/secrets/", f"{self.secrets}/"),
            ("/mosquitto/config/mosquitto.acl", str(ROOT / "deploy" / "mosquitto.acl")),
            ("/mosquitto/data/", f"{self.data_dir}/"),
            ("listener 1883", f"listener {self.port} 127.0.0.1"),
            ("listener 8883", f"listener {self.tls_port} 127.0.0.1"),
            ("listener 8884", f"listener {self.cert_port} 127.0.0.1"),
        ):
            assert shipped in text, f"deploy/mosquitto.conf no longer has {shipped!r}"
            text = text.replace(shipped, here)
        if os.geteuid() == 0:  # else mosquitto drops to a user who cannot read our files
            text += "\nuser root\n"
        config = self.data_dir / "mosquitto.conf"
        config.write_text(text)
        return [executable, "-c", str(config)]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def isanfarm(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tooling.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class Stack:
    broker: ShippedBroker
    secrets: Path
    #: What ``isanfarm devices provision`` printed, by device id.
    sections: dict[str, str]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("shipped-broker")
    secrets = root / "secrets"
    isanfarm("devices", "init-ca", "--secrets", str(secrets), "--host", "127.0.0.1")
    common = ["--secrets", str(secrets), "--host", "127.0.0.1"]
    sections = {
        "f01-node": isanfarm("devices", "provision", FARM, "f01-node", *common),
        "f02-node": isanfarm("devices", "provision", FARM, "f02-node", "--cert", *common),
    }
    devices.set_password(
        secrets / devices.PASSWORD_FILE, "isanfarm-ingest", INGEST_PASSWORD, rotate=False
    )
    with ShippedBroker(root / "broker", secrets) as broker:
        yield Stack(broker, secrets, sections)


class Probe:
    """One MQTT 5 connection attempt, recording the CONNACK and each PUBACK's reason code."""

    def __init__(self, port: int, **login: str | Path | None) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.connack: int | None = None
        self.pubacks: dict[int, int] = {}
        self._connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        # A refusal without a CONNACK (TLS spoken to in clear) ends in a disconnect instead.
        self.client.on_disconnect = lambda *_: self._connected.set()
        self.client.on_connect_fail = lambda *_: self._connected.set()
        if login.get("username"):
            self.client.username_pw_set(str(login["username"]), login.get("password"))  # type: ignore[arg-type]
        if login.get("ca_file"):
            self.client.tls_set(
                ca_certs=str(login["ca_file"]),
                certfile=_str(login.get("cert_file")),
                keyfile=_str(login.get("key_file")),
            )
        self.error: str | None = None
        try:
            self.client.connect("127.0.0.1", port, keepalive=10)
        except OSError as exc:  # ssl.SSLError is one
            self.error = str(exc)
            return
        self.client.loop_start()
        self._connected.wait(10)

    @property
    def accepted(self) -> bool:
        return self.connack == 0

    def publish(self, topic: str) -> int:
        """The PUBACK's reason code (0 delivered or 16 no subscribers; 135 not authorised)."""
        info = self.client.publish(topic, b"{}", qos=1)
        wait_for(lambda: info.mid in self.pubacks, f"a PUBACK for {topic}", timeout_s=30)
        return self.pubacks[info.mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: object, *args: object) -> None:
        self.connack = _code(args[1])
        self._connected.set()

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, *args: object) -> None:
        self.pubacks[mid] = _code(args[0])


def _code(reason: object) -> int:
    """paho's ReasonCode as the number MQTT 5 puts on the wire."""
    value = getattr(reason, "value", reason)
    assert isinstance(value, int)
    return value


def _str(value: str | Path | None) -> str | None:
    return None if value is None else str(value)


def agent_dir(stack: Stack, device_id: str, where: Path) -> Path:
    """A device's config folder as the operator would make it: the printed ``[mqtt]`` section
    in agent.toml, and the CA (and the device's key pair) copied beside it."""
    where.mkdir(parents=True)
    shutil.copy(stack.secrets / devices.CA_CERT, where)
    for pair in (stack.secrets / "devices").glob(f"{FARM}__{device_id}.*"):
        shutil.copy(pair, where)
    section = stack.sections[device_id]
    host_port = {
        f"port = {devices.PASSWORD_TLS_PORT}": f"port = {stack.broker.tls_port}",
        f"port = {devices.CERTIFICATE_TLS_PORT}": f"port = {stack.broker.cert_port}",
    }
    for shipped, here in host_port.items():
        section = section.replace(shipped, here)  # the only change: our broker's free port
    (where / "agent.toml").write_text(
        f'state_dir = "state"\n\n[device]\nfarm_id = "{FARM}"\ndevice_id = "{device_id}"\n'
        f'interval_s = 600\n\n[[sensors]]\ndriver = "simulated"\nkind = "cassava_field"\n'
        f"seed = 3\n\n{section}"
    )
    return where / "agent.toml"


@pytest.mark.parametrize("device_id", ["f01-node", "f02-node"], ids=["password", "certificate"])
def test_a_provisioned_device_publishes_over_tls_with_the_printed_section(
    stack: Stack, device_id: str, tmp_path: Path
) -> None:
    config = load_config(agent_dir(stack, device_id, tmp_path / "etc"), {})
    assert config.mqtt.uses_tls
    assert config.mqtt.username == f"{FARM}/{device_id}"
    received: list[str] = []
    ingest = Probe(stack.broker.port, username="isanfarm-ingest", password=INGEST_PASSWORD)
    assert ingest.accepted, "ingest's login on the internal listener"
    ingest.client.on_message = lambda c, u, message: received.append(message.topic)
    ingest.client.subscribe(contract.subscription(farm_id=FARM), qos=1)
    start = (time.time_ns() // 1_000_000 - 86_400_000) // 600_000 * 600_000
    agent = EdgeAgent(
        config, build_drivers(config), AcceleratedClock(start, speed=600 / 0.05),
        TrustedClockHealth(),
    )  # fmt: skip
    stop = threading.Event()
    running = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    running.start()
    try:
        topic = contract.telemetry_topic(FARM, device_id)
        wait_for(lambda: received.count(topic) >= 5, "readings over TLS", timeout_s=60)
    finally:
        stop.set()
        running.join(20)
        ingest.close()
    assert agent.stats.fatal_error is None


def test_a_device_is_refused_in_clear_and_with_a_wrong_password(stack: Stack) -> None:
    username = f"{FARM}/f01-node"
    password = stack.sections["f01-node"].split('password = "')[1].split('"')[0]
    ca_file = stack.secrets / devices.CA_CERT
    right = Probe(stack.broker.tls_port, username=username, password=password, ca_file=ca_file)
    assert right.accepted
    right.close()
    in_clear = Probe(stack.broker.tls_port, username=username, password=password)
    assert not in_clear.accepted, "the TLS listener took a connection in clear"
    in_clear.close()
    wrong = Probe(stack.broker.tls_port, username=username, password="guess", ca_file=ca_file)
    assert wrong.connack == 135, "not authorised"  # MQTT 5 CONNACK reason code
    wrong.close()
    no_certificate = Probe(
        stack.broker.cert_port, username=username, password=password, ca_file=ca_file
    )
    assert not no_certificate.accepted, "the certificate listener took a password"
    no_certificate.close()


def test_a_device_certificate_cannot_publish_another_devices_topics(stack: Stack) -> None:
    pair = stack.secrets / "devices" / f"{FARM}__f02-node"
    probe = Probe(
        stack.broker.cert_port,
        ca_file=stack.secrets / devices.CA_CERT,
        cert_file=pair.with_suffix(".crt"),
        key_file=pair.with_suffix(".key"),
    )
    try:
        assert probe.accepted
        assert probe.publish(contract.telemetry_topic(FARM, "f02-node")) in (0, 16)
        assert probe.publish(contract.telemetry_topic(FARM, "f01-node")) == 135
        assert probe.publish(contract.telemetry_topic("other-farm", "f02-node")) == 135
    finally:
        probe.close()


def test_a_rotated_password_replaces_the_old_one_once_the_broker_reloads(stack: Stack) -> None:
    common = ["--secrets", str(stack.secrets), "--host", "127.0.0.1"]
    first = isanfarm("devices", "provision", FARM, "f03-node", *common)
    refused = subprocess.run(
        [sys.executable, "-m", "tooling.cli", "devices", "provision", FARM, "f03-node", *common],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "--rotate" in refused.stderr
    second = isanfarm("devices", "provision", FARM, "f03-node", *common, "--rotate")
    stack.broker.reload()
    ca_file = stack.secrets / devices.CA_CERT
    username = f"{FARM}/f03-node"

    def login(section: str) -> Probe:
        password = section.split('password = "')[1].split('"')[0]
        return Probe(stack.broker.tls_port, username=username, password=password, ca_file=ca_file)

    def accepted(section: str) -> bool:
        probe = login(section)
        probe.close()
        return probe.accepted

    wait_for(lambda: accepted(second), "the new password to work after the reload")
    old = login(first)
    assert old.connack == 135
    old.close()
