"""InfluxDB line protocol, written by hand: the one encoder of the project (ingest's points,
the forecast job's points).

About five times cheaper per telemetry point than influxdb-client's ``Point``, which cost 15 of
ingest's 25 µs per message (bench/RESULTS.md, ingest_path). It writes exactly what ``Point``
writes (same escaping, same number formats, same sorting of tags and fields, empty tags and
non-finite floats left out): ``tests/unit/test_points.py`` holds ``Point`` as the reference on
arbitrary strings and numbers, and ``tests/integration/test_ingest_at_least_once.py``
round-trips arbitrary text through a real InfluxDB.

Two ways in, one set of rules. ``line`` for a point built once (a status, a reject).
``FieldLayout`` → ``Series.line`` for many points of one shape (the forecast job writes some 18
per field): the series key, the field keys, their order and the type marks are escaped and laid
out once, in a format template, so that a point costs only its values' texts (``repr`` and
``.0`` off each float, by C-level ``map``, not a Python call per value), about what a
hand-written f-string costs. A point with a non-finite float takes the per-field path of
``line``, which leaves such fields out.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import accumulate, repeat
from typing import Any

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


class FieldLayout:
    """The fields of one kind of point: each key with its type (``float``, ``int``, ``bool`` or
    ``str``), in the order a caller passes their values. Keys are escaped and sorted as
    ``Point`` sorts them once, here; a value is written as its field's type (an ``int`` given
    for a ``float`` field is written as a float: InfluxDB refuses a field whose type changes)."""

    __slots__ = ("_careful", "_ends", "_fields", "_pick", "_reorder", "keys")

    def __init__(self, fields: Mapping[str, type]) -> None:
        if not fields or not all(kind in _FORMATS for kind in fields.values()):
            raise ValueError(f"every field needs one of the types {list(_FORMATS)}: {fields}")
        self.keys = tuple(fields)
        kinds = tuple(fields.values())
        #: The values grouped by type (in _FORMATS' order) and where each group ends, so that
        #: each group is formatted by one ``map``.
        grouped = [i for kind in _FORMATS for i in range(len(kinds)) if kinds[i] is kind]
        self._pick = _getter(grouped)
        self._ends = tuple(accumulate(kinds.count(kind) for kind in _FORMATS))
        written = sorted(range(len(kinds)), key=self.keys.__getitem__)
        #: From the grouped texts (and the time, last) to the written order.
        self._reorder = _getter([*(grouped.index(i) for i in written), len(kinds)])
        #: `` key=%s,...`` for the ``%`` operator: a value's slot between its type marks.
        self._fields = " " + ",".join(
            f"{_percents(escape_key(self.keys[i]))}={_SLOTS[kinds[i]]}" for i in written
        )
        #: Per field in written order: (index into the values, ``key=``, formatter).
        self._careful = tuple(
            (i, f"{escape_key(self.keys[i])}=", _FORMATS[kinds[i]]) for i in written
        )

    def series(self, measurement: str, tags: Iterable[tuple[str, str]]) -> Series:
        return Series(series_key(measurement, tags), self)


class Series:
    """Points of one series and one ``FieldLayout``: ``line`` writes what the module's ``line``
    writes for the same measurement, tags, fields (of the layout's types) and time."""

    __slots__ = ("_layout", "_template", "key")

    def __init__(self, key: str, layout: FieldLayout) -> None:
        self.key = key
        self._layout = layout
        self._template = f"{_percents(key)}{layout._fields} %s"

    def line(self, values: Sequence[FieldValue], time: int) -> str:
        """One point: ``values`` in the layout's key order; ``""`` when none can be stored.

        Each type's values are formatted by one ``map`` and put in place by a ``%`` template;
        a float that is not finite (their sum is not), or a value not of its field's type
        (``float.__repr__`` and ``operator.index`` refuse it), takes the field-by-field path."""
        layout = self._layout
        grouped = layout._pick(values)
        n_floats, n_ints, n_bools, n_strings = layout._ends
        floats = grouped[:n_floats]
        try:
            if math.isfinite(sum(floats)):
                texts: list[str | int] = [*_float_texts(floats)]
                if n_ints > n_floats:
                    texts += map(operator.index, grouped[n_floats:n_ints])
                if n_bools > n_ints:
                    texts += map(_BOOL_TEXT.__getitem__, grouped[n_ints:n_bools])
                if n_strings > n_bools:
                    texts += map(str.translate, grouped[n_bools:n_strings], repeat(_STRING))
                texts.append(time)
                return self._template % layout._reorder(texts)
        except (TypeError, KeyError):
            pass
        return self._careful(values, time)

    def _careful(self, values: Sequence[FieldValue], time: int) -> str:
        """Field by field, leaving out the floats that are not finite (as ``Point`` does)."""
        field_set = ",".join(
            [
                prefix + text
                for index, prefix, text_of in self._layout._careful
                if (text := text_of(values[index]))
            ]
        )
        return f"{self.key} {field_set} {time}" if field_set else ""


def _getter(indices: Sequence[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """``operator.itemgetter``, always returning a tuple (it returns the item for one index)."""
    if len(indices) == 1:
        only = indices[0]
        return lambda values: (values[only],)
    return operator.itemgetter(*indices)


def _percents(text: str) -> str:
    """``text`` as itself in a ``%`` template."""
    return text.replace("%", "%%")


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
    """``key=value``; ``""`` for a float that is not finite."""
    text = _value(value)
    return f"{escape_key(key)}={text}" if text else ""


def _value(value: FieldValue) -> str:
    """A field value with line protocol's type marks; ``""`` for a float that is not finite
    (``Point`` leaves such a field out). bool before int, because ``True`` is an ``int`` too."""
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, bool):
        return _bool(value)
    if isinstance(value, int):
        return _int(value)
    return _string(value)


#: A whole float is written without it (``Point``'s format): 4.0 is ``4``.
_WHOLE = ".0"


def _float(value: float) -> str:
    """Shortest round-trip text, without the ``.0`` of whole numbers; ``""`` if not finite."""
    return float.__repr__(float(value)).removesuffix(_WHOLE) if math.isfinite(value) else ""


def _float_texts(values: Iterable[float]) -> Iterator[str]:
    """``_float`` of finite floats, without a Python call per value; a value that is not a
    float (an int, a bool) raises TypeError (``float.__repr__`` refuses it)."""
    return map(str.removesuffix, map(float.__repr__, values), repeat(_WHOLE))


def _bool(value: bool) -> str:
    return _BOOL_TEXT[bool(value)]


def _int(value: int) -> str:
    return f"{operator.index(value)}{_INT_MARK}"


def _string(value: str) -> str:
    return f"{_QUOTE}{value.translate(_STRING)}{_QUOTE}"


_INT_MARK = "i"
_QUOTE = '"'


_BOOL_TEXT = {False: "false", True: "true"}
#: Each type's formatter, and its slot in a ``FieldLayout`` template (the type marks of
#: ``_int`` and ``_string`` around the value); the order is the order of a template's groups.
_FORMATS: dict[type, Callable[[Any], str]] = {
    float: _float,
    int: _int,
    bool: _bool,
    str: _string,
}
_SLOTS = {float: "%s", int: f"%s{_INT_MARK}", bool: "%s", str: f"{_QUOTE}%s{_QUOTE}"}


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
