"""The wire contract: topics, payload validation and the reasons it gives."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isanfarm import contract
from isanfarm.contract import ContractError, Telemetry

TOPIC = "isanfarm/v1/korat-001/f01-node/telemetry"
DROP = object()  # payload(key=DROP) leaves the key out


def payload(**changes: Any) -> bytes:
    body: dict[str, Any] = {
        "schema": 1,
        "device_id": "f01-node",
        "seq": 7,
        "ts": 1_764_115_200_000,
        "readings": {"soil_moisture_30cm": 14.2, "rain": 0.4},
    }
    for key, value in changes.items():
        if value is DROP:
            body.pop(key)
        else:
            body[key] = value
    return json.dumps(body).encode()


def reason(topic: str, raw: bytes) -> str:
    with pytest.raises(ContractError) as caught:
        contract.decode_telemetry(topic, raw)
    assert caught.value.rule in contract.RULES
    return caught.value.field


def rule(topic: str, raw: bytes) -> str:
    with pytest.raises(ContractError) as caught:
        contract.decode_telemetry(topic, raw)
    return caught.value.rule


def test_each_reject_names_the_rule_it_broke() -> None:
    assert rule(TOPIC, b"soil=14") == "not_json"
    assert rule(TOPIC, payload(readings={"rain": -0.2})) == "out_of_range"
    assert rule(TOPIC, payload(readings={"wind": 3.0})) == "unknown_sensor"
    assert rule(TOPIC, payload(colour="red")) == "unknown_field"
    assert rule(TOPIC, payload(units={"rain": "in"})) == "wrong_unit"
    assert rule(TOPIC.replace("telemetry", "status"), payload()) == "wrong_kind"
    assert rule(TOPIC, b"[" * 8000 + b"]" * 8000) == "too_deep"
    with pytest.raises(ContractError, match="nested too deeply") as caught:
        contract.decode_status(
            TOPIC.replace("telemetry", "status"), b'{"a":' * 2700 + b"1" + b"}" * 2700
        )
    assert caught.value.rule == "too_deep"


def test_a_valid_message_decodes_with_its_address_and_readings() -> None:
    message = contract.decode_telemetry(TOPIC, payload(site="field-01"))
    assert message == Telemetry(
        farm_id="korat-001",
        device_id="f01-node",
        seq=7,
        ts_ms=1_764_115_200_000,
        readings={"soil_moisture_30cm": 14.2, "rain": 0.4},
        site="field-01",
    )


def test_topics_are_built_from_checked_ids() -> None:
    assert contract.telemetry_topic("korat-001", "f01-node") == TOPIC
    assert contract.status_topic("korat-001", "f01-node").endswith("/f01-node/status")
    with pytest.raises(ContractError, match="farm_id"):
        contract.telemetry_topic("Korat 001", "f01-node")
    with pytest.raises(ContractError, match="device_id"):
        contract.telemetry_topic("korat-001", "f01/node")


@pytest.mark.parametrize(
    ("topic", "field"),
    [
        ("isanfarm/v1/korat-001/f01-node", "topic"),
        ("isanfarm/v2/korat-001/f01-node/telemetry", "topic"),
        ("isanfarm/v1/korat-001/f01-node/extra/telemetry", "topic"),
        ("isanfarm/v1/Korat 001/f01-node/telemetry", "topic.farm_id"),
        ("isanfarm/v1/korat-001/-node/telemetry", "topic.device_id"),
        ("isanfarm/v1/korat-001/f01-node/commands", "topic.kind"),
        ("isanfarm/v1/korat-001/f01-node/status", "topic.kind"),
    ],
)
def test_bad_topics_are_rejected_naming_the_part(topic: str, field: str) -> None:
    assert reason(topic, payload()) == field


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"soil=14", "payload"),
        (b"\xff\xfe", "payload"),
        (b"[1, 2]", "payload"),
        (b"x" * (contract.MAX_PAYLOAD_BYTES + 1), "payload"),
        (payload(seq=DROP), "seq"),
        (payload(readings=DROP), "readings"),
        (payload(colour="red"), "colour"),
        (payload(schema=2), "schema"),
        (payload(schema=True), "schema"),
        (payload(device_id="b02-node"), "device_id"),
        (payload(seq=-1), "seq"),
        (payload(seq="7"), "seq"),
        (payload(seq=7.5), "seq"),
        (payload(ts=True), "ts"),
        (payload(ts=contract.MAX_TS_MS + 1), "ts"),
        (payload(readings={}), "readings"),
        (payload(readings=[14.2]), "readings"),
        (payload(readings={"soil_moisture_45cm": 14.2}), "readings.soil_moisture_45cm"),
        (payload(readings={"soil_moisture_30cm": "14.2"}), "readings.soil_moisture_30cm"),
        (payload(readings={"soil_moisture_30cm": None}), "readings.soil_moisture_30cm"),
        (payload(readings={"soil_moisture_30cm": True}), "readings.soil_moisture_30cm"),
        (payload(readings={"soil_moisture_30cm": 142.0}), "readings.soil_moisture_30cm"),
        (payload(readings={"rain": -0.2}), "readings.rain"),
        (payload(readings={"rain": 10**400}), "readings.rain"),
        (payload(site="Field 1"), "site"),
        (payload(units={"soil_moisture_30cm": "m3/m3"}), "units.soil_moisture_30cm"),
        (payload(units={"air_temperature": "degC"}), "units.air_temperature"),
        (payload(animal_id="wagyu-001"), "animal_id"),
    ],
)
def test_malformed_payloads_are_rejected_naming_the_field(raw: bytes, field: str) -> None:
    assert reason(TOPIC, raw) == field


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_rejected(constant: str) -> None:
    raw = payload().replace(b"14.2", constant.encode())
    assert reason(TOPIC, raw) == "payload"


def test_out_of_range_error_says_value_unit_and_range() -> None:
    with pytest.raises(ContractError) as caught:
        contract.decode_telemetry(TOPIC, payload(readings={"soil_moisture_30cm": 142.0}))
    assert str(caught.value) == "readings.soil_moisture_30cm: 142 %VWC is outside 0..100"


def test_a_scale_pass_needs_the_animal_id() -> None:
    topic = "isanfarm/v1/korat-001/b01-node/telemetry"
    scale = {"device_id": "b01-node", "readings": {"animal_weight": 612.5}}
    assert reason(topic, payload(**scale)) == "animal_id"
    message = contract.decode_telemetry(topic, payload(**scale, animal_id="wagyu-001"))
    assert message.animal_id == "wagyu-001"


def test_matching_units_are_accepted() -> None:
    message = contract.decode_telemetry(TOPIC, payload(units={"rain": "mm"}))
    assert message.readings["rain"] == 0.4


def test_every_catalogue_entry_has_a_sane_range_and_a_known_device_kind() -> None:
    kinds = {contract.DeviceKind.CASSAVA_FIELD, contract.DeviceKind.CATTLE_BARN}
    for name, spec in contract.SENSOR_CATALOGUE.items():
        assert spec.name == name
        assert spec.minimum < spec.maximum
        assert set(spec.device_kinds) <= kinds


ids = st.from_regex(contract.ID_PATTERN, fullmatch=True)


@st.composite
def telemetry(draw: st.DrawFn) -> Telemetry:
    names = draw(
        st.lists(
            st.sampled_from(
                [n for n, s in contract.SENSOR_CATALOGUE.items() if not s.needs_animal_id]
            ),
            min_size=1,
            unique=True,
        )
    )
    readings = {
        name: draw(
            st.floats(
                contract.SENSOR_CATALOGUE[name].minimum, contract.SENSOR_CATALOGUE[name].maximum
            )
        )
        for name in names
    }
    return Telemetry(
        farm_id=draw(ids),
        device_id=draw(ids),
        seq=draw(st.integers(0, 2**63 - 1)),
        ts_ms=draw(st.integers(0, contract.MAX_TS_MS)),
        readings=readings,
        site=draw(st.none() | ids),
    )


@given(telemetry())
def test_every_valid_message_survives_encoding_and_decoding(message: Telemetry) -> None:
    decoded = contract.decode_telemetry(message.topic, contract.encode_telemetry(message))
    assert decoded == message
    assert all(math.isfinite(v) for v in decoded.readings.values())


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_anything_but_a_contract_error(raw: bytes) -> None:
    assert decode_or_rule(raw) in ("decoded", *contract.RULES)


def decode_or_rule(raw: bytes) -> str:
    """Any other exception escapes and fails the test."""
    try:
        contract.decode_telemetry(TOPIC, raw)
    except ContractError as exc:
        return exc.rule
    return "decoded"


def test_status_messages_round_trip_and_reject_unknown_states() -> None:
    topic = contract.status_topic("korat-001", "f01-node")
    status = contract.decode_status(topic, contract.encode_status("f01-node", "online", 5))
    assert (status.state, status.ts_ms) == ("online", 5)
    with pytest.raises(ContractError, match="state"):
        contract.decode_status(topic, b'{"schema":1,"device_id":"f01-node","state":"asleep"}')


def test_one_decoder_tells_telemetry_from_status_by_the_topic() -> None:
    assert isinstance(contract.decode_message(TOPIC, payload()), Telemetry)
    status_topic = contract.status_topic("korat-001", "f01-node")
    status = contract.decode_message(status_topic, contract.encode_status("f01-node", "online"))
    assert isinstance(status, contract.DeviceStatus)
    with pytest.raises(ContractError, match="topic"):
        contract.decode_message("isanfarm/v1/korat-001/f01-node/commands", payload())


@pytest.mark.parametrize(
    ("uptime", "rule"),
    [("1e999", "not_finite"), ("1" + "0" * 400, "not_finite"), ("-1", "wrong_type")],
)
def test_a_heartbeat_with_an_impossible_duration_is_a_reject_naming_it(
    uptime: str, rule: str
) -> None:
    """An infinite uptime was stored without its field; 10**400 crashed the conversion."""
    health = contract.Health(1.0, 0, 0.0, 0, 0, 0, False)
    body = json.loads(contract.encode_status("f01-node", "online", 5, health))
    text = json.dumps(body).replace('"uptime_s": 1.0', f'"uptime_s": {uptime}')
    with pytest.raises(ContractError) as caught:
        contract.decode_status(contract.status_topic("korat-001", "f01-node"), text.encode())
    assert (caught.value.field, caught.value.rule) == ("health.uptime_s", rule)


def test_the_sensor_names_are_the_catalogues_keys() -> None:
    """Code names a sensor by ``Sensor.X``; the catalogue is keyed by the same names, so the
    two cannot drift apart."""
    names = {value for key, value in vars(contract.Sensor).items() if key.isupper()}
    assert names == set(contract.SENSOR_CATALOGUE)
    assert all(contract.SENSOR_CATALOGUE[name].name == name for name in names)
    assert set(contract.SOIL_MOISTURE_SENSORS) <= names


STATUS_TOPIC = "isanfarm/v1/korat-001/f01-node/status"
GOOD_JSON = payload().decode()


def status_rule(raw: bytes) -> str:
    with pytest.raises(ContractError) as caught:
        contract.decode_status(STATUS_TOPIC, raw)
    return caught.value.rule


@pytest.mark.parametrize(
    "raw",
    [
        GOOD_JSON.encode("utf-16-le"),
        GOOD_JSON.encode("utf-16-be"),
        GOOD_JSON.encode("utf-16"),  # with a BOM
        b"\xfe\xff" + GOOD_JSON.encode("utf-16-be"),
        GOOD_JSON.encode("utf-32-le"),
        GOOD_JSON.encode("utf-32"),  # with a BOM
        b"\xef\xbb\xbf" + GOOD_JSON.encode(),  # UTF-8 with a BOM
        GOOD_JSON.replace('"rain"', '"rain\\ud800"').encode().replace(b"\\ud800", b"\xed\xa0\x80"),
        b'{"\xed\xa0\x80":1}',  # a UTF-8-encoded surrogate, refused before any key rule
    ],
    ids=[
        "utf16le",
        "utf16be",
        "utf16-bom",
        "utf16be-bom",
        "utf32le",
        "utf32-bom",
        "utf8-bom",
        "surrogate-in-sensor",
        "surrogate-key",
    ],
)
def test_a_payload_in_any_encoding_but_utf8_without_a_bom_is_not_utf8(raw: bytes) -> None:
    """json.loads on bytes guesses UTF-16/32 and skips a UTF-8 BOM: these were stored."""
    assert rule(TOPIC, raw) == "not_utf8"
    assert reason(TOPIC, raw) == "payload"
    assert status_rule(raw.replace(b"seq", b"sss")) == "not_utf8"


@pytest.mark.parametrize(
    "raw",
    [
        payload().replace(b'"rain": 0.4', b'"rain": 999, "rain": 0.4'),
        b'{"schema":1,"device_id":"f01-node","seq":7,"ts":1764115200000,'
        b'"readings":{"air_temperature":999,"air_temperature":1.5}}',
        b'{"schema":1,"device_id":"b02-node","device_id":"f01-node","seq":7,'
        b'"ts":1764115200000,"readings":{"rain":0.4}}',
        b'{"schema":1,"device_id":"f01-node","seq":7,"ts":1764115200000,'
        b'"readings":{"rain":0.4},"units":{"rain":"mm","rain":"mm"}}',
        payload(seq=7).replace(b'"seq": 7', b'"seq": 7, "seq": 7'),
    ],
    ids=["reading", "out-of-range-hidden", "device-id", "units", "same-value"],
)
def test_a_key_sent_twice_at_any_level_is_refused(raw: bytes) -> None:
    """The last value won: an out-of-range 999 was never seen, a second device_id won."""
    with pytest.raises(ContractError, match="appears twice") as caught:
        contract.decode_telemetry(TOPIC, raw)
    assert (caught.value.field, caught.value.rule) == ("payload", "duplicate_key")


def test_a_key_sent_twice_in_a_status_heartbeat_is_refused() -> None:
    health = contract.Health(1.0, 0, 0.0, 0, 0, 0, False)
    raw = contract.encode_status("f01-node", "online", 5, health)
    assert status_rule(raw.replace(b'"dropped":0', b'"dropped":0,"dropped":9')) == ("duplicate_key")
    assert status_rule(raw.replace(b'"state"', b'"state":"offline","state"')) == "duplicate_key"


@pytest.mark.parametrize(
    ("schema", "wanted"),
    [("1.0", "wrong_type"), ("1e0", "wrong_type"), ("true", "wrong_type"), ('"1"', "wrong_type")],
)
def test_the_schema_version_is_an_integer_as_seq_is(schema: str, wanted: str) -> None:
    raw = payload().replace(b'"schema": 1', f'"schema": {schema}'.encode())
    assert (reason(TOPIC, raw), rule(TOPIC, raw)) == ("schema", wanted)
    status = b'{"schema":%s,"device_id":"f01-node","state":"online"}' % schema.encode()
    assert status_rule(status) == wanted
    with pytest.raises(ContractError) as caught:
        contract.decode_time(b'{"schema":%s,"ts":5}' % schema.encode())
    assert caught.value.rule == wanted


def test_a_status_message_refuses_unknown_keys_as_telemetry_does() -> None:
    plain = b'{"schema":1,"device_id":"f01-node","state":"online","ts":5'
    assert contract.decode_status(STATUS_TOPIC, plain + b"}").state == "online"
    with pytest.raises(ContractError) as caught:
        contract.decode_status(STATUS_TOPIC, plain + b',"firmware":"1.2"}')
    assert (caught.value.field, caught.value.rule) == ("firmware", "unknown_field")
    health = contract.Health(1.0, 0, 0.0, 0, 0, 0, False)
    raw = contract.encode_status("f01-node", "online", 5, health)
    with pytest.raises(ContractError) as caught:
        contract.decode_status(STATUS_TOPIC, raw.replace(b'"dropped"', b'"cpu":3,"dropped"'))
    assert (caught.value.field, caught.value.rule) == ("health.cpu", "unknown_field")


def test_every_rule_a_decoder_gives_is_listed_in_the_docs() -> None:
    text = (Path(__file__).parents[2] / "docs" / "contract.md").read_text()
    assert [name for name in contract.RULES if f"`{name}`" not in text] == []
