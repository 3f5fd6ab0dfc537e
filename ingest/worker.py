"""The ingest worker: MQTT in, InfluxDB out, acknowledged only after the write succeeded.

paho-mqtt 2's manual acknowledgement holds back each PUBACK until the batch holding the message
is in InfluxDB; if this process dies first, the broker redelivers to the persistent session.

Two threads. The consuming thread drives paho itself (``ingest.link``): it reads, converts
each message to line protocol as it arrives, cuts batches, and sends the PUBACKs of stored
batches, so no other thread ever wakes paho and the per-message work never waits for a lock.
The writer thread only writes batches to InfluxDB (retrying outages, isolating refused points)
and hands them back, so a slow database never stalls reads, keepalives or acknowledgements.

A PUBACK only frees the broker's copy; the device learns that its readings are stored from a
receipt (``isanfarm.receipt``): after each write, one per device with readings in the batch,
handed by the consuming thread, with the batch's PUBACKs, to a connection of their own
(``ingest.receipts``).

Memory is bounded twice: MQTT 5's Receive Maximum tells the broker how many unacknowledged
messages it may send us, and the consuming thread stops reading at ``max_in_flight`` messages
held, because Mosquitto 2.0.11 was measured overshooting that quota while acknowledgements
flow; the rest waits in the broker's session.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.link import BrokerLink
from ingest.metrics import IngestMetrics
from ingest.points import Reject, quarantine_line, reject_line, status_line, telemetry_line
from ingest.receipts import ReceiptSender
from ingest.rollups import RollupPlanner, recompute_pending
from ingest.settings import IngestSettings
from ingest.stats import IngestStats
from isanfarm import contract, receipt
from isanfarm.influx import InfluxError, InfluxV1

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600
#: The rule of a reject that ingest itself failed to convert (a bug to report, not the device's).
INGEST_FAILED = "ingest_failed"
#: Topics of device status messages (retained, with the Last Will).
STATUS_SUFFIX = f"/{contract.STATUS}"
#: The consuming thread looks at ``stop`` at least this often.
STEP_S = 0.25


@dataclass(slots=True)
class Converted:
    """One batch turned into line protocol, with what is needed after the write."""

    lines: list[str] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    #: Device times of the telemetry points: for the lag metric and the rollup windows.
    telemetry_ts: list[int] = field(default_factory=list)
    #: ``seq`` numbers by (farm_id, device_id): stored, quarantined or kept as dead letters,
    #: all done for the device, so all go in its receipt.
    seqs: dict[tuple[str, str], list[int]] = field(default_factory=dict)


@dataclass(slots=True)
class Batch:
    """Messages converted together, written together, acknowledged together."""

    #: The connection they came on: after a reconnect the broker sends the unacknowledged
    #: ones again, and the old packet ids may be reused for other messages, so a batch of an
    #: earlier connection is stored but never acknowledged (its redelivered copies will be).
    connection: int
    #: Monotonic time by which it is written, full or not.
    due: float
    converted: Converted = field(default_factory=Converted)
    #: Packet ids of the QoS 1 messages, for their PUBACKs.
    mids: list[int] = field(default_factory=list)
    messages: int = 0


class _StopRequestedError(Exception):
    """Raised inside the write path when the worker is asked to stop mid-retry."""


class IngestWorker:
    def __init__(self, settings: IngestSettings, influx: InfluxV1) -> None:
        self.settings = settings
        self.influx = influx
        self.stats = IngestStats()
        self.metrics = IngestMetrics(self.stats, self.buffer_depth)
        self.rollups = RollupPlanner()
        self._last_ns = 0
        self._clock = threading.Lock()
        self._client = self._make_client()
        #: Messages received and not yet acknowledged (consuming thread only).
        self._held = 0
        #: The batch being filled (consuming thread only).
        self._open: Batch | None = None
        self._connection = 0
        #: consuming thread -> writer: batches to write; writer -> consuming thread: stored.
        self._to_write: deque[Batch] = deque()
        self._written: deque[Batch] = deque()
        self._wanted = threading.Condition()
        self._link: BrokerLink | None = None
        self._writer_error: BaseException | None = None
        self._receipts = ReceiptSender(settings) if settings.receipts else None

    def buffer_depth(self) -> int:
        """Messages received and not yet acknowledged: at most ``max_in_flight``."""
        return self._held

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; unacknowledged messages go back to the broker."""
        if self.settings.metrics_port:
            self.metrics.serve(self.settings.metrics_port, self.settings.metrics_host)
        lookback_ms = int(self.settings.rollup_startup_lookback_h * 3_600_000)
        now_ms = time.time_ns() // 1_000_000
        self.rollups.mark_range(now_ms - lookback_ms, now_ms)
        self._link = link = BrokerLink(self._client, self._on_message)
        if self._receipts is not None:
            self._receipts.start()
        self._connect()
        halt = threading.Event()  # stop, or the consuming thread failed
        writer = threading.Thread(target=self._write_loop, args=(halt,), name="ingest-writer")
        rollups = threading.Thread(target=self._rollup_loop, args=(halt,), daemon=True)
        writer.start()
        if self.settings.rollup_every_s:
            rollups.start()
        try:
            self._consume(link, stop)
        finally:
            halt.set()
            with self._wanted:
                self._wanted.notify()
            writer.join()
            self._acknowledge_written()  # batches stored while stopping
            link.close()
            if self._receipts is not None:
                self._receipts.close()

    def _consume(self, link: BrokerLink, stop: threading.Event) -> None:
        bound = self.settings.max_in_flight
        next_beacon = 0.0
        while not stop.is_set():
            if self._writer_error is not None:
                raise RuntimeError("the ingest writer thread failed") from self._writer_error
            now = time.monotonic()
            if self.settings.time_beacon_s and now >= next_beacon:
                self._publish_time()
                next_beacon = now + self.settings.time_beacon_s
            self._acknowledge_written()
            if self._open is not None and now >= self._open.due:
                self._hand_over()
            due = now + STEP_S
            if self.settings.time_beacon_s:
                due = min(due, next_beacon)
            if self._open is not None:
                due = min(due, self._open.due)
            link.step(lambda: self._held < bound, due - now)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        """In the consuming thread, inside ``loop_read()``. Never raises (``convert`` does
        not), so one bad message cannot stop the stream."""
        topic = _topic_text(message)
        if (
            topic == contract.TIME_TOPIC
            or (message.retain and topic.endswith(STATUS_SUFFIX))
            or receipt.is_receipt_topic(topic)
        ):
            # Our own clock beacon or receipts (ours or another worker's); or a device's
            # retained status, which the broker sends again at every (re)subscription: stored
            # at receive time it would make a device silent for days look online now. Its
            # live copy was stored when it was sent.
            # Anything sent at QoS 1 is acknowledged (queued now, written by the link's step),
            # or it would hold one of the broker's in-flight places for good.
            if message.qos:
                client.ack(message.mid, message.qos)
            return
        batch = self._open
        if batch is None or batch.connection != self._connection:
            if batch is not None:
                self._hand_over()
            due = time.monotonic() + self.settings.batch_max_age_s
            batch = self._open = Batch(self._connection, due)
        self._convert(topic, bytes(message.payload), batch.converted)
        if message.qos:
            batch.mids.append(message.mid)
        batch.messages += 1
        self._held += 1
        if batch.messages >= self.settings.batch_size:
            self._hand_over()

    def _hand_over(self) -> None:
        batch, self._open = self._open, None
        if batch is not None:
            with self._wanted:
                self._to_write.append(batch)
                self._wanted.notify()

    def _acknowledge_written(self) -> None:
        """Receipts and PUBACKs of the stored batches, from the thread that drives paho. A
        batch of an earlier connection gets its receipts too: it is stored, whatever became of
        its packet ids."""
        mids: list[int] = []
        while self._written:
            batch = self._written.popleft()
            if self._receipts is not None:
                self._receipts.send(batch.converted.seqs)
            if batch.connection == self._connection:
                mids += batch.mids
            self._held -= batch.messages
        if mids and self._link is not None:
            self._link.acknowledge(mids)

    @property
    def receipts_sent(self) -> int:
        return 0 if self._receipts is None else self._receipts.sent

    def _write_loop(self, stop: threading.Event) -> None:
        """The writer thread: write each batch in turn, then hand it back for acknowledgement.
        On ``stop`` it leaves mid-retry; what it has not written stays unacknowledged. A bug
        here ends ``run()`` rather than leaving the stream stalled at ``max_in_flight``."""
        try:
            self._write_batches(stop)
        except BaseException as exc:
            self._writer_error = exc
            if self._link is not None:
                self._link.wake()
            raise

    def _write_batches(self, stop: threading.Event) -> None:
        while True:
            with self._wanted:
                while not self._to_write and not stop.is_set():
                    self._wanted.wait()
                if stop.is_set():
                    return
                batch = self._to_write.popleft()
            if not self._store(batch, stop):
                return
            self._written.append(batch)
            if self._link is not None:
                self._link.wake()

    def _store(self, batch: Batch, stop: threading.Event) -> bool:
        converted = batch.converted
        lines = converted.lines + [reject_line(r) for r in converted.rejects]
        if not self._write(lines, stop):
            return False  # stopping: nothing acknowledged, the broker will redeliver
        self._account(batch)
        return True

    def _account(self, batch: Batch) -> None:
        converted = batch.converted
        stored_ms = time.time_ns() // 1_000_000
        for ts_ms in converted.telemetry_ts:
            self.metrics.lag.observe(max(0.0, (stored_ms - ts_ms) / 1000))
        self.rollups.mark(converted.telemetry_ts)
        self.metrics.batch_size.observe(batch.messages)
        self.stats.received += batch.messages
        self.stats.stored += len(converted.lines)
        for reject in converted.rejects:
            self.stats.rejected[reject.rule] += 1
            log.warning("rejected %s: %s: %s", reject.topic, reject.field, reject.detail)

    def _telemetry(self, message: contract.Telemetry, into: Converted) -> None:
        """Readings at a time we can believe go to ``telemetry``; the rest to quarantine."""
        received_ns = self._now_ns()
        reason = self._untrusted_time(message.ts_ms, received_ns // 1_000_000)
        if message.clock_suspect:
            reason = "clock_suspect"
        into.seqs.setdefault((message.farm_id, message.device_id), []).append(message.seq)
        if reason is None:
            into.lines.append(telemetry_line(message, received_ns // 1_000_000))
            into.telemetry_ts.append(message.ts_ms)
            return
        self.stats.quarantined[reason] += 1
        worker = self.settings.worker_name
        into.lines.append(quarantine_line(message, reason, received_ns, worker))

    def _untrusted_time(self, ts_ms: int, received_ms: int) -> str | None:
        if ts_ms > received_ms + self.settings.max_future_s * 1000:
            return "ts_in_future"
        if ts_ms < received_ms - self.settings.max_age_days * 86_400_000:
            return "ts_too_old"
        return None

    def _rollup_loop(self, stop: threading.Event) -> None:
        """Rollups in a thread of their own, with their own connection: a recompute of a day of
        late data takes seconds, and the stream must not wait for it."""
        influx = InfluxV1(self.influx.settings)
        try:
            while True:
                try:
                    self.recompute_rollups(influx)
                except Exception:
                    # A rollup that fails in a way nobody foresaw (an answer that is not JSON
                    # from a proxy, say) must not end rollups until the next restart: the
                    # windows stay marked and are tried again.
                    log.exception(
                        "rollups failed; trying again in %.0f s", self.settings.rollup_every_s
                    )
                if stop.wait(self.settings.rollup_every_s):
                    return
        finally:
            influx.close()

    def recompute_rollups(self, influx: InfluxV1 | None = None) -> int:
        """Recompute the windows that received data since the last time; returns how many."""
        try:
            return recompute_pending(
                self.rollups, influx or self.influx, self.settings.rollup_retention_policy
            )
        except InfluxError as exc:
            log.warning(
                "rollups postponed (%s); if retention policy %r is missing, run "
                "'isanfarm ingest setup-db'",
                exc,
                self.settings.rollup_retention_policy,
            )
            return 0

    @property
    def subscription(self) -> str:
        group = self.settings.share_group
        topic_filter = self.settings.topic_filter
        return f"$share/{group}/{topic_filter}" if group else topic_filter

    def _publish_time(self) -> None:
        if self.stats.connected:
            now_ms = time.time_ns() // 1_000_000
            self._client.publish(contract.TIME_TOPIC, contract.encode_time(now_ms), qos=0)

    def convert(self, message: mqtt.MQTTMessage, into: Converted) -> None:
        """Turn one message into line protocol (telemetry, quarantine or status) or a reject.
        Never raises for any topic or payload: that is what keeps one bad device from
        stopping ingest for everyone."""
        self._convert(_topic_text(message), bytes(message.payload), into)

    def _convert(self, topic: str, payload: bytes, into: Converted) -> None:
        try:
            decoded = contract.decode_message(topic, payload)
            if isinstance(decoded, contract.DeviceStatus):
                into.lines.append(status_line(decoded, self._now_ns()))
            else:
                self._telemetry(decoded, into)
        except contract.ContractError as exc:
            _note_rejected_seq(topic, payload, into)
            into.rejects.append(
                Reject(
                    topic,
                    payload,
                    exc.rule,
                    exc.field,
                    exc.detail,
                    self._now_ns(),
                    self.settings.worker_name,
                )
            )
        except Exception as exc:
            # A bug of ours, not the device's. Raising would stop ingest for every farm, and
            # after a restart the broker would redeliver the same message: keep it instead.
            log.exception("ingest could not convert a message on %r; kept as a reject", topic)
            _note_rejected_seq(topic, payload, into)
            detail = f"{type(exc).__name__}: {exc}"
            into.rejects.append(
                Reject(
                    topic,
                    payload,
                    INGEST_FAILED,
                    "payload",
                    detail,
                    self._now_ns(),
                    self.settings.worker_name,
                )
            )

    def _write(self, lines: list[str], stop: threading.Event) -> bool:
        """Write until stored or told to stop; True when every line is stored or kept as a
        reject. A refused batch (a field type conflict, say) is split so that the database's
        refusal of one point cannot block the others."""
        try:
            refusal = self._write_retrying(lines, stop)
            if refusal is None:
                return True
            log.warning("InfluxDB refused a batch (%s); isolating the bad points", refusal)
            for line in lines:
                refusal = self._write_retrying([line], stop)
                if refusal is not None:
                    self._keep_refused(line, refusal, stop)
            return True
        except _StopRequestedError:
            return False

    def _keep_refused(self, line: str, refusal: InfluxError, stop: threading.Event) -> None:
        reject = Reject(
            "",
            line.encode(),
            "influxdb_refused",
            "point",
            str(refusal),
            self._now_ns(),
            self.settings.worker_name,
        )
        self.stats.rejected[reject.rule] += 1
        log.error("InfluxDB refused a point: %s: %s", refusal, line[:200])
        if self._write_retrying([reject_line(reject)], stop) is not None:
            log.error("InfluxDB refused the reject record too; the point is only in this log")

    def _write_retrying(self, lines: list[str], stop: threading.Event) -> InfluxError | None:
        """None when written; the error when the database refuses the data itself. Retries
        outages with jittered exponential backoff until ``stop``, then raises to unwind."""
        delay = 0.5
        while not stop.is_set():
            try:
                started = time.perf_counter()
                self.influx.write(lines)
                self.metrics.write_latency.observe(time.perf_counter() - started)
                return None
            except InfluxError as exc:
                if not exc.retriable:
                    return exc
                self.stats.write_retries += 1
                log.warning("InfluxDB write failed, retrying in about %.1f s: %s", delay, exc)
                stop.wait(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 30.0)
        raise _StopRequestedError

    def _now_ns(self) -> int:
        """Receive time, strictly increasing so two rejects never share a point (both threads
        ask: the consuming one for each message, the writer for a refused point)."""
        with self._clock:
            self._last_ns = max(time.time_ns(), self._last_ns + 1)
            return self._last_ns

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.settings.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        mqtt_settings = self.settings.mqtt
        if mqtt_settings.username:
            password = mqtt_settings.password.get_secret_value() if mqtt_settings.password else None
            client.username_pw_set(mqtt_settings.username, password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        return client

    def _connect(self) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        # One below our own bound: a broker that keeps to it leaves the consuming thread room
        # to read a PINGRESP while it holds all it may, so a long database outage does not
        # cost the connection its keepalive.
        properties.ReceiveMaximum = max(1, self.settings.max_in_flight - 1)
        self._client.connect_async(
            self.settings.mqtt.host,
            self.settings.mqtt.port,
            keepalive=self.settings.mqtt.keepalive_s,
            clean_start=False,
            properties=properties,
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
            log.error("broker refused ingest %r: %s", self.settings.client_id, reason_code)
            return
        self.stats.connected = True
        self._connection += 1
        client.subscribe(self.subscription, qos=1)
        log.info("ingest connected to %s:%s", self.settings.mqtt.host, self.settings.mqtt.port)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.stats.connected = False


def _topic_text(message: mqtt.MQTTMessage) -> str:
    try:
        return message.topic
    except UnicodeDecodeError:
        raw: bytes = message._topic
        return raw.decode("utf-8", errors="backslashreplace")


def _note_rejected_seq(topic: str, payload: bytes, into: Converted) -> None:
    """A dead letter is kept, so it is done for its device too: without a receipt the agent
    would send it again forever. Its device is the topic's (the ACL ties a device to its
    topics) and its ``seq`` whatever integer the payload has; without either, no receipt."""
    try:
        address = contract.parse_topic(topic)
        body = json.loads(payload)
    except (contract.ContractError, ValueError, RecursionError):
        return
    seq = body.get("seq") if isinstance(body, dict) else None
    if address.kind == contract.TELEMETRY and type(seq) is int and 0 <= seq <= receipt.MAX_SEQ:
        into.seqs.setdefault((address.farm_id, address.device_id), []).append(seq)
