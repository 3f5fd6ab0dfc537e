"""Line protocol for telemetry, status and rejects: exact strings, because InfluxDB is exact."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from ingest.points import (
    Reject,
    point_time_ns,
    quarantine_line,
    reject_line,
    status_line,
    telemetry_line,
)
from isanfarm.contract import ID_PATTERN, SENSOR_CATALOGUE, DeviceStatus, Health, Telemetry
from isanfarm.lineprotocol import FieldLayout, line


def test_telemetry_becomes_one_point_at_device_time_keyed_by_farm_device_and_site() -> None:
    message = Telemetry(
        farm_id="korat-001",
        device_id="f01-node",
        seq=42,
        ts_ms=1_764_115_200_123,
        readings={"soil_moisture_30cm": 14.2, "rain": 0.0},
        site="field-01",
    )
    assert telemetry_line(message, received_ms=1_764_115_201_000) == (
        "telemetry,device=f01-node,farm=korat-001,site=field-01 "
        "rain=0,received_ms=1764115201000i,seq=42i,soil_moisture_30cm=14.2 1764115200123000042"
    )


def test_a_scale_pass_is_tagged_with_its_animal() -> None:
    message = Telemetry("korat-001", "b01-node", 3, 1000, {"animal_weight": 612.5}, None, "wagyu-7")
    assert telemetry_line(message, 2000) == (
        "telemetry,animal=wagyu-7,device=b01-node,farm=korat-001 "
        "animal_weight=612.5,received_ms=2000i,seq=3i 1000000003"
    )


def test_the_same_message_keeps_its_point_and_different_messages_never_share_one() -> None:
    first = Telemetry("korat-001", "b01-node", 7, 5000, {"animal_weight": 612.5}, None, "wagyu-7")
    again = Telemetry("korat-001", "b01-node", 7, 5000, {"animal_weight": 612.5}, None, "wagyu-7")
    other = Telemetry("korat-001", "b01-node", 8, 5000, {"animal_weight": 598.0}, None, "wagyu-7")
    assert point_time_ns(first) == point_time_ns(again)
    assert point_time_ns(first) != point_time_ns(other)
    assert point_time_ns(other) // 1_000_000 == other.ts_ms


def test_status_is_stored_at_receive_time() -> None:
    status = DeviceStatus("korat-001", "f01-node", "offline", None)
    assert status_line(status, 5) == (
        'device_status,device=f01-node,farm=korat-001 online=false,state="offline" 5'
    )


def test_a_reject_keeps_topic_rule_field_and_payload_exactly() -> None:
    reject = Reject(
        topic="isanfarm/v1/x/y/telemetry",
        payload=b'{"a": "line one\nline \\"two\\""}\xff',
        rule="not_json",
        field="payload",
        detail="not JSON: Expecting value at position 0",
        received_ns=7,
        worker="ingest-1",
    )
    assert reject_line(reject) == (
        "ingest_rejects,rule=not_json,worker=ingest-1 "
        'detail="not JSON: Expecting value at position 0",field="payload",'
        'payload="{\\"a\\": \\"line one\nline \\\\\\"two\\\\\\"\\"}\\\\xff",'
        'payload_bytes=31i,topic="isanfarm/v1/x/y/telemetry" 7'
    )


def test_a_huge_reject_payload_is_cut() -> None:
    reject = Reject("t", b"x" * 100_000, "too_large", "payload", "too big", 1, "w")
    assert len(reject_line(reject)) < 2_300
    assert "payload_bytes=100000i" in reject_line(reject)


# ---- influxdb-client's Point as the reference encoder --------------------------------------
# ingest.points writes line protocol itself, for speed; it must write what Point writes.


def point_telemetry(message: Telemetry, received_ms: int) -> str:
    point = point_readings("telemetry", message).field("received_ms", received_ms)
    return str(point.time(point_time_ns(message), WritePrecision.NS).to_line_protocol())


def point_quarantine(message: Telemetry, reason: str, received_ns: int, worker: str) -> str:
    point = point_readings("telemetry_quarantine", message).tag("reason", reason)
    point.tag("worker", worker).field("device_ts", message.ts_ms)
    return str(point.time(received_ns, WritePrecision.NS).to_line_protocol())


def point_readings(measurement: str, message: Telemetry) -> Point:
    point: Point = Point(measurement).tag("farm", message.farm_id)
    point.tag("device", message.device_id)
    if message.site is not None:
        point.tag("site", message.site)
    if message.animal_id is not None:
        point.tag("animal", message.animal_id)
    for name, value in sorted(message.readings.items()):
        point.field(name, float(value))
    point.field("seq", message.seq)
    return point


def point_status(status: DeviceStatus, received_ns: int) -> str:
    point = (
        Point("device_status")
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
    return str(point.time(received_ns, WritePrecision.NS).to_line_protocol())


def point_reject(reject: Reject) -> str:
    text = reject.payload[:8192].decode("utf-8", errors="backslashreplace")
    point = (
        Point("ingest_rejects")
        .tag("rule", reject.rule)
        .tag("worker", reject.worker)
        .field("field", reject.field)
        .field("topic", reject.topic)
        .field("detail", reject.detail)
        .field("payload", text[:2048])
        .field("payload_bytes", len(reject.payload))
    )
    return str(point.time(reject.received_ns, WritePrecision.NS).to_line_protocol())


#: Any text, weighted towards what line protocol must escape (a trailing backslash included).
_text = st.text(
    st.one_of(st.sampled_from(list(' ,="\\\n\r\t=#xเกษตร🐄')), st.characters()), max_size=12
)
awkward = st.one_of(_text, _text.map(lambda text: text + "\\"))
ids = st.one_of(st.from_regex(ID_PATTERN, fullmatch=True), awkward)
numbers = st.one_of(st.floats(), st.integers(-(10**6), 10**6).map(float))
times = st.integers(0, 2**62)


@st.composite
def telemetry_messages(draw: st.DrawFn) -> Telemetry:
    return Telemetry(
        farm_id=draw(ids),
        device_id=draw(ids),
        seq=draw(st.integers(0, 2**63 - 1)),
        ts_ms=draw(st.integers(0, 4_102_444_800_000)),
        readings=draw(st.dictionaries(st.one_of(st.sampled_from(SENSORS), awkward), numbers)),
        site=draw(st.none() | ids),
        animal_id=draw(st.none() | ids),
    )


SENSORS = sorted(SENSOR_CATALOGUE)


@given(message=telemetry_messages(), received_ms=times)
def test_telemetry_is_encoded_exactly_as_influxdb_clients_point_would(
    message: Telemetry, received_ms: int
) -> None:
    assert telemetry_line(message, received_ms) == point_telemetry(message, received_ms)


@given(message=telemetry_messages(), reason=awkward, received_ns=times, worker=awkward)
def test_quarantine_is_encoded_exactly_as_influxdb_clients_point_would(
    message: Telemetry, reason: str, received_ns: int, worker: str
) -> None:
    expected = point_quarantine(message, reason, received_ns, worker)
    assert quarantine_line(message, reason, received_ns, worker) == expected


@given(
    status=st.builds(
        DeviceStatus,
        farm_id=ids,
        device_id=ids,
        state=st.sampled_from(["online", "offline"]),
        ts_ms=st.none() | times,
        health=st.none()
        | st.builds(
            Health,
            uptime_s=numbers,
            outbox_depth=st.integers(0, 2**63 - 1),
            oldest_unsent_age_s=numbers,
            dropped=st.integers(0, 10**9),
            driver_errors=st.integers(0, 10**9),
            implausible=st.integers(0, 10**9),
            clock_suspect=st.booleans(),
        ),
    ),
    received_ns=times,
)
def test_status_is_encoded_exactly_as_influxdb_clients_point_would(
    status: DeviceStatus, received_ns: int
) -> None:
    assert status_line(status, received_ns) == point_status(status, received_ns)


@given(
    reject=st.builds(
        Reject,
        topic=awkward,
        payload=st.binary(max_size=100),
        rule=awkward,
        field=awkward,
        detail=awkward,
        received_ns=times,
        worker=awkward,
    )
)
def test_a_reject_is_encoded_exactly_as_influxdb_clients_point_would(reject: Reject) -> None:
    assert reject_line(reject) == point_reject(reject)


# ---- isanfarm.lineprotocol's FieldLayout: many points of one shape, the same rules -----------

_KINDS: dict[type, st.SearchStrategy[Any]] = {
    float: numbers,
    int: st.integers(-(2**63), 2**63 - 1),
    bool: st.booleans(),
    str: awkward,
}


@st.composite
def layouts_and_values(draw: st.DrawFn) -> tuple[dict[str, type], list[Any]]:
    fields = draw(
        st.dictionaries(
            st.one_of(st.sampled_from(SENSORS), awkward),
            st.sampled_from(list(_KINDS)),
            min_size=1,
            max_size=8,
        )
    )
    return fields, [draw(_KINDS[kind]) for kind in fields.values()]


def point_line(measurement: str, tags: dict[str, str], fields: dict[str, Any], time_ns: int) -> str:
    point = Point(measurement)
    for key, value in tags.items():
        point.tag(key, value)
    for key, value in fields.items():
        point.field(key, value)
    return str(point.time(time_ns, WritePrecision.NS).to_line_protocol())


@given(
    measurement=awkward.filter(bool),
    tags=st.dictionaries(awkward, ids, max_size=4),
    layout=layouts_and_values(),
    time_ns=times,
)
def test_a_field_layouts_lines_are_what_influxdb_clients_point_writes(
    measurement: str,
    tags: dict[str, str],
    layout: tuple[dict[str, type], list[Any]],
    time_ns: int,
) -> None:
    kinds, values = layout
    fields = dict(zip(kinds, values, strict=True))
    series = FieldLayout(kinds).series(measurement, tags.items())
    expected = point_line(measurement, tags, fields, time_ns)
    assert series.line(values, time_ns) == expected
    assert line(measurement, tags.items(), fields, time_ns) == expected


def test_a_field_layout_writes_each_value_as_its_fields_type() -> None:
    """An int for a float field is written as a float (InfluxDB refuses a field whose type
    changes); a float for an int field, or text for a number, is refused, not truncated."""
    series = FieldLayout({"tonnes": float, "days": int, "best": bool}).series("m", [("a", "b")])
    assert series.line((126, 60, True), 5) == "m,a=b best=true,days=60i,tonnes=126 5"
    assert series.line((126.5, 60, False), 5) == "m,a=b best=false,days=60i,tonnes=126.5 5"
    assert series.line((math.nan, 60, False), 5) == "m,a=b best=false,days=60i 5"
    with pytest.raises(TypeError):
        series.line((1.0, 60.5, False), 5)
    with pytest.raises(TypeError):
        series.line(("1.0", 60, False), 5)
    with pytest.raises(ValueError, match="types"):
        FieldLayout({"when": object})


def test_braces_and_percent_signs_in_names_are_written_as_they_are() -> None:
    """The layout keeps a format template per series: its own syntax must not leak."""
    series = FieldLayout({"a%s{0}": float, "b": str}).series("m%d", [("t{1}", "%s")])
    assert series.line((1.5, "{0}%s"), 7) == 'm%d,t{1}=%s a%s{0}=1.5,b="{0}%s" 7'
