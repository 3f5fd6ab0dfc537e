"""``isanfarm devices``: the broker's password format, the naming rule, the agent's [mqtt]
section; and the shipped broker files: TLS for devices, plain 1883 for the compose network only."""

from __future__ import annotations

import base64
import dataclasses
import re
import tomllib

import pytest
import yaml

from edge.config import MqttConfig
from isanfarm.contract import ContractError
from tests.helpers import ROOT
from tooling import devices


def test_the_password_hash_is_the_one_mosquitto_passwd_writes() -> None:
    """The entry ``mosquitto_passwd -b FILE korat-001/f01-node secret`` wrote (Mosquitto 2.0.11),
    recomputed from its salt."""
    made = (
        "$7$101$uplPJKU5IDo/Ql0+$0e0iM1swrEWwBJ6u+0h2dssstQoKYK/D8nxa24uOS+Vu9pO76w/Uc+bgCvY3E1S"
        "nEY/tt9cjU/o1JTQlauUovw=="
    )
    salt = base64.b64decode(made.split("$")[3])
    assert devices.password_hash("secret", salt) == made
    assert devices.password_hash("secret") != devices.password_hash("secret")  # own salt each


def test_a_devices_username_is_the_acl_naming_rule() -> None:
    assert devices.broker_username("korat-001", "f01-node") == "korat-001/f01-node"
    acl = (ROOT / "deploy" / "mosquitto.acl").read_text()
    assert "pattern write isanfarm/v1/%u/telemetry" in acl
    with pytest.raises(ContractError, match="device_id"):
        devices.broker_username("korat-001", "F01/node")


def test_the_printed_section_is_the_agents_mqtt_config() -> None:
    login = devices.DeviceLogin("korat-001/f01-node", password="pw-1")
    section = tomllib.loads(devices.mqtt_section("mqtt.example.org", login))["mqtt"]
    assert section == {
        "host": "mqtt.example.org",
        "port": 8883,
        "tls": True,
        "ca_file": "ca.crt",
        "username": "korat-001/f01-node",
        "password": "pw-1",
    }
    assert section.keys() <= {f.name for f in dataclasses.fields(MqttConfig)}


def test_the_compose_broker_publishes_tls_ports_only() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    broker = compose["services"]["mosquitto"]
    published = {str(port).rsplit(":", 1)[-1] for port in broker["ports"]}
    assert published == {"8883", "8884"}
    mounted = " ".join(broker["volumes"])
    assert "ca.key" not in mounted, "the CA's key must stay on the host"
    for service in ("ingest", "simulate"):
        environment = compose["services"][service]["environment"]
        port = (
            environment.get("ISANFARM_MQTT_PORT") or compose["x-server-env"]["ISANFARM_MQTT_PORT"]
        )
        assert port == "1883", f"{service} uses the internal listener"


def test_the_shipped_broker_config_has_the_tls_listeners() -> None:
    text = (ROOT / "deploy" / "mosquitto.conf").read_text()
    listeners = re.findall(r"^listener (\d+)$", text, flags=re.MULTILINE)
    assert listeners == ["1883", "8883", "8884"]
    blocks = re.split(r"^listener ", text, flags=re.MULTILINE)
    assert "certfile" not in blocks[1]
    assert "certfile /mosquitto/secrets/server.crt" in blocks[2]
    assert "require_certificate true" in blocks[3]
    assert "use_identity_as_username true" in blocks[3]
    assert "allow_anonymous false" in text
