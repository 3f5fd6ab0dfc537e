"""End-to-end delivery receipts against the real Mosquitto and InfluxDB (docs/receipts.md).

A PUBACK only says the broker has a reading; these tests break the path between the broker's
PUBACK and InfluxDB and check that the agent's outbox still gets every reading stored, once:
a broker killed before it saved its queue, ingest killed between its write and its receipt, a
publish the ACL refuses over MQTT 3.1.1 (PUBACKed as a success), and the ACL keeping each
device's receipts to that device.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.accelerated_clock import AcceleratedClock
from edge.agent import EdgeAgent
from edge.clock_health import TrustedClockHealth
from edge.config import DeviceConfig, EdgeConfig, MqttConfig, SensorConfig
from edge.runner import build_drivers
from ingest.settings import IngestSettings
from isanfarm import contract, receipt
from isanfarm.influx import InfluxV1
from isanfarm.settings import MqttSettings
from tests.helpers import ROOT, Observer, count_points, stored_seqs, wait_for
from tests.integration.conftest import RunningWorker
from tooling.services import LocalMosquitto

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
DEVICE = "f01-node"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalMosquitto]:
    """A broker of this test's own, which it may kill and restart (same port, same store)."""
    with LocalMosquitto(tmp_path / "broker") as server:
        yield server


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


class RunningAgent:
    def __init__(self, agent: EdgeAgent) -> None:
        self.agent = agent
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=agent.run, args=(self.stop_event,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(30)
        assert not self.thread.is_alive(), "agent did not stop"


def start_agent(
    farm: str, port: int, state_dir: Path, every_s: float, **mqtt: object
) -> RunningAgent:
    """A cassava-field agent whose 600 s readings come every ``every_s`` of real time."""
    config = EdgeConfig(
        device=DeviceConfig(farm, DEVICE, "field-01", 600),
        mqtt=MqttConfig(port=port, **mqtt),  # type: ignore[arg-type]
        state_dir=state_dir,
        sensors=(SensorConfig("simulated", {"kind": "cassava_field", "seed": 3}),),
    )
    start = (time.time_ns() // 1_000_000 - 30 * DAY_MS) // 600_000 * 600_000
    clock = AcceleratedClock(start, speed=600 / every_s)
    return RunningAgent(EdgeAgent(config, build_drivers(config), clock, TrustedClockHealth()))


def assert_all_stored_once(influx: InfluxV1, upto: int) -> None:
    """Every seq below ``upto`` is stored, and none as two points."""
    stored = stored_seqs(influx, DEVICE)
    assert set(range(upto)) <= set(stored), f"lost: {sorted(set(range(upto)) - set(stored))}"
    assert len(stored) == len(set(stored)), "a reading was stored twice"
    assert count_points(influx, "telemetry", "seq") == len(set(stored))


def test_a_broker_killed_while_ingest_is_behind_loses_nothing(
    broker: LocalMosquitto,
    influx: InfluxV1,
    ingest_on: Callable[..., RunningWorker],
    unique_id: str,
    tmp_path: Path,
) -> None:
    """Mosquitto PUBACKs a reading, then keeps it in memory until its next autosave (10 s):
    killed before that, it loses readings the agent had deleted on PUBACK (7 in the issue).
    With receipts the agent still holds them and sends them again."""
    ingest_on(broker.port).stop()  # ingest's session exists, and it is behind: queued for it
    observer = Observer(broker.port, contract.subscription(farm_id=unique_id), f"o-{unique_id}")
    running = start_agent(
        unique_id, broker.port, tmp_path / "agent", 0.1, receipts="on", receipt_timeout_s=2.0
    )
    agent = running.agent
    try:
        wait_for(lambda: len(observer.seqs(DEVICE)) >= 20, "readings PUBACKed by the broker")
        observer.close()
        taken_before_kill = agent.stats.taken
        assert agent.stats.acknowledged == 0, "nothing is stored yet: nothing is confirmed"
        broker.kill()
        broker.start()
        ingest_on(broker.port)
        wait_for(
            lambda: set(range(taken_before_kill)) <= set(stored_seqs(influx, DEVICE)),
            "every reading taken before the kill stored",
            timeout_s=60,
        )
    finally:
        running.stop()
    assert agent.stats.resent > 0, "the broker lost nothing: the test proved nothing"
    assert_all_stored_once(influx, taken_before_kill)


def test_ingest_killed_between_its_write_and_its_receipt_causes_a_resend_that_stores_nothing_twice(
    mosquitto: LocalMosquitto,
    influx: InfluxV1,
    ingest_settings: IngestSettings,
    ingest_on: Callable[..., RunningWorker],
    unique_id: str,
    tmp_path: Path,
) -> None:
    """The first ingest writes and PUBACKs but is killed (SIGKILL) before any receipt: it runs
    with receipts off, so the kill always lands between the two. The agent sends those readings
    again to the next ingest, which writes the same points (the point key) and receipts them."""
    env = {
        **os.environ,
        "ISANFARM_MQTT_PORT": str(mosquitto.port),
        "ISANFARM_INFLUX_URL": influx.settings.url,
        "ISANFARM_INFLUX_DATABASE": influx.settings.database,
        "ISANFARM_TOPIC_FILTER": ingest_settings.topic_filter,
        "ISANFARM_CLIENT_ID": ingest_settings.client_id,
        "ISANFARM_BATCH_MAX_AGE_S": "0.2",
        "ISANFARM_RECEIPTS": "false",
    }
    command = [sys.executable, "-m", "tooling.cli", "ingest", "run"]
    ingest = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    running = start_agent(
        unique_id, mosquitto.port, tmp_path / "agent", 0.1, receipts="on", receipt_timeout_s=2.0
    )
    agent = running.agent
    try:
        wait_for(lambda: len(stored_seqs(influx, DEVICE)) >= 20, "the first ingest storing")
        ingest.send_signal(signal.SIGKILL)
        ingest.wait(10)
        stored_by_the_killed = set(stored_seqs(influx, DEVICE))
        assert agent.stats.acknowledged == 0, "no receipt came, so nothing is confirmed"
        ingest_on(mosquitto.port)
        wait_for(
            lambda: agent.stats.acknowledged >= max(stored_by_the_killed) + 1,
            "the resent readings receipted",
            timeout_s=60,
        )
    finally:
        running.stop()
        if ingest.poll() is None:
            ingest.kill()
    assert agent.stats.resent >= len(stored_by_the_killed)
    assert_all_stored_once(influx, max(stored_by_the_killed) + 1)


def test_readings_awaiting_a_receipt_count_against_the_outbox_cap(
    mosquitto: LocalMosquitto,
    influx: InfluxV1,
    ingest_on: Callable[..., RunningWorker],
    unique_id: str,
    tmp_path: Path,
) -> None:
    """With no ingest, every reading is PUBACKed and none receipted: they stay in the outbox,
    which keeps to its cap by dropping the oldest (counted), sent or not; a resend finds the
    dropped ones gone. When ingest comes, what is left is stored."""
    config_dir = tmp_path / "agent"
    running = start_agent(
        unique_id,
        mosquitto.port,
        config_dir,
        0.05,
        receipts="on",
        receipt_timeout_s=0.5,
    )
    agent = running.agent
    agent.outbox.max_readings = 30
    try:
        wait_for(lambda: agent.stats.taken >= 60, "readings taken with nobody storing them")
        assert agent.outbox.depth() <= 30
        assert agent.outbox.dropped() >= agent.stats.taken - 30
        wait_for(lambda: agent.stats.resent > 0, "readings sent again")
        ingest_on(mosquitto.port)
        wait_for(lambda: agent.stats.acknowledged >= 30, "what is left stored and receipted")
    finally:
        running.stop()
    stored = stored_seqs(influx, DEVICE)
    assert agent.outbox.dropped() + len(set(stored)) >= agent.stats.taken - agent.unacknowledged()
    assert len(stored) == len(set(stored))


ACL_USERS = {"isanfarm-ingest": "pw-ingest"}


@pytest.fixture
def acl_broker(tmp_path: Path, unique_id: str) -> Iterator[LocalMosquitto]:
    """The shipped ACL with passwords for ingest and two devices of this test's farm."""
    users = {
        **ACL_USERS,
        f"{unique_id}/{DEVICE}": "pw-a",
        f"{unique_id}/f02-node": "pw-b",
    }
    acl = ROOT / "deploy" / "mosquitto.acl"
    with LocalMosquitto(tmp_path / "acl-broker", users=users, acl_file=acl) as server:
        yield server


def ingest_with_login(port: int) -> dict[str, object]:
    return {
        "mqtt": MqttSettings(port=port, username="isanfarm-ingest", password="pw-ingest"),
    }


def test_a_refused_publish_over_mqtt_311_stays_in_the_outbox_until_a_correct_login(
    acl_broker: LocalMosquitto,
    influx: InfluxV1,
    ingest_on: Callable[..., RunningWorker],
    unique_id: str,
    tmp_path: Path,
) -> None:
    """MQTT 3.1.1 has no refusal code: Mosquitto PUBACKs a publish its ACL denies and drops
    it. The device here logs in as another device of its farm (a copied config), which the
    ACL lets publish only to that device's topics: 49 of 49 such readings were deleted."""
    ingest_on(acl_broker.port, **ingest_with_login(acl_broker.port))
    state = tmp_path / "agent"
    wrong = start_agent(
        unique_id,
        acl_broker.port,
        state,
        0.1,
        protocol="3.1.1",
        username=f"{unique_id}/f02-node",
        password="pw-b",
        receipts="on",
        receipt_timeout_s=1.0,
    )
    try:
        wait_for(lambda: wrong.agent.stats.taken >= 20, "readings taken and published")
        time.sleep(3)  # PUBACKs within milliseconds; receipts within a second, had any come
    finally:
        wrong.stop()
    taken = wrong.agent.stats.taken
    assert stored_seqs(influx, DEVICE) == [], "the ACL let the wrong login publish"
    assert wrong.agent.stats.acknowledged == 0
    assert wrong.agent.unacknowledged() == taken, "PUBACKed but refused readings were deleted"
    right = start_agent(
        unique_id,
        acl_broker.port,
        state,
        0.1,
        protocol="3.1.1",
        username=f"{unique_id}/{DEVICE}",
        password="pw-a",
        receipts="on",
    )
    try:
        wait_for(
            lambda: set(range(taken)) <= set(stored_seqs(influx, DEVICE)),
            "the readings kept in the outbox stored after the correct login",
            timeout_s=60,
        )
    finally:
        right.stop()
    assert_all_stored_once(influx, taken)


class Device:
    """A plain MQTT 5 client logged in as one device, recording the receipts it receives."""

    def __init__(self, port: int, username: str, password: str, receipts_of: str) -> None:
        self.received: list[receipt.Receipt] = []
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(username, password)
        self.client.on_connect = lambda c, *args: c.subscribe(receipts_of, qos=1)
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._subscribed.wait(10), f"{username} could not subscribe"

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self.received.append(receipt.decode_receipt(msg.topic, bytes(msg.payload)))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_device_reading_another_devices_receipts_gets_nothing(
    acl_broker: LocalMosquitto,
    influx: InfluxV1,
    ingest_on: Callable[..., RunningWorker],
    unique_id: str,
) -> None:
    ingest_on(acl_broker.port, **ingest_with_login(acl_broker.port))
    own_topic = receipt.receipt_topic(unique_id, DEVICE)
    owner = Device(acl_broker.port, f"{unique_id}/{DEVICE}", "pw-a", own_topic)
    snoop = Device(acl_broker.port, f"{unique_id}/f02-node", "pw-b", own_topic)
    try:
        now_ms = time.time_ns() // 1_000_000
        for seq in range(5):
            message = contract.Telemetry(
                unique_id, DEVICE, seq, now_ms - 60_000 + seq, {"air_temperature": 25.0}
            )
            owner.client.publish(message.topic, contract.encode_telemetry(message), qos=1)
        wait_for(lambda: owner.received, "the owner's receipt")
        time.sleep(1.0)  # the broker would have sent the snoop its copy by now
    finally:
        owner.close()
        snoop.close()
    covered = {
        seq for r in owner.received for low, high in r.stored for seq in range(low, high + 1)
    }
    assert covered == set(range(5))
    assert snoop.received == [], "the ACL let a device read another device's receipts"
