"""InfluxDB line protocol, written by hand: the one encoder of the project (ingest's points,
the forecast job's points).

About five times cheaper per telemetry point than influxdb-client's ``Point``, which cost 15 of
ingest's 25 µs per message (bench/RESULTS.md, ingest_path). It writes exactly what ``Point``
writes (same escaping, same number formats, same sorting of tags and fields, empty tags and
non-finite floats left out): ``tests/unit/test_points.py`` holds ``Point`` as the reference on
arbitrary strings and numbers, and ``tests/integration/test_ingest_at_least_once.py``
round-trips arbitrary text through a real InfluxDB.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

#: A field value: bool before int, because ``True`` is an ``int`` too.
FieldValue = bool | int | float | str


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


def series_key(measurement: str, tags: Iterable[tuple[str, str]]) -> str:
    """``measurement,tag=value,...``: what every point of one series shares."""
    return f"{_escape_measurement(measurement)}{_tag_set(tags)}"


def _tag_set(tags: Iterable[tuple[str, str]]) -> str:
    """``,key=value`` per tag, sorted by key (InfluxDB's own order, the fastest to index); a
    tag with an empty key or value is left out, because line protocol cannot carry it."""
    out = []
    for key, value in sorted(tags):
        escaped_key, escaped_value = escape_key(key), _escape_tag_value(value)
        if escaped_key and escaped_value:
            out.append(f",{escaped_key}={escaped_value}")
    return "".join(out)


def _field(key: str, value: FieldValue) -> str:
    """``key=value`` with line protocol's type marks; ``""`` for a float that is not finite."""
    if isinstance(value, float):
        text = _float(value)
        return f"{escape_key(key)}={text}" if text else ""
    if isinstance(value, bool):
        return f"{escape_key(key)}={'true' if value else 'false'}"
    if isinstance(value, int):
        return f"{escape_key(key)}={value}i"
    return f'{escape_key(key)}="{value.translate(_STRING)}"'


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


def escape_key(key: str) -> str:
    """Ids and catalogue names (the usual case) need no escape: skip the translation."""
    return key if _PLAIN.issuperset(key) else key.translate(_KEY)


def _escape_tag_value(value: str) -> str:
    """As a key; a trailing backslash would escape the separator after it, so ``Point`` adds a
    space after one, and so do we."""
    escaped = escape_key(value)
    return escaped + " " if escaped.endswith("\\") else escaped
