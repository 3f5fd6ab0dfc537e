"""The cooperative API against real databases: the registry on SQLite and on PostgreSQL (a
private server), time series in a real InfluxDB. Two cooperatives; every endpoint is checked
for what one cooperative's key can see and change of the other's."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.alerts import evaluate
from api.main import create_app
from api.settings import ApiSettings
from ingest.points import status_line, telemetry_line
from isanfarm import storage
from isanfarm.contract import DeviceStatus, Telemetry
from isanfarm.influx import InfluxV1
from isanfarm.settings import InfluxSettings, MqttSettings
from registry.db import SchemaNotCurrentError, make_engine, migrate
from registry.importer import RegistryImportError, import_csv
from tests.api_world import World, seed, write_forecasts
from tests.registry_databases import database_urls
from tooling.services import LocalMosquitto, free_port

pytestmark = pytest.mark.integration
NOW_MS = __import__("time").time_ns() // 1_000_000


@pytest.fixture(params=database_urls())
def api_settings(
    request: pytest.FixtureRequest, mosquitto: LocalMosquitto, influx: InfluxV1
) -> ApiSettings:
    url: str = request.getfixturevalue(request.param)
    return ApiSettings(
        mqtt=MqttSettings(port=mosquitto.port), influx=influx.settings, database_url=url
    )


@pytest.fixture
def client(api_settings: ApiSettings) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def world(client: TestClient, influx: InfluxV1) -> World:
    world = seed(client.app)  # type: ignore[arg-type]
    for coop in ("coop-a", "coop-b"):
        farm = f"{coop}-farm1"
        influx.write(
            [
                telemetry_line(
                    Telemetry(
                        farm,
                        f"{farm}-fnode",
                        1,
                        NOW_MS - 60_000,
                        {"soil_moisture_30cm": 5.0, "battery_voltage": 12.6},
                        f"{farm}-f1",
                    ),
                    NOW_MS,
                ),
                telemetry_line(
                    Telemetry(
                        farm,
                        f"{farm}-bnode",
                        1,
                        NOW_MS - 60_000,
                        {"air_temperature": 35.0, "relative_humidity": 70.0},
                        f"{farm}-h1",
                    ),
                    NOW_MS,
                ),
                status_line(DeviceStatus(farm, f"{farm}-fnode", "online", NOW_MS), NOW_MS * 10**6),
            ]
        )
        write_forecasts(influx, coop)
    return world


B_RESOURCES = [
    "/v1/cooperatives/coop-b",
    "/v1/farms/coop-b-farm1",
    "/v1/fields/coop-b-farm1-f1",
    "/v1/fields/coop-b-farm1-f1/telemetry?resolution=raw",
    "/v1/fields/coop-b-farm1-f1/forecast",
    "/v1/herds/coop-b-farm1-h1",
    "/v1/herds/coop-b-farm1-h1/telemetry?resolution=raw",
    "/v1/herds/coop-b-farm1-h1/forecast",
    "/v1/animals/coop-b-farm1-cow1",
    "/v1/devices/coop-b-farm1-fnode",
    "/v1/devices/coop-b-farm1-fnode/latest",
    "/v1/cooperatives/coop-b/summary",
    "/v1/cooperatives/coop-b/harvest-plan",
]


@pytest.mark.parametrize("path", B_RESOURCES)
def test_a_cooperative_cannot_read_anything_of_another_and_cannot_tell_it_exists(
    client: TestClient, world: World, path: str
) -> None:
    assert client.get(path, headers=world.auth("b-admin")).status_code == 200
    foreign = client.get(path, headers=world.auth("a-admin"))
    unknown = client.get(path.replace("coop-b", "coop-z"), headers=world.auth("a-admin"))
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.headers["content-type"] == "application/problem+json"
    assert set(foreign.json()) == {"type", "title", "status", "detail", "field"}


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/v1/cooperatives", "id"),
        ("/v1/farms", "cooperative_id"),
        ("/v1/fields", "cooperative_id"),
        ("/v1/herds", "cooperative_id"),
        ("/v1/animals", "cooperative_id"),
        ("/v1/devices", "cooperative_id"),
    ],
)
def test_lists_hold_only_the_callers_cooperative_and_everything_for_the_operator(
    client: TestClient, world: World, path: str, key: str
) -> None:
    own = client.get(path, headers=world.auth("a-read")).json()
    assert own["total"] == len(own["items"]) > 0
    assert {item[key] for item in own["items"]} == {"coop-a"}
    everyone = client.get(path, headers=world.auth("operator")).json()
    assert {item[key] for item in everyone["items"]} == {"coop-a", "coop-b"}


def test_a_cooperative_cannot_write_into_another(client: TestClient, world: World) -> None:
    field = {
        "id": "coop-a-f9",
        "farm_id": "coop-b-farm1",
        "name": "x",
        "area_rai": 3,
        "variety": "KU50",
        "planting_date": "2026-05-01",
        "soil": "loamy_sand",
    }
    assert client.post("/v1/fields", json=field, headers=world.auth("a-admin")).status_code == 404
    farm = {"id": "coop-a-f9", "cooperative_id": "coop-b", "name": "x"}
    assert client.post("/v1/farms", json=farm, headers=world.auth("a-admin")).status_code == 404
    b_alert = _raise_alerts(client, "coop-b")
    ack = client.post(f"/v1/alerts/{b_alert}/acknowledge", headers=world.auth("a-admin"))
    assert ack.status_code == 404
    assert client.get("/v1/fields/coop-a-f9", headers=world.auth("operator")).status_code == 404


def test_keys_are_required_and_read_keys_cannot_change_anything(
    client: TestClient, world: World
) -> None:
    assert client.get("/v1/farms").status_code == 401
    bad = client.get("/v1/farms", headers={"Authorization": "Bearer isf_0000_nope"})
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"] == "Bearer"
    farm = {"id": "coop-a-farm2", "name": "New member"}
    assert client.post("/v1/farms", json=farm, headers=world.auth("a-read")).status_code == 403
    created = client.post("/v1/farms", json=farm, headers=world.auth("a-admin"))
    assert created.status_code == 201
    assert created.json()["cooperative_id"] == "coop-a"


def test_a_cooperative_creates_ids_in_its_own_namespace(client: TestClient, world: World) -> None:
    outside = client.post(
        "/v1/farms", json={"id": "farm-x", "name": "x"}, headers=world.auth("a-admin")
    )
    assert outside.status_code == 422
    assert outside.json()["field"] == "id"
    again = client.post(
        "/v1/farms", json={"id": "coop-a-farm1", "name": "x"}, headers=world.auth("a-admin")
    )
    assert again.status_code == 409


def test_fields_show_area_in_rai_and_hectares(client: TestClient, world: World) -> None:
    field = client.get("/v1/fields/coop-a-farm1-f1", headers=world.auth("a-read")).json()
    assert (field["area_rai"], field["area_ha"]) == (25.0, 4.0)


def test_device_status_and_latest_readings(client: TestClient, world: World) -> None:
    device = client.get("/v1/devices/coop-a-farm1-fnode", headers=world.auth("a-read")).json()
    assert device["status"]["online"] is True
    assert device["status"]["battery_v"] == 12.6
    silent = client.get("/v1/devices/coop-a-farm1-bnode", headers=world.auth("a-read")).json()
    assert silent["status"]["online"] is None
    latest = client.get("/v1/devices/coop-a-farm1-fnode/latest", headers=world.auth("a-read"))
    readings = {r["sensor"]: r for r in latest.json()["readings"]}
    assert readings["soil_moisture_30cm"]["value"] == 5.0
    assert readings["soil_moisture_30cm"]["unit"] == "%VWC"


def test_field_forecast_harvest_plan_and_weekly_summary(client: TestClient, world: World) -> None:
    auth = world.auth("a-read")
    forecast = client.get("/v1/fields/coop-a-farm1-f1/forecast", headers=auth).json()
    candidates = forecast["candidates"]
    assert [c["yield_t_ha"] for c in candidates] == [30.0, 32.0, 33.0]
    assert candidates[1]["yield_t_rai"] == pytest.approx(32.0 / 6.25, abs=0.001)
    assert forecast["model_version"] == "test-1"
    (plan,) = client.get("/v1/cooperatives/coop-a/harvest-plan", headers=auth).json()
    assert plan["recommended_date"] == candidates[1]["harvest_date"]
    assert (plan["window_start"], plan["window_end"]) == (
        candidates[1]["harvest_date"],
        candidates[2]["harvest_date"],
    )
    (week,) = client.get("/v1/cooperatives/coop-a/summary", headers=auth).json()["weeks"]
    assert (week["tonnes"], week["mean_starch_pct"], week["fields"]) == (128.0, 26.5, 1)
    (animal,) = client.get("/v1/herds/coop-a-farm1-h1/forecast", headers=auth).json()
    assert (animal["animal_id"], animal["days_to_target"]) == ("coop-a-farm1-cow1", 120)


def test_csv_export_holds_the_callers_fields_only(client: TestClient, world: World) -> None:
    response = client.get("/v1/forecasts.csv", headers=world.auth("a-read"))
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {row["field_id"] for row in rows} == {"coop-a-farm1-f1"}
    assert len(rows) == 3


def _raise_alerts(client: TestClient, coop: str) -> int:
    app = client.app
    settings: ApiSettings = app.state.settings  # type: ignore[attr-defined]
    with app.state.sessions() as session, session.begin():  # type: ignore[attr-defined]
        evaluate(session, app.state.influx, settings.offline_after_s)  # type: ignore[attr-defined]
    operator_view = client.get(
        "/v1/alerts",
        params={"kind": "soil_dry", "farm_id": f"{coop}-farm1"},
        headers={"Authorization": f"Bearer {_operator_key(client)}"},
    ).json()
    return int(operator_view["items"][0]["id"])


def _operator_key(client: TestClient) -> str:
    from registry.keys import create_key

    with client.app.state.sessions() as session, session.begin():  # type: ignore[attr-defined]
        return create_key(session, None, "read", "test operator")


def test_alerts_are_raised_once_listed_per_cooperative_and_acknowledged(
    client: TestClient, world: World
) -> None:
    alert_id = _raise_alerts(client, "coop-a")
    _raise_alerts(client, "coop-a")  # evaluating again raises nothing new
    alerts = client.get("/v1/alerts", headers=world.auth("a-read")).json()["items"]
    kinds = sorted((a["kind"], a["subject"]) for a in alerts)
    assert kinds == [
        ("device_offline", "coop-a-farm1-bnode"),
        ("heat_stress", "coop-a-farm1-h1"),
        ("soil_dry", "coop-a-farm1-f1"),
    ]
    assert (
        client.post(f"/v1/alerts/{alert_id}/acknowledge", headers=world.auth("a-read")).status_code
        == 403
    )
    acked = client.post(f"/v1/alerts/{alert_id}/acknowledge", headers=world.auth("a-admin"))
    assert acked.json()["acknowledged_by"] == "a admin"
    still_open = client.get("/v1/alerts", headers=world.auth("a-read")).json()["items"]
    assert alert_id not in {a["id"] for a in still_open}


def test_telemetry_raw_for_a_field(client: TestClient, world: World) -> None:
    body = client.get(
        "/v1/fields/coop-a-farm1-f1/telemetry",
        params={"resolution": "raw"},
        headers=world.auth("a-read"),
    ).json()
    (point,) = body["points"]
    assert point["values"]["soil_moisture_30cm"] == 5.0
    assert body["units"]["soil_moisture_30cm"] == "%VWC"
    wrong = client.get(
        "/v1/fields/coop-a-farm1-f1/telemetry",
        params={"start": "2026-11-02T00:00:00Z", "end": "2026-11-01T00:00:00Z"},
        headers=world.auth("a-read"),
    )
    assert wrong.status_code == 422


def test_health_reports_every_dependency(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["registry"]["reachable"]
    assert body["database"]["reachable"]


def test_a_database_outage_is_a_503_without_internals(
    mosquitto: LocalMosquitto, tmp_path: Path
) -> None:
    settings = ApiSettings(
        mqtt=MqttSettings(port=mosquitto.port),
        influx=InfluxSettings(url=f"http://127.0.0.1:{free_port()}"),
        database_url=f"sqlite:///{tmp_path}/registry.sqlite3",
    )
    with TestClient(create_app(settings)) as api:
        world = seed(api.app)  # type: ignore[arg-type]
        assert api.get("/health").status_code == 503
        response = api.get("/v1/devices/coop-a-farm1-fnode/latest", headers=world.auth("a-read"))
    assert response.status_code == 503
    assert "127.0.0.1" not in response.text


def test_csv_import_reports_every_bad_row_and_imports_nothing(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    rows = (
        "id,farm_id,name,area_rai,variety,planting_date,soil\n"
        "coop-a-f2,coop-a-farm1,South plot,12.5,KU50,2026-05-01,loamy_sand\n"
        "coop-a-f3,coop-a-farm1,East plot,-3,KU50,2026-05-01,loamy_sand\n"
        "coop-a-f4,coop-z-farm9,West plot,8,R72,2026-13-01,sandy_loam\n"
    )
    path = tmp_path / "fields.csv"
    path.write_text(rows)
    sessions = client.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as session, session.begin(), pytest.raises(RegistryImportError) as caught:
        import_csv(session, "fields", path)
    problems = caught.value.problems
    assert problems[0].startswith("fields.csv row 3, column area_rai:")
    assert any(p.startswith("fields.csv row 4, column planting_date:") for p in problems)
    assert client.get("/v1/fields/coop-a-f2", headers=world.auth("a-read")).status_code == 404
    path.write_text(rows.splitlines()[0] + "\n" + rows.splitlines()[1] + "\n")
    with client.app.state.sessions() as session, session.begin():  # type: ignore[attr-defined]
        assert import_csv(session, "fields", path) == 1
    assert client.get("/v1/fields/coop-a-f2", headers=world.auth("a-read")).status_code == 200


def test_the_docs_page_needs_no_internet(client: TestClient) -> None:
    page = client.get("/docs").text
    assert "/static/swagger/swagger-ui-bundle.js" in page
    assert "cdn." not in page
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "isanfarm API"


def test_every_schema_in_the_openapi_description_carries_examples(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]

    def has_examples(schema: dict[str, object]) -> bool:
        properties = schema.get("properties", {})
        assert isinstance(properties, dict)
        return "examples" in schema or any("examples" in p for p in properties.values())

    assert [name for name, schema in schemas.items() if not has_examples(schema)] == []


def test_without_migrate_on_start_an_outdated_registry_is_refused_until_migrated(
    api_settings: ApiSettings,
) -> None:
    """Several API processes on one database leave the upgrade to `isanfarm registry
    migrate` and refuse a schema they do not know, rather than all upgrading at once."""
    replica = api_settings.model_copy(update={"migrate_on_start": False})
    with pytest.raises(SchemaNotCurrentError, match="isanfarm registry migrate"):
        create_app(replica)
    engine = make_engine(api_settings.database_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    with TestClient(create_app(replica)) as replica_client:
        assert replica_client.get("/health").status_code == 200


def test_migrate_says_in_one_line_that_it_upgraded_and_nothing_when_current(
    api_settings: ApiSettings, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(api_settings.database_url)
    try:
        with caplog.at_level(logging.INFO):
            migrate(engine)
            upgraded = [r.getMessage() for r in caplog.records if r.name == "registry.db"]
            caplog.clear()
            migrate(engine)
            again = [r.getMessage() for r in caplog.records if r.name == "registry.db"]
    finally:
        engine.dispose()
    assert len(upgraded) == 1
    assert upgraded[0].startswith("registry schema upgraded from empty to ")
    assert again == []


def test_a_device_on_another_farm_cannot_write_into_this_farms_data(
    client: TestClient, influx: InfluxV1
) -> None:
    """The farm tag comes from the topic (the broker's ACL ties it to the device's login);
    ``site`` and the device id are whatever a payload says. Cooperative B's devices, on their
    own farm's topics, name A's field as their site and A's device id as their own."""
    world = seed(client.app)  # type: ignore[arg-type]
    b_farm = "coop-b-farm1"
    claims_a_field = Telemetry(
        b_farm, "b-probe", 1, NOW_MS - 60_000, {"soil_moisture_30cm": 3.0}, "coop-a-farm1-f1"
    )
    claims_a_device = Telemetry(
        b_farm, "coop-a-farm1-fnode", 1, NOW_MS - 30_000, {"battery_voltage": 3.1}, "b-site"
    )
    influx.write(
        [
            telemetry_line(claims_a_field, NOW_MS),
            telemetry_line(claims_a_device, NOW_MS),
            status_line(
                DeviceStatus(b_farm, "coop-a-farm1-fnode", "online", NOW_MS), NOW_MS * 10**6
            ),
        ]
    )
    auth = world.auth("a-read")
    field = client.get(
        "/v1/fields/coop-a-farm1-f1/telemetry", params={"resolution": "raw"}, headers=auth
    )
    assert field.json()["points"] == []
    assert client.get("/v1/devices/coop-a-farm1-fnode/latest", headers=auth).status_code == 404
    device = client.get("/v1/devices/coop-a-farm1-fnode", headers=auth).json()
    assert device["status"] == {
        "online": None,
        "last_seen": None,
        "outbox_depth": None,
        "battery_v": None,
    }
    with client.app.state.sessions() as session, session.begin():  # type: ignore[attr-defined]
        raised = evaluate(session, client.app.state.influx, 3600)  # type: ignore[attr-defined]
        assert [a.subject for a in raised if a.kind == "soil_dry"] == []


def test_of_two_forecast_runs_the_same_day_only_the_newest_is_served(
    client: TestClient, world: World, influx: InfluxV1
) -> None:
    """A retrained model pinned after the daily job, or a run by hand: both runs share the
    day's ``issued`` tag; the newer ``issued_at_ms`` wins, never a mix of the two."""
    rerun = [(20.0, 25.0, 120_000.0), (21.0, 25.5, 125_000.0), (22.0, 25.0, 124_000.0)]
    # After the world's own run, written at the real time the world was seeded (NOW_MS is the
    # module's import time: on a slow run the world's run would be the newer one).
    later_ms = __import__("time").time_ns() // 1_000_000 + 60_000
    write_forecasts(influx, "coop-a", "test-2", rerun, issued_at_ms=later_ms)
    auth = world.auth("a-read")
    forecast = client.get("/v1/fields/coop-a-farm1-f1/forecast", headers=auth).json()
    assert forecast["model_version"] == "test-2"
    assert [c["yield_t_ha"] for c in forecast["candidates"]] == [20.0, 21.0, 22.0]
    rows = list(csv.DictReader(io.StringIO(client.get("/v1/forecasts.csv", headers=auth).text)))
    assert [(r["model_version"], r["yield_t_ha"]) for r in rows] == [
        ("test-2", "20.0"),
        ("test-2", "21.0"),
        ("test-2", "22.0"),
    ]


def test_the_harvest_plan_follows_the_forecast_jobs_mark(
    client: TestClient, world: World, influx: InfluxV1
) -> None:
    """The API reads which candidate is best (storage.BEST_HARVEST); it does not choose again.
    A run marked on a candidate that is not the highest revenue proves it reads the mark."""
    later_ms = __import__("time").time_ns() // 1_000_000 + 60_000
    write_forecasts(influx, "coop-a", "test-2", issued_at_ms=later_ms, best=2)
    auth = world.auth("a-read")
    candidates = client.get("/v1/fields/coop-a-farm1-f1/forecast", headers=auth).json()[
        "candidates"
    ]
    (plan,) = client.get("/v1/cooperatives/coop-a/harvest-plan", headers=auth).json()
    assert plan["recommended_date"] == candidates[2]["harvest_date"]
    assert plan["revenue_thb"] == candidates[2]["revenue_thb"] == 182_000.0


def test_a_run_without_the_best_harvest_mark_is_served_but_left_out_of_the_plan(
    client: TestClient, world: World, influx: InfluxV1
) -> None:
    """A run written before the forecast job marked its choice: the API does not choose."""
    later_ms = __import__("time").time_ns() // 1_000_000 + 60_000
    write_forecasts(influx, "coop-a", "test-3", issued_at_ms=later_ms, marked=False)
    auth = world.auth("a-read")
    forecast = client.get("/v1/fields/coop-a-farm1-f1/forecast", headers=auth).json()
    assert forecast["model_version"] == "test-3"
    assert client.get("/v1/cooperatives/coop-a/harvest-plan", headers=auth).json() == []


def test_raw_telemetry_over_the_limit_holds_the_newest_points_and_says_it_was_cut(
    client: TestClient, world: World, influx: InfluxV1, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("api.timeseries.MAX_RAW_POINTS", 5)
    readings = [
        Telemetry(
            "coop-a-farm1",
            "coop-a-farm1-fnode",
            seq,
            NOW_MS - (12 - seq) * 60_000,
            {"soil_moisture_30cm": float(seq)},
            "coop-a-farm1-f1",
        )
        for seq in range(2, 10)  # 10 to 3 minutes ago; the world's is 1 minute ago: 9 points
    ]
    influx.write([telemetry_line(reading, NOW_MS) for reading in readings])
    path = "/v1/fields/coop-a-farm1-f1/telemetry"
    body = client.get(path, params={"resolution": "raw"}, headers=world.auth("a-read")).json()
    assert body["truncated"] is True
    assert [p["values"]["soil_moisture_30cm"] for p in body["points"]] == [6.0, 7.0, 8.0, 9.0, 5.0]
    last_minutes = client.get(
        path,
        params={"resolution": "raw", "start": _iso(NOW_MS - 4 * 60_000)},
        headers=world.auth("a-read"),
    ).json()
    assert (len(last_minutes["points"]), last_minutes["truncated"]) == (3, False)


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", "/v1/fields/coop-a-farm1-f1/telemetry?end=0001-01-01T00:00:00", "query.end"),
        (
            "GET",
            "/v1/fields/coop-a-farm1-f1/telemetry?end=0001-01-01T00:00:00%2B01:00",
            "query.end",
        ),
        ("GET", "/v1/fields/coop-a-farm1-f1/telemetry?start=1600-01-01T00:00:00Z", "query.start"),
        ("GET", "/v1/alerts?kind=%00", "query.kind"),
        ("GET", "/v1/fields?variety=KU%0050", "query.variety"),
        ("POST", "/v1/alerts/999999999999/acknowledge", "path.alert_id"),
    ],
)
def test_values_beyond_what_the_databases_hold_are_a_422_naming_the_parameter(
    client: TestClient, world: World, method: str, path: str, field: str
) -> None:
    response = client.request(method, path, headers=world.auth("a-admin"))
    assert (response.status_code, response.json()["field"]) == (422, field)
    assert response.json()["detail"].startswith(f"{field}: ")


def test_a_herd_forecast_lists_each_animal_once_from_its_newest_run(
    client: TestClient, world: World, influx: InfluxV1
) -> None:
    """A second model version (a retrained or pinned model) writes its own series: each animal
    was listed once per version."""
    # After the world's own forecast, which was written at the real time the world was
    # seeded (not at NOW_MS: a slow run would then make this "later" run the older one).
    later_ms = __import__("time").time_ns() // 1_000_000 + 60_000
    influx.write(
        [
            f"{storage.CATTLE_FORECAST},animal=coop-a-farm1-cow1,farm=coop-a-farm1,"
            "herd=coop-a-farm1-h1,model_version=test-2 daily_gain_kg=0.9,days_to_target=100,"
            "days_to_target_p10=90,days_to_target_p90=120,heat_stress_risk=0.3,"
            f"market_date_ms={later_ms + 100 * 86_400_000}i,target_weight_kg=750,weight_kg=660 "
            f"{later_ms}"
        ],
        precision="ms",
    )
    animals = client.get("/v1/herds/coop-a-farm1-h1/forecast", headers=world.auth("a-read")).json()
    assert [(a["animal_id"], a["model_version"], a["days_to_target"]) for a in animals] == [
        ("coop-a-farm1-cow1", "test-2", 100)
    ]
