"""The API's health check and its error shape, against the real servers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from isanfarm.influx import InfluxV1
from isanfarm.services import LocalMosquitto, free_port
from isanfarm.settings import InfluxSettings, MqttSettings

pytestmark = pytest.mark.integration


def test_health_is_ok_when_broker_and_database_answer(
    mosquitto: LocalMosquitto, influx: InfluxV1
) -> None:
    settings = ApiSettings(mqtt=MqttSettings(port=mosquitto.port), influx=influx.settings)
    with TestClient(create_app(settings)) as api:
        response = api.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_health_names_what_is_unreachable_with_503(mosquitto: LocalMosquitto) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    settings = ApiSettings(
        mqtt=MqttSettings(port=mosquitto.port), influx=InfluxSettings(url=nowhere)
    )
    with TestClient(create_app(settings)) as api:
        response = api.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["broker"]["reachable"] is True
    assert body["database"] == {"reachable": False, "address": nowhere}


def test_errors_are_problem_details_naming_the_field(
    mosquitto: LocalMosquitto, influx: InfluxV1
) -> None:
    settings = ApiSettings(mqtt=MqttSettings(port=mosquitto.port), influx=influx.settings)
    with TestClient(create_app(settings)) as api:
        unknown = api.get("/v1/devices/never-seen/latest")
        invalid = api.get("/v1/devices/Bad%20Id/latest")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["detail"] == "no readings stored for device 'never-seen'"
    assert invalid.status_code == 422
    assert invalid.json()["field"] == "path.device_id"


def test_a_database_outage_is_a_503_without_internals(mosquitto: LocalMosquitto) -> None:
    settings = ApiSettings(
        mqtt=MqttSettings(port=mosquitto.port),
        influx=InfluxSettings(url=f"http://127.0.0.1:{free_port()}"),
    )
    with TestClient(create_app(settings)) as api:
        response = api.get("/v1/devices/f01-node/latest")
    assert response.status_code == 503
    assert response.json()["title"] == "Database unavailable"
    assert "127.0.0.1" not in response.text
