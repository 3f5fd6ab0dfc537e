"""Small helpers shared by the tests."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.accelerated_clock import AcceleratedClock
from edge.config import MqttConfig
from isanfarm import contract
from isanfarm.influx import InfluxV1, series_rows
from tests.paths import ROOT as ROOT  # re-exported: the integration tests take it from here
from tooling.simulate import FarmLayout, SimulatedFleet, device_configs


def wait_for(condition: Callable[[], object], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def count_points(influx: InfluxV1, measurement: str, field: str) -> int:
    results = influx.query(f'SELECT count("{field}") FROM "{measurement}"')
    series = results[0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


class Observer:
    """An independent subscriber: records, in arrival order, what really crossed the broker.

    Its session is persistent (fixed client id, QoS 1), so it also receives what was published
    while it was reconnecting after a broker restart.
    """

    def __init__(self, port: int, topic_filter: str, client_id: str) -> None:
        self.messages: list[contract.Telemetry] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
        )
        self._client.on_message = self._on_message
        self._client.on_connect = lambda c, *_: c.subscribe(topic_filter, qos=1)
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.reconnect_delay_set(0.1, 1)  # type: ignore[arg-type]
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        assert self._subscribed.wait(10), "observer could not subscribe"

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(contract.decode_telemetry(msg.topic, bytes(msg.payload)))

    def seqs(self, device_id: str) -> list[int]:
        with self._lock:
            return [m.seq for m in self.messages if m.device_id == device_id]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def stored_seqs(influx: InfluxV1, device_id: str) -> list[int]:
    """The seq of every telemetry point of a device, in time order."""
    result = influx.query(
        'SELECT "seq" FROM "telemetry" WHERE "device" = $device', {"device": device_id}
    )[0]
    return [int(row["seq"]) for _, row in series_rows(result)]


def make_test_ca(directory: Path) -> dict[str, Path]:
    """A throwaway CA, a broker certificate for 127.0.0.1 and a client certificate (openssl)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        name: directory / name
        for name in ("ca.pem", "ca.key", "server.pem", "server.key", "client.pem", "client.key")
    }

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=isanfarm test CA",
    )
    for name, subject, extension in (
        ("server", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ("client", "/CN=f01-node", "extendedKeyUsage=clientAuth"),
    ):
        (directory / f"{name}.ext").write_text(extension + "\n")
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject)
        openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.pem",
            "-days",
            "2",
            "-extfile",
            f"{name}.ext",
        )
    return files


def run_simulated_farm(
    port: int, farm_id: str, state_dir: Path, start_ms: int, speed: float, readings: int
) -> SimulatedFleet:
    """One cassava field and one barn behind real edge agents, from ``start_ms`` at ``speed``,
    until every device has taken ``readings`` readings (10 minutes of device time apart)."""
    layout = FarmLayout(farm_id=farm_id, fields=1, barns=1, seed=5, interval_s=600)
    clock = AcceleratedClock(start_ms // 600_000 * 600_000, speed=speed)
    fleet = SimulatedFleet(device_configs(layout, MqttConfig(port=port), state_dir), clock)
    fleet.start()
    try:
        wait_for(
            lambda: all(a.stats.taken >= readings for a in fleet.agents),
            what="the simulated devices to take their readings",
            timeout_s=60,
        )
    finally:
        fleet.stop()
    return fleet


def mounted_tmpfs(mount_point: Path, size: str) -> Iterator[Path]:
    """A real small filesystem of ``size`` (mount's syntax: "1m") at ``mount_point``, for
    tests of a full disk; skips the test where mounting is not allowed (it needs root)."""
    mount_point.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)]
    mounted = subprocess.run(command, capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small disk here (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)]).returncode != 0:
            subprocess.run(["umount", "--lazy", str(mount_point)], check=True)
