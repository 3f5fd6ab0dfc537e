"""Turning contract messages into InfluxDB line protocol: pure functions, no I/O.

The encoder is our own, about five times cheaper per telemetry point than influxdb-client's
``Point``, which cost 15 of ingest's 25 µs per message (bench/RESULTS.md, ingest_path). It
writes exactly what ``Point`` writes (same escaping, same number formats, same sorting of tags
and fields, empty tags and non-finite floats left out): ``tests/unit/test_points.py`` holds
``Point`` as the reference on arbitrary strings and numbers, and
``tests/integration/test_ingest_at_least_once.py`` round-trips arbitrary text through a real
InfluxDB.

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
import math
from collections.abc import Iterable
from dataclasses import dataclass

from isanfarm import storage
from isanfarm.contract import DeviceStatus, Health, Telemetry

TELEMETRY_MEASUREMENT = storage.TELEMETRY
STATUS_MEASUREMENT = storage.DEVICE_STATUS
REJECT_MEASUREMENT = storage.INGEST_REJECTS
QUARANTINE_MEASUREMENT = storage.QUARANTINE
#: Raw payloads kept with a reject are cut to this many characters.
REJECT_PAYLOAD_CHARS = 2048
NS_PER_MS = 1_000_000

#: A field value: bool before int, because ``True`` is an ``int`` too.
FieldValue = bool | int | float | str


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
    fields = _readings_fields(message)
    fields["received_ms"] = f"received_ms={received_ms}i"
    series = _series(TELEMETRY_MEASUREMENT, _readings_tags(message))
    return f"{series} {_field_set(fields)} {point_time_ns(message)}"


def quarantine_line(message: Telemetry, reason: str, received_ns: int, worker: str) -> str:
    """Readings whose device time cannot be trusted: kept at receive time, never in
    ``telemetry``, with the device's claimed time as a field so they can be re-filed once the
    true time is known."""
    fields = _readings_fields(message)
    fields["device_ts"] = f"device_ts={message.ts_ms}i"
    tags = _readings_tags(message, ("reason", reason), ("worker", worker))
    return f"{_series(QUARANTINE_MEASUREMENT, tags)} {_field_set(fields)} {received_ns}"


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
    return _escape_measurement(measurement) + _tag_set(tags)


def _readings_fields(message: Telemetry) -> dict[str, str]:
    """``name=value`` by name, of each reading and of ``seq``: ``_field`` and ``_float``
    inlined, every reading being a float, since this runs for every reading ingest stores. A
    field added later under the same name replaces the earlier one, as in ``Point``."""
    fields = {}
    for name, value in message.readings.items():
        text = repr(float(value))
        if text[-1] in "nf":
            continue  # nan, inf, -inf: line protocol has no such value
        fields[name] = _key_prefix(name) + (text[:-2] if text.endswith(".0") else text)
    fields["seq"] = f"seq={message.seq}i"
    return fields


@functools.lru_cache(maxsize=1024)
def _key_prefix(name: str) -> str:
    return _escape_key(name) + "="


def _field_set(fields: dict[str, str]) -> str:
    """Sorted by the unescaped name, as ``Point`` sorts."""
    return ",".join(text for _, text in sorted(fields.items()))


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


def line(
    measurement: str,
    tags: Iterable[tuple[str, str]],
    fields: dict[str, FieldValue],
    time_ns: int,
) -> str:
    """One point in line protocol; ``""`` when no field has a value InfluxDB can store (a
    line without fields is invalid), as ``Point`` does."""
    field_set = ",".join(
        text for key, value in sorted(fields.items()) if (text := _field(key, value))
    )
    if not field_set:
        return ""
    return f"{_escape_measurement(measurement)}{_tag_set(tags)} {field_set} {time_ns}"


def _tag_set(tags: Iterable[tuple[str, str]]) -> str:
    """``,key=value`` per tag, sorted by key (InfluxDB's own order, the fastest to index); a
    tag with an empty key or value is left out, because line protocol cannot carry it."""
    out = []
    for key, value in sorted(tags):
        escaped_key, escaped_value = _escape_key(key), _escape_tag_value(value)
        if escaped_key and escaped_value:
            out.append(f",{escaped_key}={escaped_value}")
    return "".join(out)


def _field(key: str, value: FieldValue) -> str:
    """``key=value`` with line protocol's type marks; ``""`` for a float that is not finite."""
    if isinstance(value, float):
        text = _float(value)
        return f"{_escape_key(key)}={text}" if text else ""
    if isinstance(value, bool):
        return f"{_escape_key(key)}={'true' if value else 'false'}"
    if isinstance(value, int):
        return f"{_escape_key(key)}={value}i"
    return f'{_escape_key(key)}="{value.translate(_STRING)}"'


def _float(value: float) -> str:
    """Shortest round-trip text, without the ``.0`` of whole numbers; ``""`` if not finite."""
    if not math.isfinite(value):
        return ""
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


#: Line protocol's escapes (docs.influxdata.com, InfluxDB v1, line protocol reference) as
#: ``Point`` applies them: a comma or space would end the element, an '=' a tag key; tabs and
#: line breaks are written as ``\t``, ``\n``, ``\r`` so that they cannot end the line.
_CONTROL = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
_MEASUREMENT = str.maketrans({",": "\\,", " ": "\\ ", **_CONTROL})
_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", **_CONTROL})
#: In a string field only the quote and the backslash; everything else is kept as it is.
_STRING = str.maketrans({'"': '\\"', "\\": "\\\\"})
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:/")


def _escape_measurement(name: str) -> str:
    return name.translate(_MEASUREMENT)


def _escape_key(key: str) -> str:
    """Ids and catalogue names (the usual case) need no escape: skip the translation."""
    return key if _PLAIN.issuperset(key) else key.translate(_KEY)


def _escape_tag_value(value: str) -> str:
    """As a key; a trailing backslash would escape the separator after it, so ``Point`` adds a
    space after one, and so do we."""
    escaped = _escape_key(value)
    return escaped + " " if escaped.endswith("\\") else escaped
