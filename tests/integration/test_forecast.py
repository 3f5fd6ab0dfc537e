"""The forecast job end to end on real servers: telemetry in InfluxDB and a registry on SQLite,
a tiny model from the registry directory, forecast points written, and the API's forecast
endpoints reading them back."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agronomy.crop import variety
from agronomy.field import SPIN_UP_DAYS, run_season
from agronomy.soil import soil_type
from agronomy.weather import KoratWeather, day_index
from api.main import create_app
from api.settings import ApiSettings
from ingest.points import telemetry_line
from isanfarm.contract import Telemetry
from isanfarm.influx import InfluxError, InfluxV1, series_rows
from isanfarm.settings import MqttSettings
from models.cassava import build_pipeline
from models.modelstore import ModelStore
from models.price import HarvestCalendar
from models.settings import ModelSettings
from models.store import local_day, local_midnight_ms
from models.training import split, training_cases
from registry import models as tables
from registry.db import make_engine, session_factory
from simulators.seasons import simulate
from tests.api_world import World, seed
from tests.helpers import wait_for
from tooling import jobs
from tooling.services import LocalMosquitto

pytestmark = pytest.mark.integration
DAY_MS = 86_400_000
FARM = "coop-a-farm1"
FIELD = f"{FARM}-f1"
HERD = f"{FARM}-h1"
PLANTED = date(2026, 4, 15)  # tests/api_world.py


@pytest.fixture
def setup(
    mosquitto: LocalMosquitto, influx: InfluxV1, tmp_path: Path
) -> Iterator[tuple[TestClient, World, ModelSettings]]:
    url = f"sqlite:///{tmp_path}/registry.sqlite3"
    api = ApiSettings(
        mqtt=MqttSettings(port=mosquitto.port), influx=influx.settings, database_url=url
    )
    with TestClient(create_app(api), raise_server_exceptions=False) as client:
        world = seed(client.app)  # type: ignore[arg-type]
        settings = ModelSettings(
            influx=influx.settings, database_url=url, model_dir=tmp_path / "models"
        )
        yield client, world, settings


def _tiny_model(directory: Path) -> str:
    seasons = simulate(20, 3, seed=5, progress=None)
    parts = split(seasons, seed=5)
    cases, targets, groups = training_cases(parts.train, parts.history, seed=5)
    pipeline = build_pipeline(max_iter=30)
    pipeline.fit(cases, targets, model__groups=groups)
    return ModelStore(directory).save(pipeline, {"held_out_metrics": {}})


def _field_telemetry(
    influx: InfluxV1, today: date, planted: date = PLANTED, first_seq: int = 0
) -> float:
    """A simulated season from ``planted`` to yesterday, one reading a day at local noon, as
    offline mode writes; returns the yield of its last day (t/ha)."""
    weather = KoratWeather(7, day_index(planted) - SPIN_UP_DAYS)
    days = run_season(
        weather, soil_type("loamy_sand"), variety("KU50"), planted, today - timedelta(days=1), 0.6
    )
    lines = []
    for number, d in enumerate(days):
        seq = first_seq + number
        w = d.weather
        readings = {
            "rain": w.rain_mm,
            "air_temperature": round(w.tmean_c, 2),
            "relative_humidity": round(w.rh_mean_pct, 1),
            "solar_radiation": round(w.radiation_mj / 0.0864, 1),  # the day's mean W/m2
            **{
                f"soil_moisture_{depth}cm": round(m, 2)
                for depth, m in zip((10, 30, 60), d.soil_moisture_pct, strict=True)
            },
        }
        noon = local_midnight_ms(planted + timedelta(days=number)) + 12 * 3_600_000
        message = Telemetry(FARM, f"{FARM}-fnode", seq, noon, readings, FIELD)
        lines.append(telemetry_line(message, noon))
    influx.write(lines)
    return days[-1].fresh_yield_t_ha


def _barn_telemetry(influx: InfluxV1, now_ms: int) -> None:
    rng = random.Random(1)
    lines, seq = [], 0
    for day in range(30):
        for hour in (8, 13, 18):
            ts = now_ms - (29 - day) * DAY_MS - (20 - hour) * 3_600_000
            weight = 650 + 0.8 * day
            seq += 1
            message = Telemetry(
                FARM, f"{FARM}-bnode", seq, ts,
                {"animal_weight": round(weight * (1 + rng.gauss(0, 0.01)), 1)},
                HERD, f"{FARM}-cow1",
            )  # fmt: skip
            lines.append(telemetry_line(message, ts))
            seq += 1
            climate = {"air_temperature": 36.0 if hour == 13 else 26.0, "relative_humidity": 60.0}
            lines.append(
                telemetry_line(Telemetry(FARM, f"{FARM}-bnode", seq, ts, climate, HERD), ts)
            )
    influx.write(lines)


def test_forecast_job_writes_points_the_api_reads_back(
    setup: tuple[TestClient, World, ModelSettings], influx: InfluxV1
) -> None:
    client, world, settings = setup
    now_ms = time.time_ns() // 1_000_000
    today = local_day(now_ms)
    _field_telemetry(influx, today)
    _barn_telemetry(influx, now_ms)
    version = _tiny_model(settings.model_dir)

    report = jobs.forecast(settings)

    assert report.fields == 1, report.skipped
    assert any(
        "coop-b-farm1-f1" in reason and "soil_moisture_10cm" in reason for reason in report.skipped
    )
    headers = world.auth("a-admin")
    forecast = client.get(f"/v1/fields/{FIELD}/forecast", headers=headers)
    assert forecast.status_code == 200, forecast.text
    body = forecast.json()
    assert body["model_version"] == version
    dates = HarvestCalendar().candidates(PLANTED, today)
    assert [c["harvest_date"] for c in body["candidates"]] == [d.isoformat() for d in dates]
    for c in body["candidates"]:
        assert c["yield_t_ha_p10"] <= c["yield_t_ha"] <= c["yield_t_ha_p90"]
        assert c["starch_pct_p10"] <= c["starch_pct"] <= c["starch_pct_p90"]
        assert c["tonnes"] == pytest.approx(c["yield_t_ha"] * 4.0, rel=1e-3)  # 25 rai = 4 ha
        assert 2 < c["yield_t_ha"] < 80

    plan = client.get("/v1/cooperatives/coop-a/harvest-plan", headers=headers).json()
    assert [w["field_id"] for w in plan] == [FIELD]
    best = max(body["candidates"], key=lambda c: c["revenue_thb"])
    assert plan[0]["recommended_date"] == best["harvest_date"]
    summary = client.get("/v1/cooperatives/coop-a/summary", headers=headers).json()
    assert sum(w["tonnes"] for w in summary["weeks"]) == pytest.approx(best["tonnes"], abs=0.01)

    herd = client.get(f"/v1/herds/{HERD}/forecast", headers=headers)
    assert herd.status_code == 200, herd.text
    (animal,) = herd.json()
    assert animal["animal_id"] == f"{FARM}-cow1"
    assert animal["target_weight_kg"] == 750
    assert animal["daily_gain_kg"] == pytest.approx(0.8, abs=0.25)
    assert animal["days_to_target_p10"] <= animal["days_to_target"] <= animal["days_to_target_p90"]
    assert 0 < animal["heat_stress_risk"] <= 1
    assert (
        client.get(f"/v1/herds/{HERD}/forecast", headers=world.auth("b-admin")).status_code == 404
    )


def _register_field(settings: ModelSettings, field_id: str, planted: date) -> None:
    """Another field on the member farm, written straight into the registry: the API would
    refuse nothing about its date either."""
    engine = make_engine(settings.database_url)
    with session_factory(engine)() as session, session.begin():
        session.add(
            tables.Field(
                id=field_id, farm_id=FARM, cooperative_id="coop-a", name=field_id,
                area_rai=10.0, variety="KU50", planting_date=planted, soil="loamy_sand",
            )
        )  # fmt: skip
    engine.dispose()


def test_a_field_with_a_typo_in_its_planting_date_is_skipped_and_the_others_forecast(
    setup: tuple[TestClient, World, ModelSettings], influx: InfluxV1
) -> None:
    _, _, settings = setup
    today = local_day(time.time_ns() // 1_000_000)
    _field_telemetry(influx, today)
    _tiny_model(settings.model_dir)
    _register_field(settings, f"{FARM}-f2", date(202, 5, 1))  # 2022, typed as 0202
    _register_field(settings, f"{FARM}-f3", today + timedelta(days=3_650))

    report = jobs.forecast(settings)

    assert report.fields == 1, report.skipped
    assert f"{FARM}-f2: planting date 0202-05-01 is before 2000-01-01" in "\n".join(report.skipped)
    assert any(r.startswith(f"{FARM}-f3: planting date") for r in report.skipped)
    stored = influx.query('SELECT count("yield_t_ha") FROM "cassava_forecast" GROUP BY "field"')
    assert [tags["field"] for tags, _ in series_rows(stored[0])] == [FIELD]


def test_a_write_failing_mid_run_leaves_every_field_whole_and_says_how_many_were_written(
    setup: tuple[TestClient, World, ModelSettings],
    influx: InfluxV1,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """300 fields make more than one write of 5,000 lines; InfluxDB refuses the second."""
    _, _, settings = setup
    settings = settings.model_copy(update={"min_coverage": 0.0, "min_recent_coverage": 0.0})
    today = local_day(time.time_ns() // 1_000_000)
    _field_telemetry(influx, today)
    _tiny_model(settings.model_dir)
    for number in range(300):
        _register_field(settings, f"{FARM}-g{number:03d}", PLANTED)
    writes: list[Sequence[str]] = []
    real_write = InfluxV1.write

    def second_write_fails(client: InfluxV1, lines: Sequence[str], precision: str = "ns") -> None:
        writes.append(lines)
        if len(writes) == 2:
            raise InfluxError("write rejected (503): overloaded", retriable=True)
        real_write(client, lines, precision)

    monkeypatch.setattr(InfluxV1, "write", second_write_fails)

    with pytest.raises(InfluxError) as failed:
        jobs.forecast(settings)

    stored = influx.query('SELECT count("yield_t_ha") FROM "cassava_forecast" GROUP BY "field"')
    counts = {tags["field"]: row["count"] for tags, row in series_rows(stored[0])}
    assert set(counts.values()) == {len(HarvestCalendar().candidates(PLANTED, today))}
    assert 0 < len(counts) < 302  # the world's two fields and these 300
    assert f"failed after {len(counts)} of 302 fields were written" in str(failed.value)
    assert "run the forecast again" in str(failed.value)


def test_a_dated_harvest_record_calibrates_the_fields_yield_gap_from_its_last_season(
    setup: tuple[TestClient, World, ModelSettings], influx: InfluxV1, tmp_path: Path
) -> None:
    """The previous season's daily data is read back from InfluxDB for the dates of the
    cooperative's harvest record, and the crop model calibrates the field from it."""
    _, _, settings = setup
    today = local_day(time.time_ns() // 1_000_000)
    last_planted = PLANTED - timedelta(days=365)
    last_harvested = last_planted + timedelta(days=300)
    last_yield = _field_telemetry(influx, last_harvested + timedelta(days=1), last_planted, 10_000)
    _field_telemetry(influx, today)
    _tiny_model(settings.model_dir)
    harvests = tmp_path / "harvests.csv"
    harvests.write_text(
        "field,planted,harvested,fresh_yield_t_ha,starch_pct\n"
        f"{FIELD},{last_planted},{last_harvested},{last_yield:.2f},27.5\n"
    )

    dated = jobs.forecast(settings, harvests=harvests)

    assert dated.fields == 1, dated.skipped
    assert dated.calibrated == 1
    assert dated.harvests == 1  # the record is stored as the actual for the dashboards
    actual = influx.query(f'SELECT * FROM "cassava_harvest" WHERE "field" = \'{FIELD}\'')[0]
    ((_, row),) = series_rows(actual)
    assert row["yield_t_ha"] == pytest.approx(round(last_yield, 2))
    assert row["season_days"] == 300
    assert local_day(int(row["time"])) == last_harvested
    undated = tmp_path / "undated.csv"
    undated.write_text(
        "field,harvested,fresh_yield_t_ha,starch_pct\n"
        f"{FIELD},{last_harvested},{last_yield:.2f},27.5\n"
    )
    assert jobs.forecast(settings, harvests=undated).calibrated == 0


def test_forecast_every_keeps_running_through_a_failed_run_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    """The compose stack's forecast service: a run that finds no model is reported and the
    next one tried, until the service is stopped."""
    env = {**os.environ, "ISANFARM_MODEL_DIR": str(tmp_path / "models")}
    command = [sys.executable, "-m", "tooling.cli", "forecast", "--every", "0.2"]
    service = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    reports: list[str] = []
    assert service.stderr is not None
    reader = threading.Thread(target=lambda: reports.extend(service.stderr or ()), daemon=True)
    reader.start()
    try:
        # Two failed runs reported, however slow the machine is to import the models.
        wait_for(
            lambda: sum("isanfarm forecast:" in r for r in reports) >= 2,
            "two failed runs reported",
            timeout_s=60,
        )
        assert service.poll() is None, "the service stopped by itself"
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=30)
        reader.join(timeout=5)
    assert service.returncode == 0, "".join(reports)
