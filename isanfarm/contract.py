"""The wire contract between edge agents, ingest, models and the API.

Everything that crosses MQTT is defined here and nowhere else: the topic scheme, the payload
schema and its version, and the sensor catalogue that fixes each reading's unit and valid range.
This module needs only the standard library, because a Pi Zero gateway has no wheel for
pydantic-core, and it imports no other project package, so every side can import it without
pulling in the others. ``docs/contract.md`` is the human-readable version of this file.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1
TOPIC_PREFIX = "isanfarm/v1"
TELEMETRY = "telemetry"
STATUS = "status"
TOPIC_KINDS = (TELEMETRY, STATUS)

#: Farm, device, site and animal ids: lower-case letters, digits, '-' and '_', 1..64 characters,
#: starting with a letter or digit. Safe in MQTT topics (no '/', '+', '#'), in InfluxDB tags and
#: in URLs without escaping.
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

#: Device clocks are UTC milliseconds since the Unix epoch; anything past this (year 2100) is not
#: a plausible clock and is rejected outright. Clock *sanity* (1970 after a reboot, skew) is a
#: separate, softer judgement made by ingest.
MAX_TS_MS = 4_102_444_800_000

#: A telemetry message larger than this is refused before parsing: a misbehaving device must
#: not be able to make ingest allocate without bound.
MAX_PAYLOAD_BYTES = 16 * 1024


class DeviceKind:
    """Where a device stands; the catalogue says which sensors belong to which kind."""

    CASSAVA_FIELD = "cassava_field"
    CATTLE_BARN = "cattle_barn"


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """One entry of the sensor catalogue: the unit a reading is in and its physical range."""

    name: str
    unit: str
    minimum: float
    maximum: float
    description: str
    device_kinds: tuple[str, ...]
    #: Walk-over scale readings are about one animal: the message must say which.
    needs_animal_id: bool = False


class Sensor:
    """The catalogue's sensor names, for code that names one sensor (``Sensor.RAIN``) rather
    than iterating ``SENSOR_CATALOGUE``: a typo is then an AttributeError at import, not a
    silently empty query. These are the names on the wire, in readings and in InfluxDB fields."""

    SOIL_MOISTURE_10CM = "soil_moisture_10cm"
    SOIL_MOISTURE_30CM = "soil_moisture_30cm"
    SOIL_MOISTURE_60CM = "soil_moisture_60cm"
    SOIL_TEMPERATURE = "soil_temperature"
    AIR_TEMPERATURE = "air_temperature"
    RELATIVE_HUMIDITY = "relative_humidity"
    RAIN = "rain"
    SOLAR_RADIATION = "solar_radiation"
    BATTERY_VOLTAGE = "battery_voltage"
    WATER_METER = "water_meter"
    ANIMAL_WEIGHT = "animal_weight"


#: The soil-moisture probes' three depths, top down.
SOIL_MOISTURE_SENSORS = (
    Sensor.SOIL_MOISTURE_10CM,
    Sensor.SOIL_MOISTURE_30CM,
    Sensor.SOIL_MOISTURE_60CM,
)


_FIELD = (DeviceKind.CASSAVA_FIELD,)
_BARN = (DeviceKind.CATTLE_BARN,)
_BOTH = (DeviceKind.CASSAVA_FIELD, DeviceKind.CATTLE_BARN)

#: Ranges are the limits of what the sensor can physically report, not agronomic thresholds:
#: a reading outside them is a broken sensor or a wrong unit, never weather.
SENSOR_CATALOGUE: Mapping[str, SensorSpec] = {
    spec.name: spec
    for spec in (
        SensorSpec(
            Sensor.SOIL_MOISTURE_10CM, "%VWC", 0.0, 100.0, "volumetric soil water, 10 cm", _FIELD
        ),
        SensorSpec(
            Sensor.SOIL_MOISTURE_30CM, "%VWC", 0.0, 100.0, "volumetric soil water, 30 cm", _FIELD
        ),
        SensorSpec(
            Sensor.SOIL_MOISTURE_60CM, "%VWC", 0.0, 100.0, "volumetric soil water, 60 cm", _FIELD
        ),
        SensorSpec(
            Sensor.SOIL_TEMPERATURE, "degC", -10.0, 70.0, "soil temperature at 10 cm", _FIELD
        ),
        SensorSpec(Sensor.AIR_TEMPERATURE, "degC", -10.0, 60.0, "air temperature", _BOTH),
        SensorSpec(
            Sensor.RELATIVE_HUMIDITY, "%", 0.0, 100.0, "relative humidity of the air", _BOTH
        ),
        SensorSpec(Sensor.RAIN, "mm", 0.0, 300.0, "rain since the previous reading", _FIELD),
        SensorSpec(
            Sensor.SOLAR_RADIATION, "W/m2", 0.0, 1500.0, "global horizontal irradiance", _FIELD
        ),
        SensorSpec(Sensor.BATTERY_VOLTAGE, "V", 0.0, 16.0, "supply battery voltage", _BOTH),
        SensorSpec(Sensor.WATER_METER, "L", 0.0, 1e9, "cumulative water meter total", _BARN),
        SensorSpec(
            Sensor.ANIMAL_WEIGHT,
            "kg",
            10.0,
            1500.0,
            "walk-over scale, one pass of one animal",
            _BARN,
            needs_animal_id=True,
        ),
    )
}

_REQUIRED_KEYS = frozenset({"schema", "device_id", "seq", "ts", "readings"})
_OPTIONAL_KEYS = frozenset({"site", "animal_id", "units", "clock_suspect"})
_ALL_KEYS = _REQUIRED_KEYS | _OPTIONAL_KEYS


RULES = (
    "too_large",
    "not_utf8",
    "not_json",
    "duplicate_key",
    "too_deep",
    "not_object",
    "not_finite",
    "missing_field",
    "unknown_field",
    "unsupported_schema",
    "bad_id",
    "bad_topic",
    "wrong_kind",
    "device_mismatch",
    "wrong_type",
    "out_of_range",
    "unknown_sensor",
    "wrong_unit",
    "animal_id_rule",
    "invalid",
)


class ContractError(ValueError):
    """A topic or payload breaks the contract.

    ``field`` names the offending part (``topic``, ``payload``, ``seq``,
    ``readings.soil_moisture_30cm``...) so ingest can count rejects by reason and an operator
    can see at once what a device got wrong.
    """

    def __init__(self, field: str, detail: str, rule: str = "invalid") -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail
        #: Which rule was broken, from a small fixed set (see ``RULES``): what rejects are
        #: counted by, since ``field`` can be any key a device invents.
        self.rule = rule


@dataclass(frozen=True, slots=True)
class TopicAddress:
    farm_id: str
    device_id: str
    kind: str


@dataclass(frozen=True, slots=True)
class Telemetry:
    """One telemetry message: the readings a device took at one instant of its own clock."""

    farm_id: str
    device_id: str
    seq: int
    ts_ms: int
    readings: Mapping[str, float]
    site: str | None = None
    animal_id: str | None = None
    #: The device did not trust its clock when it stamped ``ts``: ingest must not file the
    #: readings under that time as if it were true.
    clock_suspect: bool = False
    # Not part of equality: two decodings of the same message are the same message.
    units: Mapping[str, str] | None = field(default=None, compare=False)

    @property
    def topic(self) -> str:
        return telemetry_topic(self.farm_id, self.device_id)


def check_id(value: object, what: str) -> str:
    """Return ``value`` if it is a valid id, else raise ContractError naming ``what``."""
    if not isinstance(value, str) or not _valid_id(value):
        raise ContractError(
            what,
            f"{value!r} is not a valid id: use 1-64 of a-z, 0-9, '-' and '_', "
            "starting with a letter or digit",
            "bad_id",
        )
    return value


@functools.lru_cache(maxsize=4096)
def _valid_id(value: str) -> bool:
    """Cached: ingest checks the same farm, device and site ids in every message."""
    return ID_PATTERN.fullmatch(value) is not None


def telemetry_topic(farm_id: str, device_id: str) -> str:
    return _topic(farm_id, device_id, TELEMETRY)


def status_topic(farm_id: str, device_id: str) -> str:
    return _topic(farm_id, device_id, STATUS)


def _topic(farm_id: str, device_id: str, kind: str) -> str:
    check_id(farm_id, "farm_id")
    check_id(device_id, "device_id")
    return f"{TOPIC_PREFIX}/{farm_id}/{device_id}/{kind}"


def subscription(kind: str = TELEMETRY, farm_id: str = "+") -> str:
    """The MQTT filter for one kind of message, for one farm or (default) all farms."""
    if farm_id != "+":
        check_id(farm_id, "farm_id")
    return f"{TOPIC_PREFIX}/{farm_id}/+/{kind}"


def parse_topic(topic: str) -> TopicAddress:
    return _parse_topic(topic)


@functools.lru_cache(maxsize=16_384)
def _parse_topic(topic: str) -> TopicAddress:
    """Cached: a device publishes on the same topic every time. A bad topic raises, which
    the cache does not keep, so it is checked (and its error built) again each time."""
    parts = topic.split("/")
    prefix = TOPIC_PREFIX.split("/")
    if len(parts) != len(prefix) + 3 or parts[: len(prefix)] != prefix:
        raise ContractError(
            "topic",
            f"{topic!r} does not match '{TOPIC_PREFIX}/<farm_id>/<device_id>/<kind>'",
            "bad_topic",
        )
    farm_id, device_id, kind = parts[len(prefix) :]
    check_id(farm_id, "topic.farm_id")
    check_id(device_id, "topic.device_id")
    if kind not in TOPIC_KINDS:
        raise ContractError(
            "topic.kind", f"{kind!r} is not one of {', '.join(TOPIC_KINDS)}", "wrong_kind"
        )
    return TopicAddress(farm_id, device_id, kind)


def encode_telemetry(message: Telemetry) -> bytes:
    """Serialise a message; the result always decodes back to an equal message."""
    body: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "device_id": message.device_id,
        "seq": message.seq,
        "ts": message.ts_ms,
        "readings": dict(message.readings),
    }
    if message.site is not None:
        body["site"] = message.site
    if message.animal_id is not None:
        body["animal_id"] = message.animal_id
    if message.clock_suspect:
        body["clock_suspect"] = True
    return json.dumps(body, allow_nan=False, separators=(",", ":")).encode()


def decode_telemetry(topic: str, payload: bytes) -> Telemetry:
    """Parse and validate one telemetry message, or raise ContractError saying what is wrong."""
    address = parse_topic(topic)
    if address.kind != TELEMETRY:
        raise ContractError(
            "topic.kind", f"expected '{TELEMETRY}', got {address.kind!r}", "wrong_kind"
        )
    return _telemetry(address, payload)


def decode_message(topic: str, payload: bytes) -> Telemetry | DeviceStatus:
    """Telemetry or status, by the topic (parsed once): what a consumer of every kind needs."""
    address = parse_topic(topic)
    if address.kind == STATUS:
        return _status(address, payload)
    return _telemetry(address, payload)


def _telemetry(address: TopicAddress, payload: bytes) -> Telemetry:
    body = _load_json_object(payload)
    _check_keys(body)
    _check_schema(body["schema"])
    device_id = check_id(body["device_id"], "device_id")
    if device_id != address.device_id:
        raise ContractError(
            "device_id",
            f"{device_id!r} does not match the topic's device {address.device_id!r}",
            "device_mismatch",
        )
    seq = _integer(body["seq"], "seq", 0, 2**63 - 1)
    ts_ms = _integer(body["ts"], "ts", 0, MAX_TS_MS)
    site = None if body.get("site") is None else check_id(body["site"], "site")
    units = _units(body.get("units"))
    readings, per_animal = _readings(body["readings"], units)
    animal_id = _animal_id(body.get("animal_id"), per_animal)
    clock_suspect = body.get("clock_suspect", False)
    if not isinstance(clock_suspect, bool):
        raise ContractError(
            "clock_suspect", f"{clock_suspect!r} is not true or false", "wrong_type"
        )
    return Telemetry(
        address.farm_id, device_id, seq, ts_ms, readings, site, animal_id, clock_suspect, units
    )


def _load_json_object(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError(
            "payload", f"{len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}", "too_large"
        )
    text = _utf8_text(payload)
    try:
        body = json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=_object_without_duplicates
        )
    except json.JSONDecodeError as exc:
        raise ContractError(
            "payload", f"not JSON: {exc.msg} at position {exc.pos}", "not_json"
        ) from None
    except RecursionError:
        # Valid JSON can nest deeper than the parser recurses (8,000 brackets fit in the size
        # cap); the contract's own nesting is two levels.
        raise ContractError(
            "payload",
            "nested too deeply to parse; a message nests objects two levels deep",
            "too_deep",
        ) from None
    if not isinstance(body, dict):
        raise ContractError(
            "payload", f"expected a JSON object, got {type(body).__name__}", "not_object"
        )
    return body


def _utf8_text(payload: bytes) -> str:
    """The payload as text, if it is UTF-8 and nothing else.

    ``json.loads`` on bytes guesses UTF-16 and UTF-32 and skips a UTF-8 BOM, and lets
    UTF-8-encoded surrogates through; the contract says UTF-8, so a device that sends anything
    else is told so rather than stored by luck. A strict decode refuses surrogates and the
    UTF-16/32 byte-order marks (0xFF and 0xFE never occur in UTF-8); UTF-16 and UTF-32 without
    a mark decode as UTF-8 but carry NUL bytes, which JSON text never does (a NUL inside a
    string must be escaped as \\u0000)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError(
            "payload",
            f"not UTF-8 text: {exc.reason} at byte {exc.start}; send UTF-8 JSON",
            "not_utf8",
        ) from None
    if text.startswith("\ufeff"):
        raise ContractError(
            "payload", "starts with a byte-order mark; send UTF-8 without a BOM", "not_utf8"
        )
    if "\x00" in text:
        raise ContractError(
            "payload",
            f"NUL byte at {text.index(chr(0))}: UTF-16 or UTF-32? send UTF-8 JSON",
            "not_utf8",
        )
    return text


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different: with a key sent twice, ``json`` keeps the
    last value, so ``"air_temperature":999,"air_temperature":1.5`` would hide an out-of-range
    reading and a second ``device_id`` would override the first."""
    body = dict(pairs)
    if len(body) != len(pairs):
        counts = Counter(key for key, _ in pairs)
        twice = next(key for key, count in counts.items() if count > 1)
        raise ContractError(
            "payload",
            f"key {twice!r} appears twice in one object; send each key once",
            "duplicate_key",
        )
    return body


def _check_schema(value: object) -> None:
    """An integer, as ``seq`` and ``ts`` are: ``1.0`` and ``true`` equal 1 in Python, not on
    the wire."""
    if type(value) is not int:
        raise ContractError("schema", f"{value!r} is not an integer schema version", "wrong_type")
    if value != SCHEMA_VERSION:
        raise ContractError(
            "schema",
            f"{value!r} is not a supported schema version ({SCHEMA_VERSION})",
            "unsupported_schema",
        )


def _reject_constant(name: str) -> None:
    raise ContractError("payload", f"{name} is not a number; send finite values only", "not_finite")


def _check_keys(body: Mapping[str, Any]) -> None:
    keys = body.keys()
    if _REQUIRED_KEYS <= keys <= _ALL_KEYS:
        return  # the common case, in two set comparisons
    missing = sorted(_REQUIRED_KEYS - keys)
    if missing:
        raise ContractError(missing[0], "required field is missing", "missing_field")
    _check_known(keys, _ALL_KEYS, "")


def _check_known(keys: AbstractSet[str], known: AbstractSet[str], prefix: str) -> None:
    """Any key the schema does not name is refused: a new key means a new schema version."""
    unknown = sorted(keys - known)
    if unknown:
        raise ContractError(
            prefix + unknown[0], f"unknown field in schema {SCHEMA_VERSION}", "unknown_field"
        )


def _integer(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractError(name, f"{value!r} is not an integer", "wrong_type")
    if not low <= value <= high:
        raise ContractError(name, f"{value} is outside {low}..{high}", "out_of_range")
    return value


def _units(value: object) -> dict[str, str] | None:
    """Devices may echo the units they think they send; a mismatch is a wrong-unit bug."""
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(u, str) for u in value.values()):
        raise ContractError(
            "units", "expected an object of sensor name to unit string", "wrong_type"
        )
    for name, unit in value.items():
        spec = _spec(name, f"units.{name}")
        if unit != spec.unit:
            raise ContractError(
                f"units.{name}",
                f"{unit!r} is not the catalogue unit {spec.unit!r}; convert first",
                "wrong_unit",
            )
    return dict(value)


def _readings(
    value: object, units: Mapping[str, str] | None
) -> tuple[dict[str, float], str | None]:
    """The checked readings, and the first of them that is per animal (``needs_animal_id``)."""
    if not isinstance(value, dict) or not value:
        raise ContractError(
            "readings", "expected a non-empty object of sensor name to number", "wrong_type"
        )
    readings: dict[str, float] = {}
    per_animal = None
    for name, raw in value.items():
        spec = SENSOR_CATALOGUE.get(name)
        # The common case in one test: a known sensor, a float (JSON's numbers with a point),
        # inside its range (NaN never is). Anything else takes the careful path below, which
        # also says what was wrong; ingest runs this for every reading.
        if spec is not None and type(raw) is float and spec.minimum <= raw <= spec.maximum:
            readings[name] = raw
        else:
            readings[name] = _reading(name, raw)
            spec = SENSOR_CATALOGUE[name]
        if spec.needs_animal_id and per_animal is None:
            per_animal = name
    if units is not None and not units.keys() <= readings.keys():
        extra = sorted(units.keys() - readings.keys())[0]
        raise ContractError(
            f"units.{extra}", "names a sensor with no reading in this message", "wrong_unit"
        )
    return readings, per_animal


def _reading(name: str, raw: object) -> float:
    where = f"readings.{name}"
    spec = _spec(name, where)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ContractError(where, f"{raw!r} is not a number", "wrong_type")
    number = _finite(raw, where)
    if not spec.minimum <= number <= spec.maximum:
        raise ContractError(
            where,
            f"{number:g} {spec.unit} is outside {spec.minimum:g}..{spec.maximum:g}",
            "out_of_range",
        )
    return number


def _spec(name: str, where: str) -> SensorSpec:
    try:
        return SENSOR_CATALOGUE[name]
    except KeyError:
        raise ContractError(
            where, "not a sensor in the catalogue (see docs/contract.md)", "unknown_sensor"
        ) from None


def _animal_id(value: object, per_animal: str | None) -> str | None:
    """``per_animal``: the message's first per-animal reading, if it has one."""
    if value is None:
        if per_animal is not None:
            raise ContractError(
                "animal_id", f"required with reading {per_animal!r}", "animal_id_rule"
            )
        return None
    if per_animal is None:
        raise ContractError("animal_id", "only allowed with a per-animal reading", "animal_id_rule")
    return check_id(value, "animal_id")


#: Device states carried by the retained status message (the offline one is the Last Will).
ONLINE = "online"
OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Health:
    """What a device says about itself in its periodic status heartbeat."""

    uptime_s: float
    #: Readings on the device's disk not yet acknowledged by the broker.
    outbox_depth: int
    #: Age (device time) of the oldest of them; 0 when the outbox is empty.
    oldest_unsent_age_s: float
    #: Readings discarded because the outbox reached its cap, since the outbox was created.
    dropped: int
    #: Sensor reads that failed, since the agent started.
    driver_errors: int
    #: Values outside the catalogue range that the agent did not send, since it started.
    implausible: int
    #: The device clock is not trusted (see docs/contract.md, "Device clocks").
    clock_suspect: bool


_HEALTH_COUNTS = ("outbox_depth", "dropped", "driver_errors", "implausible")
_HEALTH_SECONDS = ("uptime_s", "oldest_unsent_age_s")


def encode_status(
    device_id: str, state: str, ts_ms: int | None = None, health: Health | None = None
) -> bytes:
    """A retained status message; ``ts`` is omitted from a Last Will, whose time is unknown."""
    if state not in (ONLINE, OFFLINE):
        raise ContractError("state", f"{state!r} is not {ONLINE!r} or {OFFLINE!r}")
    body: dict[str, Any] = {"schema": SCHEMA_VERSION, "device_id": check_id(device_id, "device_id")}
    body["state"] = state
    if ts_ms is not None:
        body["ts"] = ts_ms
    if health is not None:
        body["health"] = {name: getattr(health, name) for name in Health.__dataclass_fields__}
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    farm_id: str
    device_id: str
    state: str
    ts_ms: int | None
    health: Health | None = None


_STATUS_KEYS = frozenset({"schema", "device_id", "state", "ts", "health"})


def decode_status(topic: str, payload: bytes) -> DeviceStatus:
    """Parse a status message (retained online/offline, maybe with health), or raise."""
    address = parse_topic(topic)
    if address.kind != STATUS:
        raise ContractError(
            "topic.kind", f"expected '{STATUS}', got {address.kind!r}", "wrong_kind"
        )
    return _status(address, payload)


def _status(address: TopicAddress, payload: bytes) -> DeviceStatus:
    body = _load_json_object(payload)
    _check_known(body.keys(), _STATUS_KEYS, "")
    _check_schema(body.get("schema"))
    device_id = check_id(body.get("device_id"), "device_id")
    if device_id != address.device_id:
        raise ContractError(
            "device_id",
            f"{device_id!r} does not match the topic's device {address.device_id!r}",
            "device_mismatch",
        )
    state = body.get("state")
    if state not in (ONLINE, OFFLINE):
        raise ContractError("state", f"{state!r} is not {ONLINE!r} or {OFFLINE!r}")
    ts_ms = None if body.get("ts") is None else _integer(body["ts"], "ts", 0, MAX_TS_MS)
    health = None if body.get("health") is None else _health(body["health"])
    return DeviceStatus(address.farm_id, device_id, state, ts_ms, health)


def _health(value: object) -> Health:
    if not isinstance(value, dict):
        raise ContractError("health", "expected an object", "wrong_type")
    missing = sorted(set(Health.__dataclass_fields__) - value.keys())
    if missing:
        raise ContractError(f"health.{missing[0]}", "required field is missing", "missing_field")
    _check_known(value.keys(), Health.__dataclass_fields__.keys(), "health.")
    counts = {
        name: _integer(value[name], f"health.{name}", 0, 2**63 - 1) for name in _HEALTH_COUNTS
    }
    seconds = {name: _seconds(value[name], f"health.{name}") for name in _HEALTH_SECONDS}
    if not isinstance(value["clock_suspect"], bool):
        raise ContractError("health.clock_suspect", "expected true or false", "wrong_type")
    return Health(
        uptime_s=seconds["uptime_s"],
        outbox_depth=counts["outbox_depth"],
        oldest_unsent_age_s=seconds["oldest_unsent_age_s"],
        dropped=counts["dropped"],
        driver_errors=counts["driver_errors"],
        implausible=counts["implausible"],
        clock_suspect=value["clock_suspect"],
    )


def _seconds(number: object, where: str) -> float:
    """A duration, finite (InfluxDB would drop an infinite one without a word)."""
    if isinstance(number, bool) or not isinstance(number, int | float) or not number >= 0:
        raise ContractError(where, f"{number!r} is not a number of seconds >= 0", "wrong_type")
    return _finite(number, where)


def _finite(number: int | float, where: str) -> float:
    """As a float, refusing what is not finite: JSON's 1e999 parses to infinity and an
    integer of 400 digits overflows a float."""
    try:
        value = float(number)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise ContractError(where, f"{value} is not a finite number", "not_finite")
    return value


#: The platform's clock, published every few seconds (not retained) so that devices without a
#: real-time clock can tell whether theirs is wrong.
TIME_TOPIC = f"{TOPIC_PREFIX}/time"


def encode_time(ts_ms: int) -> bytes:
    return json.dumps({"schema": SCHEMA_VERSION, "ts": ts_ms}, separators=(",", ":")).encode()


def decode_time(payload: bytes) -> int:
    body = _load_json_object(payload)
    _check_schema(body.get("schema"))
    return _integer(body.get("ts"), "ts", 0, MAX_TS_MS)
