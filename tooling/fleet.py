"""A load generator: a thousand simulated devices from one process, on one network thread.

A full ``EdgeAgent`` per device (three or four threads and a SQLite outbox each) tops out near
100 devices per process on two cores (bench/RESULTS.md). Here every device keeps what the
broker and ingest see of a device (its own client id and persistent session, its own simulator,
``seq``/``ts`` stamped as the agent does, QoS 1) and drops what only durability needs: there is
no outbox, an unacknowledged reading lives in paho's memory and dies with the process. All paho
clients are driven from one thread through paho's low-level API (``socket``, ``loop_read``,
``loop_write``, ``loop_misc``, ``want_write``) and ``selectors``; the same thread samples the
devices that are due. For durability use live mode or a real agent.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import random
import selectors
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.accelerated_clock import AcceleratedClock
from edge.config import MqttConfig
from edge.drivers.base import DriverError, Sample
from isanfarm import contract
from simulators.driver import SimulatedDriver
from simulators.scenario import Scenario

log = logging.getLogger(__name__)

#: As the agent's: the broker keeps a device's session (and its QoS 1 backlog) for a week.
SESSION_EXPIRY_S = 7 * 24 * 3600
#: Connections started but not yet acknowledged, at most: a burst of a thousand SYNs overflows
#: the broker's listen backlog and a dropped SYN stalls the one thread for a second.
MAX_CONNECTING = 64
#: A connection without CONNACK after this long is dropped and retried.
CONNECT_TIMEOUT_S = 10.0
#: Reconnect after a random delay in this range (real seconds), so a fleet does not stampede.
RETRY_S = (1.0, 5.0)
#: Real seconds between ``loop_misc`` rounds (keepalive pings) and the longest select wait.
MISC_EVERY_S = 1.0
TICK_S = 0.05
#: Paho's in-flight window per device, as the agent's default.
MAX_IN_FLIGHT = 20


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One simulated device: where it is and its ``simulated`` driver options."""

    farm_id: str
    device_id: str
    site: str
    options: Mapping[str, Any]

    @property
    def client_id(self) -> str:
        """The same id the device's agent would use (``EdgeConfig.client_id``)."""
        return f"isanfarm-{self.farm_id}-{self.device_id}"


def scenario_devices(plan: Scenario, farm_prefix: str = "") -> list[DeviceSpec]:
    """A scenario's devices, named as live mode names them (``<site>-node``); link outages and
    clock faults do not apply to a load generator, sensor faults do (they are driver options)."""
    return [
        DeviceSpec(
            f"{farm_prefix}{farm.id}",
            f"{device.id}-node",
            device.id,
            device.driver_options(farm.weather_seed),
        )
        for farm, device in plan.devices()
    ]


class _Device:
    __slots__ = (
        "acknowledged",
        "client",
        "connect_started",
        "connected",
        "connecting",
        "driver",
        "driver_errors",
        "events",
        "fd",
        "gave_up",
        "implausible",
        "prepared",
        "retry_at",
        "seq",
        "spec",
        "taken",
    )

    def __init__(self, spec: DeviceSpec, client: mqtt.Client, seq: int) -> None:
        self.spec, self.client, self.seq = spec, client, seq
        client.user_data_set(self)
        self.driver = SimulatedDriver(**spec.options)
        self.prepared: tuple[int, Sequence[Sample]] | None = None
        self.fd: int | None = None
        self.events = 0
        self.connected = self.connecting = self.gave_up = False
        self.connect_started = self.retry_at = 0.0
        self.taken = self.acknowledged = self.driver_errors = self.implausible = 0


class LoadFleet:
    """Simulated devices publishing QoS 1 telemetry, all on the thread that calls ``run``."""

    def __init__(
        self,
        specs: Sequence[DeviceSpec],
        mqtt_config: MqttConfig,
        clock: AcceleratedClock,
        interval_s: float,
    ) -> None:
        if mqtt_config.protocol != "5":
            raise ValueError("fleet mode speaks MQTT 5 only: unset the protocol or use live mode")
        self.mqtt = mqtt_config
        self.clock = clock
        self.interval_ms = int(interval_s * 1000)
        # seq only goes up across runs without a file: start at this run's wall time x 1000.
        seq_start = time.time_ns() // 1_000_000 * 1000
        self.devices = [_Device(spec, self._client(spec), seq_start) for spec in specs]
        first_due = -(-clock.now_ms() // self.interval_ms) * self.interval_ms
        self._due = [(first_due, index) for index in range(len(self.devices))]
        self._waiting: deque[_Device] = deque(self.devices)
        self._dropped: list[_Device] = []
        self._connecting = 0
        self._selector: selectors.BaseSelector | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def prepare(self) -> None:
        """Spin up every simulator now (about 4 ms each) rather than on the network thread:
        the first reading is taken ahead and published when it falls due."""
        for device, (due, _) in zip(self.devices, self._due, strict=True):
            device.prepared = (due, self._read(device, due))

    # ---- counters (read from any thread) ------------------------------------------------

    @property
    def connected(self) -> int:
        return sum(d.connected for d in self.devices)

    @property
    def taken(self) -> int:
        return sum(d.taken for d in self.devices)

    @property
    def acknowledged(self) -> int:
        return sum(d.acknowledged for d in self.devices)

    @property
    def refused(self) -> int:
        return sum(d.gave_up for d in self.devices)

    # ---- the thread -----------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, args=(self._stop,), name="fleet-net")
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def run(self, stop: threading.Event) -> None:
        """Connect, read and write sockets, keep sessions alive and sample, until ``stop``."""
        self._selector = selectors.DefaultSelector()
        next_misc = time.monotonic()
        try:
            while not stop.is_set():
                self._connect_some()
                self._poll(TICK_S)
                self._sample_due()
                if time.monotonic() >= next_misc:
                    self._misc()
                    next_misc = time.monotonic() + MISC_EVERY_S
                self._forget_dropped()
        finally:
            self._close()

    def _poll(self, timeout_s: float) -> None:
        assert self._selector is not None
        for key, events in self._selector.select(timeout_s):
            device: _Device = key.data
            if events & selectors.EVENT_READ:
                device.client.loop_read()
            if events & selectors.EVENT_WRITE and device.fd is not None:
                device.client.loop_write()
            self._watch(device)

    def _watch(self, device: _Device) -> None:
        """Ask for writability only while paho has bytes it could not write yet."""
        if device.fd is None or self._selector is None or device in self._dropped:
            return
        wanted = selectors.EVENT_READ | (selectors.EVENT_WRITE if device.client.want_write() else 0)
        if wanted != device.events:
            self._selector.modify(device.fd, wanted, device)
            device.events = wanted

    def _connect_some(self) -> None:
        assert self._selector is not None
        now = time.monotonic()
        for _ in range(len(self._waiting)):
            if self._connecting >= MAX_CONNECTING:
                return
            device = self._waiting.popleft()
            if device.retry_at > now:
                self._waiting.append(device)
                continue
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
            try:
                device.client.connect(
                    self.mqtt.host,
                    self.mqtt.port,
                    keepalive=self.mqtt.keepalive_s,
                    clean_start=False,
                    properties=properties,
                )
            except OSError as exc:
                log.debug("%s: connect failed: %s", device.spec.client_id, exc)
                self._retry_later(device)
                continue
            sock = device.client.socket()
            if sock is None:
                self._retry_later(device)
                continue
            device.fd = sock.fileno()
            device.events = selectors.EVENT_READ
            self._selector.register(device.fd, device.events, device)
            device.connecting, device.connect_started = True, now
            self._connecting += 1
            self._watch(device)

    def _retry_later(self, device: _Device) -> None:
        device.retry_at = time.monotonic() + random.uniform(*RETRY_S)
        self._waiting.append(device)

    def _misc(self) -> None:
        """Keepalive pings, and connections that never got their CONNACK."""
        now = time.monotonic()
        for device in self.devices:
            if device.fd is None:
                continue
            if device.connecting and now - device.connect_started > CONNECT_TIMEOUT_S:
                device.client.disconnect()
                self._lost(device)
                continue
            device.client.loop_misc()
            self._watch(device)

    def _forget_dropped(self) -> None:
        """Unregister lost sockets before any new one is made, so a reused fd is never mixed
        up with the device that had it."""
        assert self._selector is not None
        for device in self._dropped:
            if device.fd is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(device.fd)
                device.fd, device.events = None, 0
            if not device.gave_up:
                self._retry_later(device)
        self._dropped.clear()

    def _lost(self, device: _Device) -> None:
        if device.connecting:
            device.connecting = False
            self._connecting -= 1
        device.connected = False
        if device not in self._dropped:
            self._dropped.append(device)

    def _close(self) -> None:
        for device in self.devices:
            if device.fd is not None and device.connected:
                device.client.disconnect()
        if self._selector is not None:
            self._selector.close()

    # ---- sampling -------------------------------------------------------------------------

    def _sample_due(self) -> None:
        now_ms = self.clock.now_ms()
        # At most one round of the fleet per pass, so sockets are served during a backlog.
        for _ in range(len(self.devices)):
            if not self._due or self._due[0][0] > now_ms:
                return
            due, index = heapq.heappop(self._due)
            device = self.devices[index]
            self._publish(device, due)
            self._watch(device)
            heapq.heappush(self._due, (due + self.interval_ms, index))

    def _publish(self, device: _Device, ts_ms: int) -> None:
        if device.prepared is not None and device.prepared[0] == ts_ms:
            samples = device.prepared[1]
        else:
            samples = self._read(device, ts_ms)
        device.prepared = None
        for sample in self._messages(device, samples):
            message = contract.Telemetry(
                farm_id=device.spec.farm_id,
                device_id=device.spec.device_id,
                seq=device.seq,
                ts_ms=ts_ms,
                readings=sample.values,
                site=device.spec.site,
                animal_id=sample.animal_id,
            )
            device.seq += 1
            device.client.publish(message.topic, contract.encode_telemetry(message), qos=1)
            device.taken += 1

    def _read(self, device: _Device, ts_ms: int) -> Sequence[Sample]:
        try:
            return device.driver.read(ts_ms)
        except DriverError:
            device.driver_errors += 1
            return []

    def _messages(self, device: _Device, samples: Sequence[Sample]) -> list[Sample]:
        """As the agent: one message for the device's own readings, one per animal, and values
        the catalogue calls impossible are counted, not sent."""
        messages = []
        for sample in samples:
            kept = {}
            for name, value in sample.values.items():
                spec = contract.SENSOR_CATALOGUE.get(name)
                if spec is None or not spec.minimum <= value <= spec.maximum:
                    device.implausible += 1
                    continue
                kept[name] = float(value)
            if kept:
                messages.append(Sample(kept, sample.animal_id))
        return messages

    # ---- paho --------------------------------------------------------------------------------

    def _client(self, spec: DeviceSpec) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=spec.client_id, protocol=mqtt.MQTTv5
        )
        if self.mqtt.username:
            client.username_pw_set(self.mqtt.username, self.mqtt.password)
        if self.mqtt.uses_tls:
            client.tls_set(
                ca_certs=self.mqtt.ca_file, certfile=self.mqtt.cert_file, keyfile=self.mqtt.key_file
            )
        client.max_inflight_messages_set(MAX_IN_FLIGHT)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    def _device(self, userdata: object) -> _Device | None:
        return userdata if isinstance(userdata, _Device) else None

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        device = self._device(userdata)
        if device is None:
            return
        if device.connecting:
            device.connecting = False
            self._connecting -= 1
        if reason_code.is_failure:
            # Bad credentials or a refused id do not get better by retrying.
            log.warning("broker refused %s: %s", device.spec.client_id, reason_code)
            device.gave_up = True
            return
        device.connected = True

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        device = self._device(userdata)
        if device is not None:
            self._lost(device)

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        device = self._device(userdata)
        if device is not None and not reason_code.is_failure:
            device.acknowledged += 1
