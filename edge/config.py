"""The agent's settings: one TOML file per device, a few ``ISANFARM_`` env overrides.

A gateway is configured by a file an installer can read and edit; secrets such as the MQTT
password may come from the environment instead (``ISANFARM_MQTT_PASSWORD``) so the file can be
shared. Parsed and checked once at start-up into frozen dataclasses that are passed down; every
error names the file, the key and the fix. ``isanfarm edge check --config F`` runs just this.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from edge.drivers import available_drivers
from isanfarm.contract import ContractError, check_id

#: Readings stamped before this instant come from a clock that cannot be right: this version
#: did not exist yet. (A Pi without an RTC boots in 1970 or at its last saved time.)
RELEASE_DATE = datetime(2026, 11, 1, tzinfo=UTC)


T = TypeVar("T")

#: ``[mqtt] receipts``: see ``MqttConfig.receipts``.
RECEIPT_MODES = ("auto", "on", "off")


class ConfigError(ValueError):
    """The config file is wrong; the message names the file, the key and the fix."""


@dataclass(frozen=True, slots=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    #: Fixed per device so the broker keeps its session across reconnects; default derived.
    client_id: str = ""
    username: str | None = None
    password: str | None = None
    keepalive_s: int = 30
    #: "5" (default) or "3.1.1" for brokers without MQTT 5.
    protocol: str = "5"
    #: TLS: on when ``tls`` is true or a CA file is given; client cert/key for mutual TLS.
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    #: Readings published and not yet acknowledged by the broker, at most: a backlog drains
    #: in a steady stream instead of a flood the broker refuses.
    max_in_flight: int = 20
    #: Readings the broker took and no receipt confirmed yet, at most (with receipts): what
    #: a broker crash can make the agent send again.
    max_unreceipted: int = 1000
    #: What confirms a reading (docs/receipts.md): "receipts" from ingest saying it is stored,
    #: or the broker's PUBACK ("off"). "auto" (default) trusts PUBACKs until this device gets
    #: its first receipt and receipts from then on, so a new agent beside an ingest without
    #: receipts behaves as before instead of sending its readings again forever. "on" waits
    #: for receipts from the first reading (the only safe choice over MQTT 3.1.1 from the start).
    receipts: str = "auto"
    #: A reading the broker took but no receipt covered this long after it was sent is sent
    #: again (the wait doubles with each resend of it, up to 64 times).
    receipt_timeout_s: float = 60.0

    @property
    def uses_tls(self) -> bool:
        return self.tls or self.ca_file is not None


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    farm_id: str
    device_id: str
    site: str | None = None
    interval_s: float = 600.0


@dataclass(frozen=True, slots=True)
class SensorConfig:
    """One ``[[sensors]]`` table: a driver by name and its own options."""

    driver: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    #: Cap on stored readings and on their size; past either, the oldest are dropped (counted).
    max_readings: int = 1_000_000
    max_mb: float = 256.0


@dataclass(frozen=True, slots=True)
class HealthConfig:
    #: Real seconds between status heartbeats.
    heartbeat_s: float = 60.0
    #: A device clock further than this from the platform's time is suspect.
    max_clock_skew_s: float = 300.0
    #: A device clock before this instant is suspect (the default is this version's date).
    earliest_plausible: datetime = RELEASE_DATE


@dataclass(frozen=True, slots=True)
class ClockConfig:
    """An accelerated clock for simulated devices: start time and speed-up over real time."""

    start_ms: int
    speed: float


@dataclass(frozen=True, slots=True)
class EdgeConfig:
    device: DeviceConfig
    mqtt: MqttConfig
    state_dir: Path
    sensors: tuple[SensorConfig, ...]
    outbox: OutboxConfig = OutboxConfig()
    health: HealthConfig = HealthConfig()
    clock: ClockConfig | None = None

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or f"isanfarm-{self.device.farm_id}-{self.device.device_id}"


_ENV_OVERRIDES = {
    "ISANFARM_MQTT_HOST": ("host", str),
    "ISANFARM_MQTT_PORT": ("port", int),
    "ISANFARM_MQTT_USERNAME": ("username", str),
    "ISANFARM_MQTT_PASSWORD": ("password", str),
}
_SECTIONS = {"device", "sensors", "mqtt", "outbox", "health", "clock", "state_dir"}


def load_config(path: Path, env: Mapping[str, str]) -> EdgeConfig:
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the agent config: {exc}") from None
    try:
        return parse_config(document, env, base_dir=path.parent)
    except (ConfigError, ContractError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def parse_config(document: Mapping[str, Any], env: Mapping[str, str], base_dir: Path) -> EdgeConfig:
    unknown = sorted(document.keys() - _SECTIONS)
    if unknown:
        raise ConfigError(f"[{unknown[0]}] is not a section; known: {', '.join(sorted(_SECTIONS))}")
    device = _build(DeviceConfig, _table(document, "device"), "device")
    check_id(device.farm_id, "[device] farm_id")
    check_id(device.device_id, "[device] device_id")
    if device.site is not None:
        check_id(device.site, "[device] site")
    _positive(device.interval_s, "[device] interval_s")
    state_dir = Path(document.get("state_dir", f"state/edge/{device.device_id}"))
    return EdgeConfig(
        device=device,
        mqtt=mqtt_config(_table(document, "mqtt", required=False), env, base_dir),
        state_dir=state_dir if state_dir.is_absolute() else base_dir / state_dir,
        sensors=_sensors(document.get("sensors")),
        outbox=_outbox(_table(document, "outbox", required=False)),
        health=_health(_table(document, "health", required=False)),
        clock=_clock(_table(document, "clock", required=False)),
    )


def mqtt_config(
    table: Mapping[str, Any], env: Mapping[str, str], base_dir: Path = Path(".")
) -> MqttConfig:
    """The [mqtt] table with ``ISANFARM_MQTT_*`` environment variables taking precedence."""
    values = dict(table)
    for name, (key, convert) in _ENV_OVERRIDES.items():
        if name in env:
            try:
                values[key] = convert(env[name])
            except ValueError:
                raise ConfigError(f"{name}={env[name]!r} is not a valid {key}") from None
    for key in ("ca_file", "cert_file", "key_file"):
        if values.get(key) is not None:
            file = Path(values[key]) if Path(values[key]).is_absolute() else base_dir / values[key]
            if not file.is_file():
                raise ConfigError(f"[mqtt] {key}: {file} does not exist")
            values[key] = str(file)
    config = _build(MqttConfig, values, "mqtt")
    if config.protocol not in ("5", "3.1.1"):
        raise ConfigError(f'[mqtt] protocol must be "5" or "3.1.1", got {config.protocol!r}')
    if (config.cert_file is None) != (config.key_file is None):
        raise ConfigError("[mqtt] cert_file and key_file go together: set both or neither")
    _positive(config.max_in_flight, "[mqtt] max_in_flight")
    _positive(config.max_unreceipted, "[mqtt] max_unreceipted")
    if config.receipts not in RECEIPT_MODES:
        raise ConfigError(f'[mqtt] receipts must be "auto", "on" or "off", got {config.receipts!r}')
    _positive(config.receipt_timeout_s, "[mqtt] receipt_timeout_s")
    return config


def _sensors(value: object) -> tuple[SensorConfig, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError("[[sensors]] is missing: add at least one table with a driver name")
    sensors = []
    drivers = available_drivers()
    for number, table in enumerate(value, start=1):
        where = f"[[sensors]] #{number}"
        if not isinstance(table, dict):
            raise ConfigError(f"{where} is not a table")
        options = dict(table)
        driver = options.pop("driver", None)
        if driver not in drivers:
            raise ConfigError(
                f"{where} driver {driver!r} is unknown: use one of {', '.join(sorted(drivers))}"
            )
        sensors.append(SensorConfig(driver, options))
    return tuple(sensors)


def _outbox(table: Mapping[str, Any]) -> OutboxConfig:
    config = _build(OutboxConfig, table, "outbox")
    _positive(config.max_readings, "[outbox] max_readings")
    _positive(config.max_mb, "[outbox] max_mb")
    return config


def _health(table: Mapping[str, Any]) -> HealthConfig:
    config = _build(HealthConfig, table, "health")
    _positive(config.heartbeat_s, "[health] heartbeat_s")
    _positive(config.max_clock_skew_s, "[health] max_clock_skew_s")
    if config.earliest_plausible.tzinfo is None:
        raise ConfigError("[health] earliest_plausible needs an offset, e.g. 2026-11-01T00:00:00Z")
    return config


def _clock(table: Mapping[str, Any]) -> ClockConfig | None:
    if not table:
        return None
    start = table.get("start")
    if not isinstance(start, datetime) or start.tzinfo is None:
        raise ConfigError(
            "[clock] start must be a TOML datetime with offset, e.g. 2026-11-19T00:00:00Z"
        )
    speed = table.get("speed", 1.0)
    _positive(speed, "[clock] speed")
    return ClockConfig(start_ms=int(start.timestamp() * 1000), speed=float(speed))


def _table(document: Mapping[str, Any], name: str, required: bool = True) -> Mapping[str, Any]:
    table = document.get(name)
    if table is None and not required:
        return {}
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}] table is missing or not a table")
    return table


_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str | None": (str, type(None)),
    "datetime": (datetime,),
}


def _build(cls: type[T], table: Mapping[str, Any], section: str) -> T:
    """Construct a config dataclass, naming any unknown key or wrongly typed value."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key, value in table.items():
        if key not in fields:
            raise ConfigError(f"[{section}] unknown key {key!r}; known: {', '.join(fields)}")
        allowed = _TYPES.get(str(fields[key].type))
        wrong_bool = isinstance(value, bool) and bool not in (allowed or ())
        if allowed and (not isinstance(value, allowed) or wrong_bool):
            raise ConfigError(f"[{section}] {key} = {value!r} should be of type {fields[key].type}")
    required = [n for n, f in fields.items() if _is_required(f) and n not in table]
    if required:
        raise ConfigError(f"[{section}] {required[0]} is required")
    return cls(**table)


def _is_required(spec: dataclasses.Field[Any]) -> bool:
    return spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING


def _positive(value: object, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{where} must be a number > 0, got {value!r}")
