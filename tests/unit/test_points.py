"""Line protocol for telemetry, status and rejects: exact strings, because InfluxDB is exact."""

from __future__ import annotations

from ingest.points import Reject, point_time_ns, reject_line, status_line, telemetry_line
from isanfarm.contract import DeviceStatus, Telemetry


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
