"""Server settings come from ISANFARM_ variables with the names the README documents."""

from __future__ import annotations

import pytest

from api.settings import ApiSettings
from ingest.settings import IngestSettings


def test_ingest_reads_its_documented_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "ISANFARM_MQTT_HOST": "broker.coop",
        "ISANFARM_MQTT_PORT": "8883",
        "ISANFARM_MQTT_PASSWORD": "s3cret",
        "ISANFARM_INFLUX_URL": "http://influx:8086",
        "ISANFARM_INFLUX_TOKEN": "tok",
        "ISANFARM_TOPIC_FILTER": "isanfarm/v1/korat-001/#",
        "ISANFARM_CLIENT_ID": "ingest-a",
        "ISANFARM_BATCH_SIZE": "50",
        "ISANFARM_MAX_IN_FLIGHT": "100",
    }.items():
        monkeypatch.setenv(name, value)
    settings = IngestSettings()
    assert (settings.mqtt.host, settings.mqtt.port) == ("broker.coop", 8883)
    assert settings.mqtt.password is not None
    assert settings.mqtt.password.get_secret_value() == "s3cret"
    assert settings.influx.url == "http://influx:8086"
    assert settings.influx.token is not None
    assert settings.topic_filter == "isanfarm/v1/korat-001/#"
    assert (settings.client_id, settings.batch_size, settings.max_in_flight) == (
        "ingest-a",
        50,
        100,
    )


def test_the_api_reads_its_listen_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISANFARM_PORT", "9000")
    monkeypatch.setenv("ISANFARM_INFLUX_DATABASE", "coop")
    settings = ApiSettings()
    assert (settings.port, settings.influx.database) == (9000, "coop")


def test_a_wrong_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISANFARM_MQTT_PORT", "seventy")
    with pytest.raises(ValueError, match=r"mqtt\.port"):
        IngestSettings()
