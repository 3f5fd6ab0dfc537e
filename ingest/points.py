"""Turning contract messages into InfluxDB line protocol: pure functions, no I/O.

The encoder is influxdb-client's ``Point``, whose escaping of tags, field keys and string
values is maintained upstream; hand-written escaping is where line-protocol bugs live.

The point key. InfluxDB identifies a point by measurement, tag set and time, and silently merges
two writes with the same key. Telemetry is keyed by tags farm, device, site (when sent) and
animal (scale passes), and a time of device ``ts`` in milliseconds **plus ``seq mod 10^6``
nanoseconds**. So:

- a redelivered or replayed message (same device, ``ts`` and ``seq``) lands on the same point
  and overwrites it with identical readings: redelivery is harmless;
- two different messages of one device stamped in the same millisecond (two scale passes of
  one animal, a clock that jumped back) differ in ``seq`` and so in the nanosecond digits:
  they never merge;
- anyone reading at millisecond precision (the API, Grafana, ``epoch=ms``) sees the device's
  ``ts`` exactly.

``seq`` and the receive time (``received_ms``) are stored as fields, so every point says which
message it came from and when the platform got it.
"""

from __future__ import annotations

from dataclasses import dataclass

from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from isanfarm import storage
from isanfarm.contract import DeviceStatus, Health, Telemetry

TELEMETRY_MEASUREMENT = storage.TELEMETRY
STATUS_MEASUREMENT = storage.DEVICE_STATUS
REJECT_MEASUREMENT = storage.INGEST_REJECTS
QUARANTINE_MEASUREMENT = storage.QUARANTINE
#: Raw payloads kept with a reject are cut to this many characters.
REJECT_PAYLOAD_CHARS = 2048
NS_PER_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class Reject:
    """A message that broke the contract, kept for an operator to inspect."""

    topic: str
    payload: bytes
    #: The rule broken, from a small fixed set (isanfarm.contract.RULES, or "influxdb_refused"):
    #: a tag, so rejects can be counted by it without unbounded tag cardinality.
    rule: str
    #: The offending part, which may be any key a device invented: a field, not a tag.
    field: str
    detail: str
    received_ns: int
    worker: str


#: The nanosecond digits below a millisecond carry ``seq`` (see the module docstring).
SEQ_SLOTS = NS_PER_MS


def point_time_ns(message: Telemetry) -> int:
    return message.ts_ms * NS_PER_MS + message.seq % SEQ_SLOTS


def telemetry_line(message: Telemetry, received_ms: int) -> str:
    point = _readings_point(TELEMETRY_MEASUREMENT, message)
    point.field("received_ms", received_ms)
    return _line(point.time(point_time_ns(message), WritePrecision.NS))


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
    """Topic, payload and detail are stored exactly as received (InfluxDB keeps newlines and
    any UTF-8 inside string fields); bytes that are not UTF-8 are shown as \\x escapes."""
    text = reject.payload[: REJECT_PAYLOAD_CHARS * 4].decode("utf-8", errors="backslashreplace")
    point = (
        Point(REJECT_MEASUREMENT)
        .tag("rule", reject.rule)
        .tag("worker", reject.worker)
        .field("field", reject.field)
        .field("topic", reject.topic)
        .field("detail", reject.detail)
        .field("payload", text[:REJECT_PAYLOAD_CHARS])
        .field("payload_bytes", len(reject.payload))
    )
    return _line(point.time(reject.received_ns, WritePrecision.NS))


def _line(point: Point) -> str:
    line: str = point.to_line_protocol()
    return line
