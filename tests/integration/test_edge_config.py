"""The agent's TOML config: what a gateway installer writes, and the errors they get."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import ConfigError, load_config
from edge.runner import build_drivers

GOOD = """
[device]
farm_id = "korat-001"
device_id = "f01-node"
site = "field-01"
interval_s = 600

[[sensors]]
driver = "simulated"
kind = "cassava_field"
seed = 4

[mqtt]
host = "broker.local"
username = "f01-node"

[outbox]
max_readings = 50000
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
    assert config.mqtt.uses_tls is False
    assert config.client_id == "isanfarm-korat-001-f01-node"
    assert [(s.driver, dict(s.options)) for s in config.sensors] == [
        ("simulated", {"kind": "cassava_field", "seed": 4})
    ]
    assert config.outbox.max_readings == 50_000
    assert config.state_dir == tmp_path / "state/edge/f01-node"
    assert config.clock is None


def test_environment_overrides_broker_and_secrets(tmp_path: Path) -> None:
    env = {"ISANFARM_MQTT_PORT": "8883", "ISANFARM_MQTT_PASSWORD": "s3cret"}
    config = load_config(write(tmp_path, GOOD), env)
    assert (config.mqtt.port, config.mqtt.password) == (8883, "s3cret")


def test_tls_files_are_resolved_next_to_the_config_and_must_exist(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not really a CA")
    tls = GOOD.replace("[outbox]", 'ca_file = "ca.pem"\n\n[outbox]')
    config = load_config(write(tmp_path, tls), {})
    assert config.mqtt.uses_tls
    assert config.mqtt.ca_file == str(tmp_path / "ca.pem")
    missing = GOOD.replace("[outbox]", 'ca_file = "nowhere.pem"\n\n[outbox]')
    with pytest.raises(ConfigError, match=r"\[mqtt\] ca_file: .*nowhere.pem does not exist"):
        load_config(write(tmp_path, missing), {})


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
        (GOOD.replace("interval_s = 600", "interval_s = 0"), r"interval_s must be a number > 0"),
        (GOOD.replace("interval_s = 600", "interval = 600"), r"\[device\] unknown key 'interval'"),
        (GOOD.replace('host = "broker.local"', "port = '1883'"), r"\[mqtt\] port = '1883'"),
        (GOOD.replace('driver = "simulated"', 'driver = "dht22"'), r"driver 'dht22' is unknown"),
        (GOOD.replace("[[sensors]]", "[[sensor]]"), r"\[sensor\] is not a section"),
        (GOOD.replace("max_readings = 50000", "max_readings = -1"), r"max_readings must be"),
        (GOOD + "[mqtt.x]\n", r"\[mqtt\]"),
        ("[device\n", "cannot read"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path, {})
    assert str(path) in str(caught.value)


def test_the_example_gateway_config_in_deploy_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "agent.example.toml"
    # The CA file it names exists only on a real gateway.
    text = example.read_text().replace('ca_file = "/etc/isanfarm/ca.pem"', "tls = true")
    config = load_config(write(tmp_path, text), {})
    assert [s.driver for s in config.sensors] == ["ds18b20", "modbus"]
    assert config.mqtt.uses_tls
    for driver in build_drivers(config):  # option errors surface here, without hardware
        driver.close()
