"""``isanfarm calibrate`` on real servers: a cooperative's recorded seasons written into InfluxDB
as its gateways would have sent them, the registry on SQLite; the calibration is stored beside
the model, the coverage alert raised on the raw intervals is closed by it, and the next forecast
run applies it."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ingest.points import telemetry_line
from isanfarm.contract import Telemetry
from isanfarm.influx import InfluxV1, series_rows
from models.daily import DAILY_VARIABLES
from models.modelstore import ModelStore
from models.seasons import HarvestedSeason
from models.settings import ModelSettings
from models.store import local_day, local_midnight_ms
from registry import models as tables
from registry.db import make_engine, session_factory
from simulators.seasons import simulate
from simulators.worlds import World
from tests.api_world import World as ApiWorld
from tests.integration.test_forecast import (  # the forecast job's own test world
    FARM,
    FIELD,
    PLANTED,
    _field_telemetry,
    _tiny_model,
    setup,
)
from tooling import jobs

pytestmark = pytest.mark.integration
__all__ = ["setup"]
#: Readings per daily column, as a gateway names them (radiation as the day's mean W/m2).
READINGS = {
    "rain_mm": ("rain", 1.0),
    "tmean_c": ("air_temperature", 1.0),
    "rh_pct": ("relative_humidity", 1.0),
    "radiation_mj": ("solar_radiation", 1 / 0.0864),
    "soil_moisture_10cm": ("soil_moisture_10cm", 1.0),
    "soil_moisture_30cm": ("soil_moisture_30cm", 1.0),
    "soil_moisture_60cm": ("soil_moisture_60cm", 1.0),
}


def _write_season(influx: InfluxV1, s: HarvestedSeason, first_seq: int) -> None:
    """One reading a day at local noon, planting to harvest, from the field's own device."""
    lines = []
    for day in range(s.harvest_age_days + 1):
        values = s.season.values[day]
        readings = {
            name: round(float(values[DAILY_VARIABLES.index(column)]) * scale, 3)
            for column, (name, scale) in READINGS.items()
        }
        noon = local_midnight_ms(s.season.day(day)) + 12 * 3_600_000
        device = f"{FARM}-{s.season.field_id}"
        message = Telemetry(FARM, device, first_seq + day, noon, readings, s.season.field_id)
        lines.append(telemetry_line(message, noon))
    influx.write(lines)


def _register(settings: ModelSettings, seasons: list[HarvestedSeason]) -> None:
    engine = make_engine(settings.database_url)
    with session_factory(engine)() as session, session.begin():
        for s in seasons:
            if s.index == 0:
                session.add(
                    tables.Field(
                        id=s.season.field_id, farm_id=FARM, cooperative_id="coop-a",
                        name=s.season.field_id, area_rai=10.0, variety=s.season.variety,
                        planting_date=PLANTED, soil=s.season.soil,
                    )
                )  # fmt: skip
    engine.dispose()


def _open_coverage_alerts(settings: ModelSettings) -> list[tables.Alert]:
    engine = make_engine(settings.database_url)
    with session_factory(engine)() as session:
        alerts = list(
            session.query(tables.Alert).filter(
                tables.Alert.kind == tables.FORECAST_COVERAGE,
                tables.Alert.acknowledged_at.is_(None),
            )
        )
    engine.dispose()
    return alerts


def _starch_interval(influx: InfluxV1) -> tuple[float, float]:
    result = influx.query(
        'SELECT "starch_pct_p10", "starch_pct_p90" FROM "cassava_forecast" '
        f"WHERE \"field\" = '{FIELD}' ORDER BY time ASC LIMIT 1"
    )
    ((_, row),) = series_rows(result[0])
    return float(row["starch_pct_p10"]), float(row["starch_pct_p90"])


def test_calibrate_stores_a_calibration_that_closes_the_alert_and_the_forecast_applies(
    setup: tuple[TestClient, ApiWorld, ModelSettings], influx: InfluxV1, tmp_path: Path
) -> None:
    client, world, settings = setup
    today = local_day(time.time_ns() // 1_000_000)
    _field_telemetry(influx, today)
    version = _tiny_model(settings.model_dir)
    # 15 fields x 2 seasons whose roots hold twice the water when wet: the model's starch
    # intervals, fitted on the standard crop, miss these records.
    seasons = simulate(15, 2, seed=11, progress=None, world=World("dmc", {"dmc_wet_drop": 2.0}))
    _register(settings, seasons)
    rows = ["field,planted,harvested,fresh_yield_t_ha,starch_pct"]
    for number, s in enumerate(seasons):
        _write_season(influx, s, number * 1_000)
        harvested = s.season.planted + timedelta(days=s.harvest_age_days)
        recorded_yield, recorded_starch = s.recorded(s.harvest_age_days)
        rows.append(
            f"{s.season.field_id},{s.season.planted},{harvested},{recorded_yield:.2f},"
            f"{recorded_starch:.2f}"
        )
    harvests = tmp_path / "harvests.csv"
    harvests.write_text("\n".join(rows) + "\n")

    before = jobs.forecast(settings, harvests=harvests)
    raw_interval = _starch_interval(influx)

    assert (before.fields, before.recalibrated) == (1, 0), before.skipped
    assert before.coverage[0].startswith("coop-a: coverage alert raised"), before.coverage
    (alert,) = _open_coverage_alerts(settings)
    assert alert.subject == "coop-a"
    assert alert.farm_id is None
    assert "recent harvests (stated 80%)" in alert.message
    listed = client.get(
        "/v1/alerts", params={"kind": "forecast_coverage"}, headers=world.auth("a-read")
    )
    assert [a["message"] for a in listed.json()["items"]] == [alert.message]

    result = jobs.calibrate(settings, harvests, "coop-a")

    (calibration,) = result.calibrations
    assert calibration.records == 30
    assert calibration.model_version == version
    assert calibration.crop.factor == pytest.approx(2.0, rel=0.2)
    assert result.alerts[0].startswith("coop-a: coverage alert cleared"), result.alerts
    assert _open_coverage_alerts(settings) == []
    stored = json.loads(result.stored[0].read_text())
    assert stored["model_version"] == version
    assert ModelStore(settings.model_dir).calibration("coop-a", version) is not None

    after = jobs.forecast(settings)

    assert (after.fields, after.recalibrated, after.crop_calibrated) == (1, 1, 1), after.skipped
    recalibrated = _starch_interval(influx)
    assert recalibrated[1] - recalibrated[0] > raw_interval[1] - raw_interval[0]


def test_a_calibration_of_another_model_version_is_not_applied(
    setup: tuple[TestClient, ApiWorld, ModelSettings], influx: InfluxV1
) -> None:
    _, _, settings = setup
    _field_telemetry(influx, local_day(time.time_ns() // 1_000_000))
    version = _tiny_model(settings.model_dir)
    ModelStore(settings.model_dir).save_calibration(
        "coop-a", {"model_version": "cassava-older", "recalibration": {}}
    )

    report = jobs.forecast(settings)

    assert (report.fields, report.recalibrated) == (1, 0)
    assert f"fitted on model cassava-older, the model served is {version}" in report.notes[0]
