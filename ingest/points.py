"""Turning contract messages into InfluxDB line protocol: pure functions, no I/O.

The encoder is the project's own (``isanfarm.lineprotocol``); telemetry lines are built here
with its escaping, with the series key cached per device, since this runs for every message.

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

import functools
from dataclasses import dataclass

from isanfarm import storage
from isanfarm.contract import DeviceStatus, Health, Telemetry
from isanfarm.lineprotocol import FieldValue, escape_key, line, series_key

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
    #: The rule broken, from a small fixed set (isanfarm.contract.RULES, "influxdb_refused" or
    #: "ingest_failed"): a tag, so rejects can be counted by it without unbounded cardinality.
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
    series = _series(TELEMETRY_MEASUREMENT, _readings_tags(message))
    field_set = _field_set(message, (("received_ms", received_ms), ("seq", message.seq)))
    return f"{series} {field_set} {point_time_ns(message)}"


def quarantine_line(message: Telemetry, reason: str, received_ns: int, worker: str) -> str:
    """Readings whose device time cannot be trusted: kept at receive time, never in
    ``telemetry``, with the device's claimed time as a field so they can be re-filed once the
    true time is known."""
    field_set = _field_set(message, (("device_ts", message.ts_ms), ("seq", message.seq)))
    tags = _readings_tags(message, ("reason", reason), ("worker", worker))
    return f"{_series(QUARANTINE_MEASUREMENT, tags)} {field_set} {received_ns}"


def _readings_tags(message: Telemetry, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    tags = (("farm", message.farm_id), ("device", message.device_id), *extra)
    if message.site is not None:
        tags += (("site", message.site),)
    if message.animal_id is not None:
        tags += (("animal", message.animal_id),)
    return tags


@functools.lru_cache(maxsize=16_384)
def _series(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    """Measurement and tag set. Cached: a device sends the same series again and again."""
    return series_key(measurement, tags)


def _field_set(message: Telemetry, integers: tuple[tuple[str, int], ...]) -> str:
    """Every reading as a float field, then ``integers`` as integer fields, in ``Point``'s
    order. ``_float`` inlined, every reading being a float, since this runs for every reading
    ingest stores; non-finite readings are left out, as ``Point`` leaves them."""
    readings = message.readings
    values = dict(integers)
    parts = []
    for name, prefix in _field_layout(tuple(readings), tuple(values)):
        if name in values:
            parts.append(f"{prefix}{values[name]}i")
            continue
        text = repr(float(readings[name]))
        if text[-1] not in "nf":  # nan, inf, -inf: line protocol has no such value
            parts.append(prefix + (text[:-2] if text.endswith(".0") else text))
    return ",".join(parts)


@functools.lru_cache(maxsize=1024)
def _field_layout(
    readings: tuple[str, ...], integers: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    """``(name, "escaped_name=")`` of each field, sorted by the unescaped name as ``Point``
    sorts; an integer field replaces a reading of the same name, as a field added later does
    in ``Point``. Cached: a device sends the same readings every time."""
    names = sorted(set(readings) | set(integers))
    return tuple((name, escape_key(name) + "=") for name in names)


def status_line(status: DeviceStatus, received_ns: int) -> str:
    """Status is stored at receive time: a Last Will carries no device time of its own."""
    fields: dict[str, FieldValue] = {"online": status.state == "online", "state": status.state}
    if status.ts_ms is not None:
        fields["device_ts"] = status.ts_ms
    if status.health is not None:
        for name in Health.__dataclass_fields__:
            value = getattr(status.health, name)
            fields[name] = value if isinstance(value, bool | int) else float(value)
    tags = (("farm", status.farm_id), ("device", status.device_id))
    return line(STATUS_MEASUREMENT, tags, fields, received_ns)


def reject_line(reject: Reject) -> str:
    """Topic, payload and detail are stored exactly as received (InfluxDB keeps newlines and
    any UTF-8 inside string fields); bytes that are not UTF-8 are shown as \\x escapes."""
    text = reject.payload[: REJECT_PAYLOAD_CHARS * 4].decode("utf-8", errors="backslashreplace")
    fields: dict[str, FieldValue] = {
        "field": reject.field,
        "topic": reject.topic,
        "detail": reject.detail,
        "payload": text[:REJECT_PAYLOAD_CHARS],
        "payload_bytes": len(reject.payload),
    }
    tags = (("rule", reject.rule), ("worker", reject.worker))
    return line(REJECT_MEASUREMENT, tags, fields, reject.received_ns)
