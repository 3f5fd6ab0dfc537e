"""Fleet mode as a load generator: hundreds of devices from one process and one network thread
connect to a real broker, and their QoS 1 telemetry is acknowledged and really crosses it,
counted by an independent subscriber."""

from __future__ import annotations

import threading
import time
from collections import Counter

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.accelerated_clock import AcceleratedClock
from edge.config import MqttConfig
from isanfarm import contract
from simulators.scenario import generated
from tests.helpers import wait_for
from tooling.fleet import LoadFleet, scenario_devices
from tooling.services import LocalMosquitto

pytestmark = pytest.mark.integration

DEVICES = 300


class Counting:
    """Decodes every telemetry message of one test's farms and counts it per device."""

    def __init__(self, port: int, farm_prefix: str) -> None:
        self.per_device: Counter[str] = Counter()
        self.invalid = 0
        self._prefix = farm_prefix
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"obs-{farm_prefix}")
        self._client.on_message = self._on_message
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.connect("127.0.0.1", port)
        self._client.subscribe(contract.subscription(), qos=1)
        self._client.loop_start()
        assert self._subscribed.wait(10), "the observer did not get its SUBACK"

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if not msg.topic.startswith(f"{contract.TOPIC_PREFIX}/{self._prefix}"):
            return
        try:
            message = contract.decode_telemetry(msg.topic, bytes(msg.payload))
        except contract.ContractError:
            self.invalid += 1
            return
        self.per_device[f"{message.farm_id}/{message.device_id}"] += 1

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def test_300_devices_on_one_thread_connect_and_have_their_telemetry_acknowledged(
    mosquitto: LocalMosquitto, unique_id: str
) -> None:
    specs = scenario_devices(generated(5, DEVICES - 30, 30), farm_prefix=f"{unique_id}-")
    two_days_ago = (int(time.time() * 1000) - 2 * 86_400_000) // 600_000 * 600_000
    # 1,200x at 10-minute readings: two readings per device per real second.
    clock = AcceleratedClock(two_days_ago, speed=1200, held=True)
    load = LoadFleet(specs, MqttConfig(port=mosquitto.port), clock, 600)
    observer = Counting(mosquitto.port, unique_id)
    threads_before = threading.active_count()
    load.start()
    try:
        assert threading.active_count() == threads_before + 1, "one network thread, no more"
        # Generous deadlines: this checks that every device connects and is acknowledged on
        # one thread, not how fast (bench/simulate.py measures that); CI's two cores also carry
        # the broker and the rest of the suite's servers.
        wait_for(lambda: load.connected == DEVICES, "every device to connect", timeout_s=60)
        clock.release()
        wait_for(
            lambda: all(d.acknowledged >= 3 for d in load.devices),
            "3 acks per device",
            timeout_s=60,
        )
        wait_for(
            lambda: len(observer.per_device) == DEVICES,
            "the observer to see every device",
            timeout_s=60,
        )
    finally:
        load.stop()
        observer.close()
    assert observer.invalid == 0
    assert min(observer.per_device.values()) >= 3
    assert sum(observer.per_device.values()) >= load.acknowledged - DEVICES * 20
    assert load.taken >= load.acknowledged >= 3 * DEVICES
