"""Turning contract messages into InfluxDB line protocol: pure functions, no I/O.

The encoder is influxdb-client's ``Point``, whose escaping of tags, field keys and string
values is maintained upstream; hand-written escaping is where line-protocol bugs live.

Point key: measurement ``telemetry``, tags farm, device, site (where present) and animal (for
scale passes), time = device ``ts`` in ns. A redelivered message therefore overwrites itself
with identical values; ``seq`` is kept as a field so a later reader can tell which message a
point came from. (Two different messages of one device at one millisecond would merge: the
issue "Ingest" decides the dedupe key for that case.)
"""

from __future__ import annotations

from dataclasses import dataclass

from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from isanfarm.contract import DeviceStatus, Health, Telemetry

TELEMETRY_MEASUREMENT = "telemetry"
STATUS_MEASUREMENT = "device_status"
REJECT_MEASUREMENT = "ingest_rejects"
QUARANTINE_MEASUREMENT = "telemetry_quarantine"
#: Raw payloads kept with a reject are cut to this many characters.
REJECT_PAYLOAD_CHARS = 2048
NS_PER_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class Reject:
    """A message that broke the contract, kept for an operator to inspect."""

    topic: str
    payload: bytes
    field: str
    detail: str
    received_ns: int
    worker: str


def telemetry_line(message: Telemetry) -> str:
    point = _readings_point(TELEMETRY_MEASUREMENT, message)
    return _line(point.time(message.ts_ms * NS_PER_MS, WritePrecision.NS))


def quarantine_line(message: Telemetry, reason: str, received_ns: int, worker: str) -> str:
    """Readings whose device time cannot be trusted: kept at receive time, never in
    ``telemetry``, with the device's claimed time as a field so they can be re-filed once the
    true time is known."""
    point = _readings_point(QUARANTINE_MEASUREMENT, message).tag("reason", reason)
    point.tag("worker", worker).field("device_ts", message.ts_ms)
    return _line(point.time(received_ns, WritePrecision.NS))


def _readings_point(measurement: str, message: Telemetry) -> Point:
    point: Point = Point(measurement).tag("farm", message.farm_id).tag("device", message.device_id)
    if message.site is not None:
        point.tag("site", message.site)
    if message.animal_id is not None:
        point.tag("animal", message.animal_id)
    for name, value in sorted(message.readings.items()):
        point.field(name, float(value))
    point.field("seq", message.seq)
    return point


def status_line(status: DeviceStatus, received_ns: int) -> str:
    """Status is stored at receive time: a Last Will carries no device time of its own."""
    point = (
        Point(STATUS_MEASUREMENT)
        .tag("farm", status.farm_id)
        .tag("device", status.device_id)
        .field("online", status.state == "online")
        .field("state", status.state)
    )
    if status.ts_ms is not None:
        point.field("device_ts", status.ts_ms)
    if status.health is not None:
        for name in Health.__dataclass_fields__:
            value = getattr(status.health, name)
            point.field(name, value if isinstance(value, bool | int) else float(value))
    return _line(point.time(received_ns, WritePrecision.NS))


def reject_line(reject: Reject) -> str:
    text = reject.payload[: REJECT_PAYLOAD_CHARS * 4].decode("utf-8", errors="backslashreplace")
    point = (
        Point(REJECT_MEASUREMENT)
        .tag("reason", reject.field)
        .tag("worker", reject.worker)
        .field("topic", _one_line(reject.topic))
        .field("detail", _one_line(reject.detail))
        .field("payload", _one_line(text[:REJECT_PAYLOAD_CHARS]))
        .field("payload_bytes", len(reject.payload))
    )
    return _line(point.time(reject.received_ns, WritePrecision.NS))


def _line(point: Point) -> str:
    line: str = point.to_line_protocol()
    return line


def _one_line(text: str) -> str:
    """Line protocol ends a point at a newline, even inside a quoted string: make them visible."""
    return text.replace("\r", "\\r").replace("\n", "\\n")
