"""Ingest's receipts against the real Mosquitto and InfluxDB: sent only after the write, one
per device per batch, covering what is stored, quarantined or kept as a dead letter."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.settings import IngestSettings
from isanfarm import contract, receipt
from isanfarm.influx import InfluxV1
from isanfarm.settings import InfluxSettings
from tests.helpers import count_points, stored_seqs, wait_for
from tests.integration.conftest import RunningWorker
from tooling.services import LocalInfluxDB, LocalMosquitto

pytestmark = pytest.mark.integration

NOW_MS = time.time_ns() // 1_000_000


class ReceiptWatcher:
    """Every receipt of one farm, as the devices would get them."""

    def __init__(self, port: int, farm: str) -> None:
        self.receipts: list[receipt.Receipt] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self._client.on_connect = lambda c, *a: c.subscribe(receipt.receipt_subscription(farm), 1)
        self._client.on_subscribe = lambda *args: subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        assert subscribed.wait(10), "could not subscribe to the receipts"

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.receipts.append(receipt.decode_receipt(msg.topic, bytes(msg.payload)))

    def covered(self, device_id: str, upto: int = 1000) -> set[int]:
        with self._lock:
            mine = [r for r in self.receipts if r.device_id == device_id]
        return {seq for seq in range(upto) if any(r.covers(seq) for r in mine)}

    def count(self) -> int:
        with self._lock:
            return len(self.receipts)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def watcher(mosquitto: LocalMosquitto, unique_id: str) -> Iterator[ReceiptWatcher]:
    watching = ReceiptWatcher(mosquitto.port, unique_id)
    yield watching
    watching.close()


def payload(device: str, seq: int, ts_ms: int, **readings: object) -> bytes:
    body = {"schema": 1, "device_id": device, "seq": seq, "ts": ts_ms, "readings": readings}
    return json.dumps(body).encode()


def test_stored_quarantined_and_dead_lettered_readings_are_all_receipted_to_their_device(
    ingest_settings: IngestSettings,
    influx: InfluxV1,
    publisher: mqtt.Client,
    watcher: ReceiptWatcher,
    unique_id: str,
) -> None:
    """A dead letter or a quarantined reading is kept: it is done for its device. Without
    its receipt the agent would send it again forever."""
    worker = RunningWorker(ingest_settings, InfluxV1(influx.settings))
    node = contract.telemetry_topic(unique_id, "f01-node")
    other = contract.telemetry_topic(unique_id, "f02-node")
    try:
        publisher.publish(node, payload("f01-node", 0, NOW_MS - 60_000, rain=0.2), qos=1)
        future = NOW_MS + 86_400_000
        publisher.publish(node, payload("f01-node", 1, future, rain=0.2), qos=1)  # quarantined
        publisher.publish(node, payload("f01-node", 2, NOW_MS, rain=-5.0), qos=1)  # out of range
        publisher.publish(node, payload("f01-node", 3, NOW_MS, bogus=1.0), qos=1)  # unknown sensor
        publisher.publish(node, b"not json", qos=1)  # no seq: nothing to receipt
        publisher.publish(other, payload("f02-node", 7, NOW_MS, rain=0.0), qos=1)
        publisher.publish(
            contract.status_topic(unique_id, "f01-node"),
            contract.encode_status("f01-node", contract.ONLINE),
            qos=1,
        )
        wait_for(lambda: watcher.covered("f01-node") == {0, 1, 2, 3}, "f01-node's receipts")
        wait_for(lambda: watcher.covered("f02-node") == {7}, "f02-node's receipt")
        time.sleep(0.5)
        receipts = watcher.count()
    finally:
        worker.stop()
    assert stored_seqs(influx, "f01-node") == [0]
    assert receipts <= 4, "one receipt per device per batch (here at most two batches)"
    assert worker.worker.receipts_sent == receipts
    assert worker.worker.stats.rejected["not_json"] == 1, "its own receipts are not rejects"


def test_no_receipt_before_the_write_and_one_per_device_per_batch_after_it(
    tmp_path: Path,
    ingest_settings: IngestSettings,
    publisher: mqtt.Client,
    watcher: ReceiptWatcher,
    unique_id: str,
) -> None:
    with LocalInfluxDB(tmp_path / "influxdb") as server:
        influx = InfluxV1(InfluxSettings(url=server.url, database="isanfarm"))
        influx.create_database()
        server.stop()  # the database is down: nothing can be stored, nothing receipted
        settings = ingest_settings.model_copy(
            update={"influx": influx.settings, "batch_size": 500, "batch_max_age_s": 0.5}
        )
        worker = RunningWorker(settings, InfluxV1(influx.settings))
        topic = contract.telemetry_topic(unique_id, "f01-node")
        try:
            for seq in range(100):
                ts_ms = NOW_MS - 3_600_000 + seq * 1000
                publisher.publish(topic, payload("f01-node", seq, ts_ms, rain=0.0), qos=1)
            wait_for(lambda: worker.worker.stats.write_retries > 0, "a write failing")
            time.sleep(1.5)
            assert watcher.count() == 0, "a receipt came before anything was stored"
            server.start()
            wait_for(lambda: watcher.covered("f01-node") == set(range(100)), "the receipts")
            time.sleep(0.5)
        finally:
            worker.stop()
        assert count_points(influx, "telemetry", "seq") == 100
        influx.close()
    assert watcher.count() <= 3, "a receipt per batch, not per reading"
