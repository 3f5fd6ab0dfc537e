"""The API's HTTP manners (issue 17, defects 4-8): 405 with `Allow`, 415 for bodies that are not
JSON, 400 for a body that does not parse, times in ISO 8601 only, a body-size limit, a `/health`
that tells strangers nothing about the internals, no outside validator in `/docs`, and an
OpenAPI description that lists each of these answers where it happens."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from isanfarm.influx import InfluxV1
from isanfarm.settings import InfluxSettings, MqttSettings
from tests.api_world import World, seed
from tooling.services import LocalMosquitto, free_port

pytestmark = pytest.mark.integration
TELEMETRY = "/v1/fields/coop-a-farm1-f1/telemetry"
FARM = {"id": "coop-a-farm9", "name": "New member"}


def _settings(mosquitto: LocalMosquitto, influx: InfluxV1, url: str, **extra: Any) -> ApiSettings:
    return ApiSettings(
        mqtt=MqttSettings(port=mosquitto.port), influx=influx.settings, database_url=url, **extra
    )


@pytest.fixture
def api(
    mosquitto: LocalMosquitto, influx: InfluxV1, sqlite_registry: str
) -> Iterator[tuple[TestClient, World]]:
    app = create_app(_settings(mosquitto, influx, sqlite_registry, max_body_bytes=4096))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, seed(app)


@pytest.fixture
def spec(api: tuple[TestClient, World]) -> dict[str, Any]:
    document: dict[str, Any] = api[0].get("/openapi.json").json()
    return document


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


# ---- 405 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v1/farms", {"GET", "POST"}),
        ("PUT", "/v1/farms/coop-a-farm1", {"GET"}),
        ("GET", "/v1/alerts/1/acknowledge", {"POST"}),
        ("POST", "/health", {"GET"}),
        ("POST", "/static/swagger/swagger-ui.css", {"GET"}),
    ],
)
def test_a_405_lists_the_methods_the_path_allows(
    api: tuple[TestClient, World], method: str, path: str, allowed: set[str]
) -> None:
    client, world = api
    response = client.request(method, path, headers=world.auth("a-admin"))
    _problem(response, 405)
    listed = {m.strip() for m in response.headers["allow"].split(",")}
    assert listed - {"HEAD"} == allowed


# ---- 415 and 400 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("text/plain", json.dumps(FARM)),
        ("application/x-www-form-urlencoded", "id=coop-a-farm9&name=New+member"),
        ("application/xml", "<farm/>"),
    ],
)
def test_a_body_that_is_not_json_is_a_415(
    api: tuple[TestClient, World], content_type: str, content: str
) -> None:
    client, world = api
    response = client.post(
        "/v1/farms",
        content=content,
        headers={**world.auth("a-admin"), "Content-Type": content_type},
    )
    assert "application/json" in _problem(response, 415)["detail"]
    assert client.get("/v1/farms/coop-a-farm9", headers=world.auth("a-admin")).status_code == 404


def test_json_with_a_charset_or_a_json_suffix_is_accepted(api: tuple[TestClient, World]) -> None:
    client, world = api
    for n, content_type in enumerate(("application/json; charset=utf-8", "application/x+json")):
        response = client.post(
            "/v1/farms",
            content=json.dumps({**FARM, "id": f"coop-a-farm9{n}"}),
            headers={**world.auth("a-admin"), "Content-Type": content_type},
        )
        assert response.status_code == 201, response.text


@pytest.mark.parametrize("content", [b'{"id": "coop-a-farm9",', b"\xff\xfe{}", b"{'id': 1}"])
def test_a_body_that_does_not_parse_is_a_400(api: tuple[TestClient, World], content: bytes) -> None:
    client, world = api
    response = client.post(
        "/v1/farms",
        content=content,
        headers={**world.auth("a-admin"), "Content-Type": "application/json"},
    )
    assert _problem(response, 400)["field"] == "body"


def test_a_body_that_parses_but_is_wrong_stays_a_422(api: tuple[TestClient, World]) -> None:
    client, world = api
    response = client.post("/v1/farms", json={"id": "x"}, headers=world.auth("a-admin"))
    assert _problem(response, 422)["field"].startswith("body")


# ---- time parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameter", "value"),
    [("start", "0.5"), ("end", "1767225600"), ("start", "yesterday"), ("end", "2026-11-01")],
)
def test_a_time_that_is_not_iso_8601_is_refused_naming_the_parameter(
    api: tuple[TestClient, World], parameter: str, value: str
) -> None:
    client, world = api
    response = client.get(TELEMETRY, params={parameter: value}, headers=world.auth("a-read"))
    body = _problem(response, 422)
    assert body["field"] == f"query.{parameter}"
    assert "ISO 8601" in body["detail"]
    assert "2026-11-01T00:00:00Z" in body["detail"]


@pytest.mark.parametrize(
    "start", ["2026-11-01T00:00:00Z", "2026-11-01T07:00:00+07:00", "2026-11-01T00:00:00.250"]
)
def test_iso_8601_times_are_accepted(api: tuple[TestClient, World], start: str) -> None:
    client, world = api
    response = client.get(
        TELEMETRY,
        params={"start": start, "end": "2026-11-02T00:00:00Z", "resolution": "raw"},
        headers=world.auth("a-read"),
    )
    assert response.status_code == 200, response.text


def test_start_not_before_end_is_a_422_naming_start(api: tuple[TestClient, World]) -> None:
    client, world = api
    response = client.get(
        TELEMETRY,
        params={"start": "2026-11-02T00:00:00Z", "end": "2026-11-02T00:00:00Z"},
        headers=world.auth("a-read"),
    )
    body = _problem(response, 422)
    assert (body["field"], body["detail"]) == ("query.start", "query.start: must be before end")


# ---- body size ------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_a_413_and_nothing_is_stored(
    api: tuple[TestClient, World],
) -> None:
    client, world = api
    big = {**FARM, "district": "x" * 5000}
    response = client.post("/v1/farms", json=big, headers=world.auth("a-admin"))
    assert "4096" in _problem(response, 413)["detail"]
    assert client.get("/v1/farms/coop-a-farm9", headers=world.auth("a-admin")).status_code == 404


def test_a_chunked_body_over_the_limit_is_a_413(api: tuple[TestClient, World]) -> None:
    """No Content-Length to trust: the bytes are counted as they arrive."""
    client, world = api

    def chunks() -> Iterator[bytes]:
        yield b'{"id": "coop-a-farm9", "name": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    response = client.post(
        "/v1/farms",
        content=chunks(),
        headers={**world.auth("a-admin"), "Content-Type": "application/json"},
    )
    _problem(response, 413)


def test_a_10_mb_body_is_refused_by_default(
    mosquitto: LocalMosquitto, influx: InfluxV1, sqlite_registry: str
) -> None:
    app = create_app(_settings(mosquitto, influx, sqlite_registry))
    with TestClient(app, raise_server_exceptions=False) as client:
        world = seed(app)
        big = {**FARM, "district": "x" * 10_000_000}
        response = client.post("/v1/farms", json=big, headers=world.auth("a-admin"))
    _problem(response, 413)


def test_the_body_limit_is_a_setting_that_refuses_nonsense() -> None:
    assert ApiSettings(max_body_bytes=2048).max_body_bytes == 2048
    with pytest.raises(ValueError, match="max_body_bytes"):
        ApiSettings(max_body_bytes=0)


# ---- /health --------------------------------------------------------------------------------


def test_health_without_a_key_names_no_internal_address(
    mosquitto: LocalMosquitto, influx: InfluxV1, tmp_path: Any
) -> None:
    registry = tmp_path / "secret-registry.sqlite3"
    app = create_app(_settings(mosquitto, influx, f"sqlite:///{registry}"))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/health")
    assert response.status_code == 200
    text = response.text
    for internal in (str(registry), "secret-registry", str(mosquitto.port), influx.settings.url):
        assert internal not in text
    assert "127.0.0.1" not in text
    assert "address" not in text
    assert response.json()["status"] == "ok"


def test_the_detailed_health_report_needs_an_operator_key(api: tuple[TestClient, World]) -> None:
    client, world = api
    _problem(client.get("/health/dependencies"), 401)
    _problem(client.get("/health/dependencies", headers=world.auth("a-admin")), 403)
    report = client.get("/health/dependencies", headers=world.auth("operator"))
    assert report.status_code == 200
    body = report.json()
    assert body["status"] == "ok"
    assert body["registry"]["reachable"]
    assert body["registry"]["address"].startswith("sqlite:")
    assert body["database"]["address"].startswith("http://127.0.0.1:")


def test_health_is_a_503_of_the_documented_shape_while_a_dependency_is_away(
    mosquitto: LocalMosquitto, sqlite_registry: str
) -> None:
    settings = ApiSettings(
        mqtt=MqttSettings(port=mosquitto.port),
        influx=InfluxSettings(url=f"http://127.0.0.1:{free_port()}"),
        database_url=sqlite_registry,
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        world = seed(app)
        open_ = client.get("/health")
        detailed = client.get("/health/dependencies", headers=world.auth("operator"))
        spec = client.get("/openapi.json").json()
    assert (open_.status_code, open_.headers["content-type"]) == (503, "application/json")
    assert open_.json()["status"] == "degraded"
    assert not open_.json()["database"]["reachable"]
    assert "127.0.0.1" not in open_.text
    assert detailed.status_code == 503
    assert detailed.json()["status"] == "degraded"
    open_answers = spec["paths"]["/health"]["get"]["responses"]
    assert open_answers["503"]["content"] == open_answers["200"]["content"]
    assert set(open_answers["200"]["content"]) == {"application/json"}
    keyed = spec["paths"]["/health/dependencies"]["get"]["responses"]
    # Its own report once the key was checked; a problem when the registry cannot check it.
    assert set(keyed["503"]["content"]) == {"application/json", "application/problem+json"}
    assert (
        keyed["503"]["content"]["application/json"] == keyed["200"]["content"]["application/json"]
    )


# ---- /docs and the OpenAPI description -------------------------------------------------------


def test_the_docs_page_sends_the_spec_to_no_outside_validator(
    api: tuple[TestClient, World],
) -> None:
    page = api[0].get("/docs").text
    assert '"validatorUrl": null' in page


def _responses(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    answers: dict[str, Any] = spec["paths"][path][method]["responses"]
    return answers


def test_the_spec_lists_400_413_and_415_on_every_operation_with_a_body(
    spec: dict[str, Any],
) -> None:
    with_body = [
        (method, path)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    ]
    assert ("post", "/v1/farms") in with_body
    assert ("post", "/v1/fields") in with_body
    for method, path in with_body:
        answers = _responses(spec, method, path)
        assert {"400", "413", "415", "422"} <= set(answers), (method, path)
        assert set(answers["415"]["content"]) == {"application/problem+json"}
    bodiless = _responses(spec, "get", "/v1/farms")
    assert not {"400", "413", "415"} & set(bodiless)


def test_the_spec_describes_time_parameters_as_iso_8601_and_start_before_end(
    spec: dict[str, Any],
) -> None:
    operation = spec["paths"][TELEMETRY.replace("coop-a-farm1-f1", "{field_id}")]["get"]
    start = next(p for p in operation["parameters"] if p["name"] == "start")
    assert "ISO 8601" in start["description"]
    assert "pattern" in json.dumps(start["schema"])
    assert "start" in operation["responses"]["422"]["description"]
