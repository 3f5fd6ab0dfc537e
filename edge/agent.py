"""The edge agent: read the driver on schedule, stamp, sequence and publish every reading.

Walking-skeleton scope: readings are published with QoS 1 and paho keeps unacknowledged ones in
memory across reconnects. The durable SQLite outbox that survives a power cut is the issue
"Edge agent"; it slots in between ``_take`` and ``_publish``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.clock import Clock
from edge.config import EdgeConfig
from edge.drivers.base import Driver, Sample
from edge.sequence import SequenceCounter
from isanfarm import contract

log = logging.getLogger(__name__)

#: How long the broker keeps this device's session (and its queued QoS 1 messages) while the
#: device is away: long enough for a rural link outage.
SESSION_EXPIRY_S = 7 * 24 * 3600
#: CONNACK reason codes that no retry will cure.
FATAL_CONNECT_CODES = frozenset({134, 135, 138, 140})  # bad credentials, not authorised, banned


@dataclass(slots=True)
class AgentStats:
    taken: int = 0
    acknowledged: int = 0
    connected: bool = False
    fatal_error: str | None = None


class EdgeAgent:
    """One device's agent. ``run`` blocks until ``stop`` is set."""

    def __init__(self, config: EdgeConfig, driver: Driver, clock: Clock) -> None:
        self.config = config
        self.driver = driver
        self.clock = clock
        self.stats = AgentStats()
        self._lock = threading.Lock()
        self._sequence = SequenceCounter(config.state_dir / "seq")
        # paho marks each message's info as published when its PUBACK arrives, under paho's
        # own lock; reading those flags avoids an on_publish callback that would have to race
        # publish() for the message id.
        self._unacknowledged: list[mqtt.MQTTMessageInfo] = []
        self._client = self._make_client()

    def run(self, stop: threading.Event) -> None:
        self._connect()
        try:
            self._read_loop(stop)
        finally:
            self._shutdown()

    def unacknowledged(self) -> int:
        """Readings published whose PUBACK has not arrived yet; updates ``stats.acknowledged``."""
        with self._lock:
            waiting = [info for info in self._unacknowledged if not info.is_published()]
            self.stats.acknowledged += len(self._unacknowledged) - len(waiting)
            self._unacknowledged = waiting
            return len(waiting)

    def wait_until_acknowledged(self, timeout_s: float) -> bool:
        """Block until the broker has acknowledged everything published so far."""
        deadline = time.monotonic() + timeout_s
        while self.unacknowledged():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def _read_loop(self, stop: threading.Event) -> None:
        interval_ms = int(self.config.device.interval_s * 1000)
        due = -(-self.clock.now_ms() // interval_ms) * interval_ms  # next whole interval
        while self.clock.wait_until(due, stop):
            if self.stats.fatal_error:
                log.error("%s: stopping: %s", self.config.device.device_id, self.stats.fatal_error)
                return
            for sample in self._take(due):
                self._publish(sample, due)
            self.unacknowledged()  # prunes the acknowledged from memory
            due += interval_ms

    def _take(self, ts_ms: int) -> list[Sample]:
        try:
            return list(self.driver.read(ts_ms))
        except Exception:
            # A flaky sensor must not stop the agent; the next interval tries again.
            log.exception("%s: driver read failed", self.config.device.device_id)
            return []

    def _publish(self, sample: Sample, ts_ms: int) -> None:
        device = self.config.device
        message = contract.Telemetry(
            farm_id=device.farm_id,
            device_id=device.device_id,
            seq=self._sequence.next(),
            ts_ms=ts_ms,
            readings=sample.values,
            site=device.site,
            animal_id=sample.animal_id,
        )
        info = self._client.publish(message.topic, contract.encode_telemetry(message), qos=1)
        with self._lock:
            self._unacknowledged.append(info)
            self.stats.taken += 1

    def _make_client(self) -> mqtt.Client:
        device = self.config.device
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.config.client_id,
            protocol=mqtt.MQTTv5,
        )
        if self.config.mqtt.username:
            client.username_pw_set(self.config.mqtt.username, self.config.mqtt.password)
        status = contract.status_topic(device.farm_id, device.device_id)
        client.will_set(status, contract.encode_status(device.device_id, contract.OFFLINE), 1, True)
        client.reconnect_delay_set(min_delay=1, max_delay=60)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        return client

    def _connect(self) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        mqtt_config = self.config.mqtt
        self._client.connect_async(
            mqtt_config.host,
            mqtt_config.port,
            keepalive=mqtt_config.keepalive_s,
            clean_start=False,
            properties=properties,
        )
        self._client.loop_start()

    def _shutdown(self) -> None:
        device = self.config.device
        status = contract.status_topic(device.farm_id, device.device_id)
        offline = contract.encode_status(device.device_id, contract.OFFLINE, self.clock.now_ms())
        self._client.publish(status, offline, qos=1, retain=True)
        if not self.wait_until_acknowledged(timeout_s=5):
            log.warning("%s: stopping with unacknowledged readings", device.device_id)
        self._client.disconnect()
        self._client.loop_stop()
        self.driver.close()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        device = self.config.device
        if reason_code.is_failure:
            if reason_code.value in FATAL_CONNECT_CODES:
                self.stats.fatal_error = (
                    f"broker refused {self.config.client_id!r}: {reason_code}; "
                    "check [mqtt] username/password and the broker's ACL"
                )
                log.error("%s: %s", device.device_id, self.stats.fatal_error)
                client.disconnect()
            return
        self.stats.connected = True
        status = contract.status_topic(device.farm_id, device.device_id)
        online = contract.encode_status(device.device_id, contract.ONLINE, self.clock.now_ms())
        client.publish(status, online, qos=1, retain=True)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.stats.connected = False
