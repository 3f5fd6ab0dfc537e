"""The agent's TOML config: what a gateway installer writes, and the errors they get."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import ConfigError, load_config

GOOD = """
[device]
farm_id = "korat-001"
device_id = "f01-node"
site = "field-01"
interval_s = 600

[driver]
kind = "cassava_field"
seed = 4

[mqtt]
host = "broker.local"
username = "f01-node"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_a_config_file_becomes_typed_settings_with_derived_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), env={})
    assert config.device.device_id == "f01-node"
    assert config.mqtt.host == "broker.local"
    assert config.mqtt.port == 1883
    assert config.client_id == "isanfarm-korat-001-f01-node"
    assert config.driver_options == {"kind": "cassava_field", "seed": 4}
    assert config.state_dir == tmp_path / "state/edge/f01-node"
    assert config.clock is None


def test_environment_overrides_broker_and_secrets(tmp_path: Path) -> None:
    env = {"ISANFARM_MQTT_PORT": "8883", "ISANFARM_MQTT_PASSWORD": "s3cret"}
    config = load_config(write(tmp_path, GOOD), env)
    assert (config.mqtt.port, config.mqtt.password) == (8883, "s3cret")


def test_a_simulation_clock_needs_a_start_with_a_time_zone(tmp_path: Path) -> None:
    good = GOOD + "[clock]\nstart = 2026-11-19T00:00:00Z\nspeed = 600\n"
    assert load_config(write(tmp_path, good), {}).clock is not None
    with pytest.raises(ConfigError, match=r"\[clock\] start"):
        load_config(write(tmp_path, GOOD + "[clock]\nstart = 2026-11-19T00:00:00\n"), {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"\[device\] table is missing"),
        (GOOD.replace('"korat-001"', '"Korat 001"'), r"\[device\] farm_id"),
        (GOOD.replace("interval_s = 600", "interval_s = 0"), "interval_s must be > 0"),
        (GOOD.replace("interval_s = 600", "interval = 600"), "interval"),
        ("[device\n", "cannot read"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path, {})
    assert str(path) in str(caught.value)
