"""The edge agent: sample on schedule into the durable outbox, publish from it in order.

Two threads share the outbox. The sampler reads every driver at each interval, drops values the
sensor catalogue calls impossible (counted), stamps ``seq``/``ts``, and commits the interval's
messages to disk before anything is published. The publisher keeps at most ``max_in_flight``
messages awaiting the broker's PUBACK (and ``max_unreceipted`` awaiting ingest's receipt): live
readings (taken since the link came back) first, then the backlog oldest first, so a day of
backlog drains steadily while fresh data stays fresh. A reading leaves the outbox only when it
is confirmed: by ingest's receipt saying it is stored, or (receipts off, or not yet seen from
this ingest) by the broker's PUBACK; see edge/delivery.py and docs/receipts.md. The agent logs
at INFO when its link drops and when it is back.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.clock import Clock
from edge.clock_health import ClockHealth
from edge.config import EdgeConfig
from edge.delivery import DeliveryWindow
from edge.drivers.base import Driver, DriverError, Sample
from edge.outbox import Outbox, OutboxItem, Pending, seq_in_payload
from edge.sequence import SequenceCounter
from edge.statefiles import write_durably
from isanfarm import contract, receipt

log = logging.getLogger(__name__)

#: How long the broker keeps this device's session while the device is away.
SESSION_EXPIRY_S = 7 * 24 * 3600
#: CONNACK reason codes no retry will cure: bad credentials, not authorised, banned. (paho
#: maps MQTT 3.1.1's return codes 4 and 5 onto 134 and 135.)
FATAL_CONNECT_CODES = frozenset({134, 135, 138, 140})
#: On a clean stop, how long the agent goes on sending what is stored while connected.
DRAIN_ON_STOP_S = 3.0
#: How far a clock that may be stepped is trusted to run before the sampler looks again.
CLOCK_STEP_MS = 1000
#: After the broker refuses readings, publishing pauses this long, doubling up to the maximum
#: while refusals go on: a broker-side fix (the ACL, say) is picked up without a site visit.
REFUSED_BACKOFF_S = 10.0
REFUSED_BACKOFF_MAX_S = 300.0
#: Readings in flight with no PUBACK for this many keepalive periods, on a connection that
#: still answers pings: reconnect, which makes paho send them again.
STALLED_KEEPALIVES = 3
#: paho's reconnect backoff doubles from a random 0.5-2 s up to this: a backlog starts
#: draining at most this long (plus the connect) after the broker is reachable again.
#: (paho's own maximum, 120 s, made a restored link wait up to two minutes.)
RECONNECT_MAX_S = 10
#: In the state directory once this device has had a receipt: ``receipts = "auto"`` then
#: waits for receipts, across restarts.
RECEIPTS_SEEN_FILE = "receipts-seen"


@dataclass(slots=True)
class AgentStats:
    taken: int = 0
    #: Readings confirmed: stored (by receipt) or, with PUBACKs trusted, taken by the broker.
    acknowledged: int = 0
    #: Readings sent again because no receipt covered them in time.
    resent: int = 0
    receipts: int = 0
    #: Readings the broker answered with an MQTT 5 failure reason code (not authorised, quota
    #: exceeded...): kept in the outbox and offered again after ``REFUSED_BACKOFF_S``.
    refused: int = 0
    driver_errors: int = 0
    implausible: int = 0
    connected: bool = False
    fatal_error: str | None = None


class EdgeAgent:
    """One device's agent. ``run`` blocks until ``stop`` is set or the broker refuses us."""

    def __init__(
        self,
        config: EdgeConfig,
        drivers: Sequence[Driver],
        clock: Clock,
        clock_health: ClockHealth,
    ) -> None:
        self.config = config
        self.drivers = list(drivers)
        self.clock = clock
        self.clock_health = clock_health
        self.stats = AgentStats()
        self.outbox = Outbox(
            config.state_dir / "outbox.sqlite",
            max_readings=config.outbox.max_readings,
            max_bytes=int(config.outbox.max_mb * 1024 * 1024),
        )
        self._sequence = SequenceCounter(config.state_dir / "seq", floor=self._seq_after_outbox)
        self._started = time.monotonic()
        self._wake = threading.Event()
        self._halt = threading.Event()
        #: The readings sent and not yet confirmed (publisher thread only).
        self._window = DeliveryWindow(
            config.mqtt.max_in_flight,
            config.mqtt.max_unreceipted,
            config.mqtt.receipt_timeout_s,
        )
        #: PUBACK reason codes by packet id, and receipts, from paho's network thread.
        self._answers: dict[int, ReasonCode] = {}
        self._receipts: list[receipt.Receipt] = []
        self._answers_lock = threading.Lock()
        self._receipts_seen_path = config.state_dir / RECEIPTS_SEEN_FILE
        self._await_receipts = config.mqtt.receipts == "on" or (
            config.mqtt.receipts == "auto" and self._receipts_seen_path.exists()
        )
        #: When the link dropped (None while up, and before the first connection).
        self._down_since: float | None = None
        self._link_lock = threading.Lock()
        self._just_connected = False
        self._paused_until = 0.0
        self._refused_backoff_s = REFUSED_BACKOFF_S
        #: When the publisher last saw the broker make progress (a PUBACK, a connection) or
        #: started a window from empty: the clock of the stalled-link check.
        self._last_progress = time.monotonic()
        # Puts so far, and the count when the publisher last found nothing unsent: equal means
        # the outbox holds nothing that is not already in flight.
        self._puts = 0
        self._all_sent_at_puts = -1
        self._live_after_id = 0
        self._reported_twice: set[str] = set()
        self._drain_deadline: float | None = None
        self._client = self._make_client()

    # ---- lifecycle -------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        publisher = threading.Thread(target=self._publish_loop, name="publisher", daemon=True)
        # One event for the loops to watch: set by the caller's stop or by a fatal refusal.
        watcher = threading.Thread(target=self._halt_on, args=(stop,), daemon=True)
        self._connect()
        publisher.start()
        watcher.start()
        try:
            self._sample_loop()
        finally:
            self._halt.set()
            self._wake.set()
            publisher.join()
            self._shutdown()

    def set_link(self, up: bool) -> None:
        """Take the network link down or bring it back, as a failing mobile router would.

        For simulated outages (scenarios, tests); a real gateway's link fails on its own. While
        down the agent keeps sampling into the outbox."""
        if up:
            self._connect()
            return
        self._client.disconnect()
        self._client.loop_stop()
        self._link_lost()

    def unacknowledged(self) -> int:
        """Readings stored and not yet confirmed (sent and awaiting a receipt included)."""
        return self.outbox.depth()

    def health(self) -> contract.Health:
        oldest = self.outbox.oldest_ts_ms()
        now = self.clock.now_ms()
        return contract.Health(
            uptime_s=round(time.monotonic() - self._started, 1),
            outbox_depth=self.outbox.depth(),
            oldest_unsent_age_s=0.0 if oldest is None else max(0.0, (now - oldest) / 1000),
            dropped=self.outbox.dropped(),
            driver_errors=self.stats.driver_errors,
            implausible=self.stats.implausible,
            clock_suspect=self.clock_health.judge(now).suspect,
        )

    # ---- sampling --------------------------------------------------------------------------

    def _halt_on(self, stop: threading.Event) -> None:
        while not (stop.wait(0.5) or self._halt.is_set()):
            pass
        self._halt.set()
        self._wake.set()

    def _sample_loop(self) -> None:
        interval_ms = int(self.config.device.interval_s * 1000)
        due = _next_whole(self.clock.now_ms(), interval_ms)
        # A real clock can be stepped (NTP after a boot without RTC, or the operator): wait in
        # short steps and re-align when it jumps, instead of sleeping until a time that moved
        # away or firing a burst of readings stamped with times that never happened.
        may_jump = getattr(self.clock, "may_jump", True)
        while not self._halt.is_set():
            now = self.clock.now_ms()
            if may_jump and not due - 2 * interval_ms <= now <= due + 2 * interval_ms:
                log.warning(
                    "%s: device clock jumped by %+.0f s; sampling re-aligned",
                    self._name,
                    (now - due) / 1000,
                )
                due = _next_whole(now, interval_ms)
            target = min(due, now + CLOCK_STEP_MS) if may_jump else due
            if not self.clock.wait_until(target, self._halt):
                return
            if self.clock.now_ms() >= due:
                self.sample(due)
                due += interval_ms

    def sample(self, ts_ms: int) -> None:
        """Read every driver once and commit the results to the outbox."""
        shared: dict[str, float] = {}
        per_animal: list[Sample] = []
        for driver in self.drivers:
            for sample in self._read(driver, ts_ms):
                values = self._plausible(sample.values)
                if not values:
                    continue
                if sample.animal_id is not None:
                    per_animal.append(Sample(values, sample.animal_id))
                else:
                    self._merge(shared, values)
        samples = ([Sample(shared)] if shared else []) + per_animal
        verdict = self.clock_health.judge(ts_ms)
        if verdict.suspect and samples:
            log.warning("%s: readings flagged clock_suspect: %s", self._name, verdict.reason)
        pending = [self._message(sample, ts_ms, verdict.suspect) for sample in samples]
        self.outbox.put(pending)
        self.stats.taken += len(pending)
        self._puts += 1
        self._wake.set()

    def _seq_after_outbox(self) -> int:
        """Where counting starts when the sequence mark is missing or damaged: above every
        reading still waiting in the outbox, so none of them shares a number with a new one."""
        highest = self.outbox.highest_seq()
        return 0 if highest is None else highest + 1

    def _merge(self, shared: dict[str, float], values: Mapping[str, float]) -> None:
        """Readings of all drivers share one message; two drivers reporting the same sensor
        name is a config mistake (the catalogue has one name per quantity): the first wins,
        and the agent says so once per name."""
        for name, value in values.items():
            if name not in shared:
                shared[name] = value
            elif name not in self._reported_twice:
                self._reported_twice.add(name)
                log.warning(
                    "%s: two sensors report %r; only the first is sent. Give each [[sensors]] "
                    "table its own readings",
                    self._name,
                    name,
                )

    def _read(self, driver: Driver, ts_ms: int) -> Sequence[Sample]:
        try:
            return driver.read(ts_ms)
        except DriverError as exc:
            self.stats.driver_errors += 1
            log.warning("%s: %s", self._name, exc)
        except Exception:
            # A driver bug must not stop the other sensors; it is counted like a read error.
            self.stats.driver_errors += 1
            log.exception("%s: driver %s failed", self._name, type(driver).__name__)
        return []

    def _plausible(self, values: Mapping[str, float]) -> dict[str, float]:
        """Values the catalogue calls impossible are a sensor fault: not sent, but counted."""
        kept: dict[str, float] = {}
        for name, value in values.items():
            spec = contract.SENSOR_CATALOGUE.get(name)
            number = (
                value if isinstance(value, int | float) and not isinstance(value, bool) else None
            )
            if spec is None or number is None or not spec.minimum <= number <= spec.maximum:
                self.stats.implausible += 1
                log.warning("%s: dropped implausible %s=%r", self._name, name, value)
                continue
            kept[name] = float(number)
        return kept

    def _message(self, sample: Sample, ts_ms: int, clock_suspect: bool) -> Pending:
        device = self.config.device
        message = contract.Telemetry(
            farm_id=device.farm_id,
            device_id=device.device_id,
            seq=self._sequence.next(),
            ts_ms=ts_ms,
            readings=sample.values,
            site=device.site,
            animal_id=sample.animal_id,
            clock_suspect=clock_suspect,
        )
        return Pending(message.topic, contract.encode_telemetry(message), ts_ms)

    # ---- publishing ------------------------------------------------------------------------

    def _publish_loop(self) -> None:
        """Woken by a new reading, a PUBACK or a (re)connection; otherwise once a second, for
        the heartbeat. An idle agent does not touch its database."""
        next_heartbeat = 0.0
        while not self._halt.is_set() or self._still_draining():
            self._wake.wait(1.0)
            self._wake.clear()
            self._settle_acknowledged()
            self._settle_receipts()
            if self.stats.connected:
                self._reconnect_if_stalled()
                self._resend_unreceipted()
                self._fill_window()
                if time.monotonic() >= next_heartbeat:
                    self._publish_status(contract.ONLINE)
                    next_heartbeat = time.monotonic() + self.config.health.heartbeat_s

    def _still_draining(self) -> bool:
        """On a clean stop, give the broker a moment to take what is stored, if it is there.
        Whatever is left stays in the outbox for the next start."""
        if self._drain_deadline is None:
            self._drain_deadline = time.monotonic() + DRAIN_ON_STOP_S
        return (
            self.stats.connected
            and self.stats.fatal_error is None
            and time.monotonic() < self._drain_deadline
            and self.outbox.depth() > 0
        )

    def _settle_acknowledged(self) -> None:
        """Note the readings the broker took (forget them, if PUBACKs are trusted); unsend
        those it refused (and pause). Answers are matched by packet id: paho reuses an id only
        after 65,535 more publishes, far more than an agent sends between two settles."""
        with self._answers_lock:
            answers, self._answers = self._answers, {}
        if not answers:
            return
        self._last_progress = time.monotonic()
        # Answers to anything else (the status heartbeat) match nothing in the window.
        taken, refused = self._window.answered(
            {mid: not reason.is_failure for mid, reason in answers.items()}
        )
        if taken:
            self._refused_backoff_s = REFUSED_BACKOFF_S
            if not self._await_receipts:
                self._confirm(taken)
        if refused:
            failures = [reason for reason in answers.values() if reason.is_failure]
            self._pause_after_refusal(len(refused), failures[0])

    def _settle_receipts(self) -> None:
        """Forget the readings ingest says are stored. The first receipt tells an agent on
        ``receipts = "auto"`` that its ingest sends them: from then on it waits for them."""
        with self._answers_lock:
            receipts, self._receipts = self._receipts, []
        if not receipts:
            return
        self.stats.receipts += len(receipts)
        if not self._await_receipts:
            self._await_receipts = True
            self._remember_receipts_seen()
        for stored in receipts:
            self._confirm(self._window.covered(stored))

    def _confirm(self, ids: Sequence[int]) -> None:
        self._window.forget(ids)
        if ids:
            self.outbox.ack(ids)
            self.stats.acknowledged += len(ids)

    def _remember_receipts_seen(self) -> None:
        log.info(
            "%s: ingest sends delivery receipts; readings now stay in the outbox until stored",
            self._name,
        )
        try:
            write_durably(self._receipts_seen_path, "receipts from ingest seen\n")
        except OSError as exc:
            log.warning("%s: could not remember that receipts were seen: %s", self._name, exc)

    def _resend_unreceipted(self) -> None:
        """Send again, oldest first, what the broker took and no receipt covered in time: the
        broker lost it or (MQTT 3.1.1) dropped it as refused. A copy stores nothing twice."""
        if not self._await_receipts or time.monotonic() < self._paused_until:
            return
        due = self._window.due_again(time.monotonic())
        if not due:
            return
        items = self.outbox.items(due)
        stored = {item.id for item in items}
        self._window.forget(item_id for item_id in due if item_id not in stored)
        if not items:
            return
        for item in items:
            self._send(item)
        self.stats.resent += len(items)
        log.info(
            "%s: no receipt for %d reading(s) in %.0f s or more; sent again",
            self._name,
            len(items),
            self._window.timeout_s,
        )

    def _pause_after_refusal(self, count: int, reason: ReasonCode) -> None:
        self.stats.refused += count
        self._all_sent_at_puts = -1  # the refused readings are unsent again
        self._paused_until = time.monotonic() + self._refused_backoff_s
        log.error(
            "%s: the broker refused %d reading(s) (%s); they stay in the outbox and are sent "
            "again in %.0f s. For 'Not authorized', check the broker's ACL for this device: "
            "deploy/mosquitto.acl expects the MQTT username '<farm_id>/<device_id>' (here "
            "'%s/%s')",
            self._name,
            count,
            reason,
            self._refused_backoff_s,
            self.config.device.farm_id,
            self.config.device.device_id,
        )
        self._refused_backoff_s = min(2 * self._refused_backoff_s, REFUSED_BACKOFF_MAX_S)

    def _reconnect_if_stalled(self) -> None:
        """A broker that answers pings but no PUBACK (seen with a wedged broker) would hold
        the window forever; a new connection makes paho send the readings again."""
        if self._just_connected:
            # The first loop after a connection: what is in flight was just sent again.
            self._just_connected = False
            return
        stalled_s = STALLED_KEEPALIVES * self.config.mqtt.keepalive_s
        waiting = self._window.awaiting_puback()
        if not waiting or time.monotonic() - self._last_progress < stalled_s:
            return
        log.warning(
            "%s: no PUBACK for %d reading(s) in %.0f s; reconnecting",
            self._name,
            waiting,
            stalled_s,
        )
        self._last_progress = time.monotonic()
        self.set_link(False)
        self.set_link(True)

    def _fill_window(self) -> None:
        room = self._window.room()
        puts = self._puts
        if room <= 0 or puts == self._all_sent_at_puts or time.monotonic() < self._paused_until:
            return
        if not self._window.awaiting_puback():
            self._last_progress = time.monotonic()
        in_window = self._window.ids()
        live = [
            item
            for item in self.outbox.next_batch(room, exclude=in_window, newest=True)
            if item.id > self._live_after_id
        ]
        for item in sorted(live, key=lambda i: i.id):
            self._send(item)
        room -= len(live)
        if room <= 0:
            return
        backlog = self.outbox.next_batch(room, exclude=in_window | {i.id for i in live})
        for item in backlog:
            self._send(item)
        if len(backlog) < room:
            # Everything stored is in flight now: no query until the sampler adds more.
            self._all_sent_at_puts = puts

    def _send(self, item: OutboxItem) -> None:
        """paho resends an unacknowledged message itself after a reconnect, so a message stays
        in flight until its PUBACK, however long the link is down. That includes a publish made
        just as the link dropped (``MQTT_ERR_NO_CONN``): paho keeps it and sends it when the
        connection is back. Any other error means paho did not take it: it stays unsent in
        the outbox."""
        info = self._client.publish(item.topic, item.payload, qos=1)
        if info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self._window.sent(item.id, seq_in_payload(item.payload), info.mid, time.monotonic())
            return
        self._window.forget([item.id])
        self._all_sent_at_puts = -1
        log.warning("%s: publish of reading %d failed: %s", self._name, item.id, info.rc)

    # ---- connection ------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        mqtt_config = self.config.mqtt
        v5 = mqtt_config.protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.config.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
        )
        if mqtt_config.username:
            client.username_pw_set(mqtt_config.username, mqtt_config.password)
        if mqtt_config.uses_tls:
            client.tls_set(
                ca_certs=mqtt_config.ca_file,
                certfile=mqtt_config.cert_file,
                keyfile=mqtt_config.key_file,
            )
        will = contract.encode_status(self.config.device.device_id, contract.OFFLINE)
        client.will_set(self._status_topic, will, qos=1, retain=True)
        client.max_inflight_messages_set(mqtt_config.max_in_flight)
        client.max_queued_messages_set(0)
        self._jitter_backoff(client)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def _connect(self) -> None:
        mqtt_config = self.config.mqtt
        properties = None
        if mqtt_config.protocol == "5":
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
        self._client.connect_async(
            mqtt_config.host,
            mqtt_config.port,
            keepalive=mqtt_config.keepalive_s,
            clean_start=False if mqtt_config.protocol == "5" else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
        )
        self._client.loop_start()

    def _shutdown(self) -> None:
        if self.stats.connected:
            self._settle_acknowledged()
            self._publish_status(contract.OFFLINE)
        self._client.disconnect()
        self._client.loop_stop()
        for driver in self.drivers:
            driver.close()
        self.outbox.close()

    def _publish_status(self, state: str) -> None:
        now = self.clock.now_ms()
        payload = contract.encode_status(self.config.device.device_id, state, now, self.health())
        self._client.publish(self._status_topic, payload, qos=1, retain=True)

    @staticmethod
    def _jitter_backoff(client: mqtt.Client) -> None:
        """Exponential reconnect backoff from a random start, so a village of gateways that
        lost the same tower does not reconnect in lockstep."""
        # paho annotates the delays as int but computes with them as floats.
        client.reconnect_delay_set(
            min_delay=random.uniform(0.5, 2.0),  # type: ignore[arg-type]
            max_delay=RECONNECT_MAX_S,
        )

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            if reason_code.value in FATAL_CONNECT_CODES:
                self.stats.fatal_error = (
                    f"broker refused client {self.config.client_id!r}: {reason_code}; "
                    "not retrying. Check [mqtt] username/password (or ISANFARM_MQTT_PASSWORD) "
                    "and the broker's ACL"
                )
                log.error("%s: %s", self._name, self.stats.fatal_error)
                client.disconnect()
                self._halt.set()
            return
        self._jitter_backoff(client)
        # Everything stored up to now is backlog; what the sampler adds from now on is live.
        self._live_after_id = self.outbox.max_id()
        # A new connection is progress: without this the stall check, still counting from
        # before the outage, fired at once and reconnected a second time.
        self._last_progress = time.monotonic()
        self._just_connected = True
        with self._link_lock:
            down_since, self._down_since = self._down_since, None
            self.stats.connected = True
        self._log_link_up(down_since)
        # Subscriptions again at every connection: a broker that lost its state (restarted
        # without persistence, a session expired) would otherwise send nothing.
        client.subscribe([(contract.TIME_TOPIC, 0), (self._receipt_topic, 1)])
        self._wake.set()

    def _log_link_up(self, down_since: float | None) -> None:
        mqtt_config = self.config.mqtt
        depth = self.outbox.depth()
        if down_since is None:
            log.info(
                "%s: connected to %s:%s; %d reading(s) in the outbox to send",
                self._name,
                mqtt_config.host,
                mqtt_config.port,
                depth,
            )
            return
        log.info(
            "%s: link back after %.0f s; %d reading(s) in the outbox to send",
            self._name,
            time.monotonic() - down_since,
            depth,
        )

    def _link_lost(self) -> None:
        """Once per outage, from paho's thread or from ``set_link``, whichever sees it first.
        A clean stop's own disconnection is no outage: nothing is said."""
        with self._link_lock:
            if not self.stats.connected:
                return
            self.stats.connected = False
            self._down_since = time.monotonic()
        if self._halt.is_set():
            return
        log.info(
            "%s: link to %s:%s down; %d reading(s) in the outbox wait for it",
            self._name,
            self.config.mqtt.host,
            self.config.mqtt.port,
            self.outbox.depth(),
        )

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        """In paho's network thread, before paho marks the message published. MQTT 3.1.1's
        PUBACK has no reason code (paho passes success): there a refused publish looks
        taken, which is why the agent speaks MQTT 5 by default."""
        with self._answers_lock:
            self._answers[mid] = reason_code
        self._wake.set()  # the publisher settles at once instead of at its next tick

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._link_lost()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        """In paho's network thread: never raises. A receipt that does not parse is logged
        and skipped (its readings are sent again later, which is harmless)."""
        if message.topic == self._receipt_topic:
            try:
                stored = receipt.decode_receipt(message.topic, bytes(message.payload))
            except contract.ContractError as exc:
                log.warning("%s: ignored a bad receipt: %s", self._name, exc)
                return
            with self._answers_lock:
                self._receipts.append(stored)
            self._wake.set()
            return
        self._on_platform_time(message)

    def _on_platform_time(self, message: mqtt.MQTTMessage) -> None:
        try:
            platform_ms = contract.decode_time(bytes(message.payload))
        except contract.ContractError as exc:
            log.warning("%s: ignored a bad platform time message: %s", self._name, exc)
            return
        self.clock_health.observe_platform_time(platform_ms, self.clock.now_ms())

    @property
    def _name(self) -> str:
        return self.config.device.device_id

    @property
    def _receipt_topic(self) -> str:
        return receipt.receipt_topic(self.config.device.farm_id, self.config.device.device_id)

    @property
    def _status_topic(self) -> str:
        return contract.status_topic(self.config.device.farm_id, self.config.device.device_id)


def _next_whole(now_ms: int, interval_ms: int) -> int:
    """The next whole interval at or after ``now_ms``: readings line up across devices."""
    return -(-now_ms // interval_ms) * interval_ms
