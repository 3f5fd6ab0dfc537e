"""The edge agent against a real Mosquitto (and InfluxDB where the claim is end to end):
link outages, a killed agent, a full outbox, refused credentials, TLS, untrusted clocks."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from edge.accelerated_clock import AcceleratedClock
from edge.agent import EdgeAgent
from edge.clock import WallClock
from edge.clock_health import ClockHealth, TrustedClockHealth
from edge.config import (
    DeviceConfig,
    EdgeConfig,
    HealthConfig,
    MqttConfig,
    OutboxConfig,
    SensorConfig,
)
from edge.outbox import Outbox
from edge.runner import build_drivers
from ingest.settings import IngestSettings
from isanfarm import contract
from isanfarm.influx import InfluxV1, series_rows
from isanfarm.settings import MqttSettings
from tests.helpers import ROOT, Observer, make_test_ca, stored_seqs, wait_for
from tests.integration.conftest import RunningWorker
from tooling.services import BrokerTls, LocalMosquitto

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalMosquitto]:
    """A broker of this test's own, which it may stop and restart."""
    with LocalMosquitto(tmp_path / "broker") as server:
        yield server


@pytest.fixture
def observer(broker: LocalMosquitto, unique_id: str) -> Iterator[Observer]:
    """An independent subscriber to this test's farm on its own broker, from the start."""
    watcher = Observer(broker.port, contract.subscription(farm_id=unique_id), f"o-{unique_id}")
    yield watcher
    watcher.close()


@pytest.fixture
def ingest_on(
    ingest_settings: IngestSettings, influx: InfluxV1
) -> Iterator[Callable[..., RunningWorker]]:
    workers: list[RunningWorker] = []

    def start(port: int, **overrides: object) -> RunningWorker:
        changes = {"mqtt": MqttSettings(port=port), **overrides}
        settings = ingest_settings.model_copy(update=changes)
        workers.append(RunningWorker(settings, InfluxV1(settings.influx)))
        return workers[-1]

    yield start
    for worker in workers:
        worker.stop()


def field_config(farm: str, port: int, state_dir: Path, **mqtt: object) -> EdgeConfig:
    return EdgeConfig(
        device=DeviceConfig(farm, "f01-node", "field-01", 600),
        mqtt=MqttConfig(port=port, **mqtt),  # type: ignore[arg-type]
        state_dir=state_dir,
        sensors=(SensorConfig("simulated", {"kind": "cassava_field", "seed": 3}),),
    )


class RunningAgent:
    def __init__(self, agent: EdgeAgent) -> None:
        self.agent = agent
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=agent.run, args=(self.stop_event,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(20)
        assert not self.thread.is_alive(), "agent did not stop"


def accelerated(interval_real_s: float, days_back: float = 2) -> AcceleratedClock:
    """A clock whose 600 s readings come every ``interval_real_s`` of real time."""
    start = (time.time_ns() // 1_000_000 - int(days_back * DAY_MS)) // 600_000 * 600_000
    return AcceleratedClock(start, speed=600 / interval_real_s)


def test_readings_taken_while_the_broker_is_down_arrive_exactly_once_in_order(
    broker: LocalMosquitto,
    influx: InfluxV1,
    ingest_on: Callable[..., RunningWorker],
    observer: Observer,
    unique_id: str,
    tmp_path: Path,
) -> None:
    ingest_on(broker.port)
    config = field_config(unique_id, broker.port, tmp_path / "agent")
    agent = EdgeAgent(config, build_drivers(config), accelerated(0.05), TrustedClockHealth())
    running = RunningAgent(agent)
    try:
        wait_for(lambda: agent.stats.acknowledged >= 10, "readings acknowledged before the outage")
        broker.stop()
        taken_at_outage = agent.stats.taken
        wait_for(lambda: agent.stats.taken >= taken_at_outage + 30, "sampling during the outage")
        assert agent.unacknowledged() >= 25, "readings taken offline wait in the outbox"
        broker.start()
        wait_for(lambda: agent.stats.taken >= taken_at_outage + 50, "sampling after the outage")
        wait_for(lambda: agent.unacknowledged() == 0, "the backlog drained", timeout_s=60)
    finally:
        running.stop()
    taken = agent.stats.taken
    assert Outbox(tmp_path / "agent" / "outbox.sqlite").depth() == 0
    wait_for(lambda: len(stored_seqs(influx, "f01-node")) == taken, "every reading stored")
    assert stored_seqs(influx, "f01-node") == list(range(taken))
    assert backlog_and_live_each_in_order(list(dict.fromkeys(observer.seqs("f01-node"))))


def backlog_and_live_each_in_order(delivered: list[int]) -> bool:
    """Live readings may overtake the backlog, but the backlog itself goes oldest first and so
    do the live ones: the delivery order is two ascending runs merged, split at some seq."""

    def ascending(run: list[int]) -> bool:
        return run == sorted(run)

    return any(
        ascending([s for s in delivered if s < split])
        and ascending([s for s in delivered if s >= split])
        for split in delivered
    )


def test_an_agent_killed_mid_drain_loses_nothing_and_duplicates_are_harmless(
    broker: LocalMosquitto,
    influx: InfluxV1,
    ingest_on: Callable[..., RunningWorker],
    observer: Observer,
    unique_id: str,
    tmp_path: Path,
) -> None:
    ingest_on(broker.port)
    config_path = tmp_path / "agent.toml"
    config_path.write_text(
        f"""
state_dir = "state"
[device]
farm_id = "{unique_id}"
device_id = "f01-node"
interval_s = 0.02
[[sensors]]
driver = "simulated"
kind = "cassava_field"
[mqtt]
port = {broker.port}
max_in_flight = 5
"""
    )
    command = [sys.executable, "-m", "tooling.cli", "edge", "run", "--config", str(config_path)]
    outbox_path = tmp_path / "state" / "outbox.sqlite"

    def start_agent() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    agent = start_agent()
    try:
        wait_for(lambda: len(observer.seqs("f01-node")) >= 50, "the agent publishing")
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        left = Outbox(outbox_path)
        committed = {*observer.seqs("f01-node"), *_seqs_in(left)}
        left.close()
        agent = start_agent()
        wait_for(lambda: max(observer.seqs("f01-node")) >= 1000, "the restarted agent publishing")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(20) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
    delivered = observer.seqs("f01-node")
    assert Outbox(outbox_path).depth() == 0, "a clean stop after the restart drains the outbox"
    before_kill = max(committed)
    assert committed == set(range(before_kill + 1)), "seq numbers are given out without gaps"
    wait_for(lambda: set(stored_seqs(influx, "f01-node")) >= set(delivered), "all stored")
    stored = set(stored_seqs(influx, "f01-node"))
    assert committed <= stored, f"lost: {sorted(committed - stored)[:10]}"
    # A new process resumes the counter past its reserved block, never reusing a number.
    assert min(s for s in stored if s > before_kill) >= 1000
    duplicates = len(delivered) - len(set(delivered))
    print(f"duplicate deliveries after kill -9: {duplicates}")
    assert len(stored_seqs(influx, "f01-node")) == len(set(delivered)), "duplicates overwrote"


def _seqs_in(outbox: Outbox) -> set[int]:
    return {
        contract.decode_telemetry(item.topic, item.payload).seq
        for item in outbox.next_batch(1_000_000)
    }


def test_a_full_outbox_drops_the_oldest_keeps_the_newest_and_reports_the_count(
    broker: LocalMosquitto,
    influx: InfluxV1,
    ingest_on: Callable[..., RunningWorker],
    unique_id: str,
    tmp_path: Path,
) -> None:
    config = replace(
        field_config(unique_id, broker.port, tmp_path / "agent"),
        outbox=OutboxConfig(max_readings=20),
    )
    agent = EdgeAgent(config, build_drivers(config), WallClock(), TrustedClockHealth())
    start = (time.time_ns() // 1_000_000 - DAY_MS) // 600_000 * 600_000
    for step in range(50):  # a link outage long enough to fill the outbox
        agent.sample(start + step * 600_000)
    assert (agent.outbox.depth(), agent.outbox.dropped()) == (20, 30)

    ingest_on(broker.port)
    running = RunningAgent(agent)
    try:
        wait_for(lambda: len(stored_seqs(influx, "f01-node")) == 20, "the kept readings stored")
        wait_for(lambda: _status_field(influx, "dropped") == 30, "the dropped count reported")
    finally:
        running.stop()
    assert stored_seqs(influx, "f01-node") == list(range(30, 50))


def _status_field(influx: InfluxV1, name: str) -> object:
    result = influx.query(f'SELECT last("{name}") FROM "device_status"')[0]
    rows = [row for _, row in series_rows(result)]
    return rows[0]["last"] if rows else None


def test_refused_credentials_stop_the_agent_with_a_clear_reason(tmp_path: Path) -> None:
    with LocalMosquitto(tmp_path / "broker", users={"f01-node": "right"}) as secured:
        config = field_config(
            "korat-001", secured.port, tmp_path / "a", username="f01-node", password="wrong"
        )
        agent = EdgeAgent(config, build_drivers(config), WallClock(), TrustedClockHealth())
        finished = threading.Thread(target=agent.run, args=(threading.Event(),), daemon=True)
        finished.start()
        finished.join(20)
        assert not finished.is_alive(), "the agent kept retrying bad credentials"
    assert agent.stats.fatal_error is not None
    assert "username/password" in agent.stats.fatal_error


def test_the_agent_publishes_over_mutual_tls_with_a_private_ca(
    influx: InfluxV1, unique_id: str, tmp_path: Path
) -> None:
    files = make_test_ca(tmp_path / "pki")
    tls = BrokerTls(files["ca.pem"], files["server.pem"], files["server.key"], True)
    with LocalMosquitto(tmp_path / "broker", tls=tls) as secured:
        config = field_config(
            unique_id,
            secured.port,
            tmp_path / "agent",
            ca_file=str(files["ca.pem"]),
            cert_file=str(files["client.pem"]),
            key_file=str(files["client.key"]),
        )
        agent = EdgeAgent(config, build_drivers(config), accelerated(0.05), TrustedClockHealth())
        running = RunningAgent(agent)
        try:
            wait_for(lambda: agent.stats.acknowledged >= 5, "readings acknowledged over TLS")
        finally:
            running.stop()
        without_client_cert = field_config(
            unique_id, secured.port, tmp_path / "b", ca_file=str(files["ca.pem"])
        )
        refused = EdgeAgent(
            without_client_cert,
            build_drivers(without_client_cert),
            accelerated(0.05),
            TrustedClockHealth(),
        )
        running = RunningAgent(refused)
        time.sleep(1.5)
        running.stop()
        assert refused.stats.acknowledged == 0


def test_live_readings_overtake_a_long_backlog(
    broker: LocalMosquitto, observer: Observer, unique_id: str, tmp_path: Path
) -> None:
    config = replace(
        field_config(unique_id, broker.port, tmp_path / "agent"),
        mqtt=MqttConfig(port=broker.port, max_in_flight=1),
    )
    agent = EdgeAgent(config, build_drivers(config), accelerated(0.02), TrustedClockHealth())
    backlog_start = (time.time_ns() // 1_000_000 - 20 * DAY_MS) // 600_000 * 600_000
    for step in range(1500):  # ten days of readings taken while the link was down
        agent.sample(backlog_start + step * 600_000)
    running = RunningAgent(agent)
    try:
        wait_for(lambda: agent.unacknowledged() == 0, "the backlog drained", timeout_s=60)
    finally:
        running.stop()
    delivered = list(dict.fromkeys(observer.seqs("f01-node")))
    last_backlog = delivered.index(1499)
    live_before = [seq for seq in delivered[:last_backlog] if seq >= 1500]
    assert live_before, "no live reading was delivered before the backlog finished"
    backlog_order = [seq for seq in delivered if seq < 1500]
    assert backlog_order == list(range(1500)), "the backlog drains oldest first"


def test_readings_from_an_untrusted_clock_are_quarantined_not_filed_under_a_wrong_time(
    broker: LocalMosquitto,
    influx: InfluxV1,
    ingest_on: Callable[..., RunningWorker],
    unique_id: str,
    tmp_path: Path,
) -> None:
    """The device clock runs an hour slow; the platform's time beacon gives it away."""
    ingest_on(broker.port, time_beacon_s=0.2)
    slow = AcceleratedClock(time.time_ns() // 1_000_000 - 3_600_000, 1.0, catch_up_to_wall=False)
    config = replace(
        field_config(unique_id, broker.port, tmp_path / "agent"),
        device=DeviceConfig(unique_id, "f01-node", "field-01", 0.2),
        health=HealthConfig(max_clock_skew_s=60),
    )
    health = ClockHealth(earliest_ms=0, max_skew_ms=60_000)
    agent = EdgeAgent(config, build_drivers(config), slow, health)
    running = RunningAgent(agent)
    try:
        wait_for(lambda: _quarantined(influx) >= 3, "flagged readings quarantined")
    finally:
        running.stop()
    result = influx.query('SELECT * FROM "telemetry_quarantine"')[0]
    rows = [row for _, row in series_rows(result)]
    assert {row["reason"] for row in rows} == {"clock_suspect"}
    for row in rows:
        assert abs(int(row["time"]) - int(row["device_ts"]) - 3_600_000) < 60_000
    stored_under_claimed_time = set(stored_seqs(influx, "f01-node"))
    assert not stored_under_claimed_time & {int(row["seq"]) for row in rows}


def _quarantined(influx: InfluxV1) -> int:
    result = influx.query('SELECT count("seq") FROM "telemetry_quarantine"')[0]
    rows = [row for _, row in series_rows(result)]
    return int(rows[0]["count"]) if rows else 0


def test_a_simulated_link_outage_keeps_readings_until_the_link_returns(
    broker: LocalMosquitto, unique_id: str, tmp_path: Path
) -> None:
    config = field_config(unique_id, broker.port, tmp_path / "agent")
    agent = EdgeAgent(config, build_drivers(config), accelerated(0.02), TrustedClockHealth())
    running = RunningAgent(agent)
    try:
        wait_for(lambda: agent.stats.acknowledged >= 5, "readings acknowledged")
        agent.set_link(False)
        taken = agent.stats.taken
        wait_for(lambda: agent.stats.taken >= taken + 20, "sampling while the link is down")
        assert agent.unacknowledged() >= 20
        agent.set_link(True)
        wait_for(lambda: agent.unacknowledged() == 0, "the outbox drained after the outage")
    finally:
        running.stop()


def test_readings_the_broker_refuses_stay_in_the_outbox_until_the_acl_lets_them_through(
    unique_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Mosquitto answers a publish its ACL denies with PUBACK 0x87 (MQTT 5): the agent used to
    delete such readings as delivered. Here the device logs in with a name the shipped ACL
    does not grant (as the example config once did); the operator then fixes the broker."""
    monkeypatch.setattr("edge.agent.REFUSED_BACKOFF_S", 0.5)
    acl = tmp_path / "mosquitto.acl"
    acl.write_text((ROOT / "deploy" / "mosquitto.acl").read_text())
    users = {"f01-node": "secret"}
    with LocalMosquitto(tmp_path / "broker", users=users, acl_file=acl) as secured:
        config = field_config(
            unique_id, secured.port, tmp_path / "agent", username="f01-node", password="secret"
        )
        agent = EdgeAgent(config, build_drivers(config), accelerated(0.05), TrustedClockHealth())
        running = RunningAgent(agent)
        try:
            wait_for(lambda: agent.stats.taken >= 10, "readings taken")
            time.sleep(0.5)  # the broker answers each publish within milliseconds
            assert agent.stats.acknowledged == 0, "refused readings were taken as delivered"
            assert agent.unacknowledged() == agent.stats.taken
            assert agent.stats.refused >= 5
            assert "check the broker's ACL" in caplog.text
            acl.write_text(
                acl.read_text()
                + f"\nuser f01-node\ntopic write isanfarm/v1/{unique_id}/f01-node/#\n"
            )
            secured.stop()
            secured.start()
            wait_for(lambda: agent.stats.acknowledged >= 20, "readings accepted after the fix")
        finally:
            running.stop()
    assert agent.stats.acknowledged + agent.unacknowledged() == agent.stats.taken


def test_the_example_config_logs_in_with_the_name_the_shipped_acl_grants() -> None:
    example = tomllib.loads((ROOT / "deploy" / "agent.example.toml").read_text())
    device = example["device"]
    assert example["mqtt"]["username"] == f"{device['farm_id']}/{device['device_id']}"


def test_a_reading_published_as_the_link_drops_is_sent_once_it_is_back(
    broker: LocalMosquitto, observer: Observer, unique_id: str, tmp_path: Path
) -> None:
    """paho answers a publish made while the socket is gone with MQTT_ERR_NO_CONN, keeps it
    and sends it after reconnecting; asking such a message ``is_published()`` raises, which
    once killed the publisher thread while sampling went on. Reproduced here at the moment it
    happens: one reading sent before the agent ever connected."""
    config = field_config(unique_id, broker.port, tmp_path / "agent")
    agent = EdgeAgent(config, build_drivers(config), accelerated(0.05), TrustedClockHealth())
    agent.sample(agent.clock.now_ms())
    [item] = agent.outbox.next_batch(1)
    agent._send(item)
    agent._settle_acknowledged()
    running = RunningAgent(agent)
    try:
        wait_for(lambda: agent.stats.acknowledged >= 10, "the agent publishing")
    finally:
        running.stop()
    assert 0 in observer.seqs("f01-node")
    assert agent.stats.acknowledged + agent.unacknowledged() == agent.stats.taken


class PubackEater:
    """A TCP relay in front of the broker that, on the first connection through it, drops every
    PUBACK the broker sends (pings still get their answer): a wedged broker, as seen from the
    device. Later connections pass everything."""

    def __init__(self, broker_port: int) -> None:
        self._broker_port = broker_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self.pubacks_dropped = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(("127.0.0.1", self._broker_port))
            eat = self.connections == 1
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(
                target=self._packets, args=(upstream, client, eat), daemon=True
            ).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def _packets(self, source: socket.socket, sink: socket.socket, eat: bool) -> None:
        """Broker to device, one MQTT packet at a time (fixed header, remaining length)."""
        reader = source.makefile("rb")
        with contextlib.suppress(OSError, ValueError):
            while header := reader.read(1):
                length, shift, raw = 0, 0, b""
                while True:
                    byte = reader.read(1)
                    raw += byte
                    length += (byte[0] & 0x7F) << shift
                    shift += 7
                    if not byte[0] & 0x80:
                        break
                body = reader.read(length)
                if eat and header[0] >> 4 == 4:  # PUBACK
                    self.pubacks_dropped += 1
                    continue
                sink.sendall(header + raw + body)
        with contextlib.suppress(OSError):
            sink.close()

    def close(self) -> None:
        self._listener.close()


def test_readings_left_without_puback_are_sent_again_on_a_new_connection(
    broker: LocalMosquitto, observer: Observer, unique_id: str, tmp_path: Path
) -> None:
    relay = PubackEater(broker.port)
    config = field_config(unique_id, relay.port, tmp_path / "agent", keepalive_s=1)
    agent = EdgeAgent(config, build_drivers(config), accelerated(0.05), TrustedClockHealth())
    running = RunningAgent(agent)
    try:
        wait_for(lambda: relay.pubacks_dropped >= 5, "PUBACKs lost on the first connection")
        wait_for(lambda: relay.connections >= 2, "the agent reconnecting", timeout_s=20)
        wait_for(lambda: agent.stats.acknowledged >= 20, "readings acknowledged after it")
    finally:
        running.stop()
        relay.close()
    assert agent.stats.acknowledged + agent.unacknowledged() == agent.stats.taken
    delivered = observer.seqs("f01-node")
    assert set(range(20)) <= set(delivered), "a reading went missing"
