"""The agent's settings: one TOML file per device, a few ``ISANFARM_`` env overrides.

A gateway is configured by a file an installer can read and edit; secrets such as the MQTT
password may come from the environment instead (``ISANFARM_MQTT_PASSWORD``) so the file can be
shared. Parsed once at start-up into frozen dataclasses that are passed down.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from isanfarm.contract import ContractError, check_id


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


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    farm_id: str
    device_id: str
    site: str | None = None
    interval_s: float = 600.0
    driver: str = "simulated"


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
    driver_options: Mapping[str, Any] = field(default_factory=dict)
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


def load_config(path: Path, env: Mapping[str, str]) -> EdgeConfig:
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the agent config: {exc}") from None
    try:
        return parse_config(document, env, base_dir=path.parent)
    except (ConfigError, ContractError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def parse_config(document: Mapping[str, Any], env: Mapping[str, str], base_dir: Path) -> EdgeConfig:
    device_table = _table(document, "device")
    device = DeviceConfig(**device_table)
    check_id(device.farm_id, "[device] farm_id")
    check_id(device.device_id, "[device] device_id")
    if device.site is not None:
        check_id(device.site, "[device] site")
    if not device.interval_s > 0:
        raise ConfigError(f"[device] interval_s must be > 0, got {device.interval_s}")
    state_dir = Path(document.get("state_dir", f"state/edge/{device.device_id}"))
    return EdgeConfig(
        device=device,
        mqtt=mqtt_config(_table(document, "mqtt", required=False), env),
        state_dir=state_dir if state_dir.is_absolute() else base_dir / state_dir,
        driver_options=dict(_table(document, "driver", required=False)),
        clock=_clock(_table(document, "clock", required=False)),
    )


def _table(document: Mapping[str, Any], name: str, required: bool = True) -> Mapping[str, Any]:
    table = document.get(name)
    if table is None and not required:
        return {}
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}] table is missing or not a table")
    return table


def _clock(table: Mapping[str, Any]) -> ClockConfig | None:
    if not table:
        return None
    start = table.get("start")
    if not isinstance(start, datetime) or start.tzinfo is None:
        raise ConfigError(
            "[clock] start must be a TOML datetime with offset, e.g. 2026-11-19T00:00:00Z"
        )
    speed = float(table.get("speed", 1.0))
    if speed <= 0:
        raise ConfigError(f"[clock] speed must be > 0, got {speed}")
    return ClockConfig(start_ms=int(start.timestamp() * 1000), speed=speed)


def mqtt_config(table: Mapping[str, Any], env: Mapping[str, str]) -> MqttConfig:
    """The [mqtt] table with ``ISANFARM_MQTT_*`` environment variables taking precedence."""
    values = dict(table)
    for name, (key, convert) in _ENV_OVERRIDES.items():
        if name in env:
            values[key] = convert(env[name])
    return MqttConfig(**values)
