"""The forecast job with a weather-forecast feed, on real servers: telemetry in InfluxDB, the
registry on SQLite (tests/integration/test_forecast.py's world), and a stand-in for Open-Meteo:
a tiny HTTP server on a free loopback port answering ``/v1/forecast`` with the fixture in
tests/fixtures/open_meteo, redated to start on the run's day, reached through
``ISANFARM_WEATHER_FEED_URL`` as the real service would be.

Checked: each farm is asked once, at its fields' mean registered location; a farm without
coordinates is counted and forecast without the feed; and a feed that answers 503, a payload
that is not a forecast, or nothing in time leaves the run complete, every field forecast."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from isanfarm.influx import InfluxV1, series_rows
from models.price import HarvestCalendar
from models.settings import ModelSettings
from models.store import local_day
from models.weatherfeed import DAILY_UNITS, MAX_FORECAST_DAYS, TIMEZONE
from registry import models as tables
from registry.db import make_engine, session_factory
from tests.api_world import World
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
FIXTURE = Path(__file__).parents[1] / "fixtures" / "open_meteo" / "korat_rainy_season.json"
#: tests/api_world.py registers coop-a's and coop-b's fields at this location.
SEEDED = (14.9, 101.9)
#: A second field of coop-a's farm: the farm's mean location is then (15.0, 102.1).
SECOND = (15.1, 102.3)
NO_COORDINATES_FARM = "coop-a-farm2"


class StandIn(ThreadingHTTPServer):
    """Open-Meteo's forecast endpoint. ``mode``: "ok" answers the fixture starting on
    ``first_day``; "503" an outage; "not a forecast" a 200 without the daily data; "slow"
    answers too late. ``asked``: every request's query."""

    daemon_threads = True

    def __init__(self, first_day: date) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.first_day = first_day
        self.mode = "ok"
        self.asked: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self) -> tuple[int, dict[str, Any]]:
        if self.mode == "503":
            return 503, {"error": True, "reason": "Service Unavailable"}
        body: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
        if self.mode == "not a forecast":
            del body["daily"]
            return 200, body
        if self.mode == "slow":
            time.sleep(2.0)
        days = len(body["daily"]["time"])
        body["daily"]["time"] = [(self.first_day + timedelta(d)).isoformat() for d in range(days)]
        return 200, body


class _Handler(BaseHTTPRequestHandler):
    server: StandIn

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/v1/forecast":
            self._send(404, {"error": True, "reason": "Not Found"})
            return
        self.server.asked.append({k: v[0] for k, v in parse_qs(url.query).items()})
        self._send(*self.server.answer())

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the slow answer's client gave up
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn(local_day(time.time_ns() // 1_000_000))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny model for the module (training it is most of a test's time)."""
    directory = tmp_path_factory.mktemp("models")
    _tiny_model(directory)
    return directory


def _register(settings: ModelSettings) -> None:
    """A second field on coop-a's farm, with coordinates, and a farm whose only field has
    none; neither has a device, so neither is forecast: they only shape the feed's asks."""
    engine = make_engine(settings.database_url)
    with session_factory(engine)() as session, session.begin():
        session.add(tables.Farm(id=NO_COORDINATES_FARM, cooperative_id="coop-a", name="No GPS"))
        session.flush()
        for field_id, farm, where in (
            (f"{FARM}-f2", FARM, SECOND),
            (f"{NO_COORDINATES_FARM}-f1", NO_COORDINATES_FARM, (None, None)),
        ):
            session.add(
                tables.Field(
                    id=field_id, farm_id=farm, cooperative_id="coop-a", name=field_id,
                    area_rai=10.0, variety="KU50", planting_date=PLANTED, soil="loamy_sand",
                    latitude=where[0], longitude=where[1],
                )
            )  # fmt: skip
    engine.dispose()


def _run(
    setup: tuple[TestClient, World, ModelSettings],
    influx: InfluxV1,
    model_dir: Path,
    stand_in: StandIn,
) -> Any:
    _, _, settings = setup
    _field_telemetry(influx, stand_in.first_day)
    _register(settings)
    settings = settings.model_copy(
        update={
            "model_dir": model_dir,
            "weather_feed_url": stand_in.url,
            "weather_feed_timeout_s": 0.5,
        }
    )
    return jobs.forecast(settings)


def _written_dates(influx: InfluxV1) -> int:
    result = influx.query(
        f'SELECT "starch_pct" FROM "cassava_forecast" WHERE "field" = \'{FIELD}\''
    )
    return sum(1 for _ in series_rows(result[0])) if result else 0


def test_each_farm_is_asked_once_at_its_fields_mean_location(
    setup: tuple[TestClient, World, ModelSettings],
    influx: InfluxV1,
    model_dir: Path,
    stand_in: StandIn,
) -> None:
    report = _run(setup, influx, model_dir, stand_in)

    assert report.fields == 1, report.skipped
    assert report.weather_fields == 1
    assert report.no_coordinates == [NO_COORDINATES_FARM]
    assert report.feed_failures == []
    asked = sorted(
        (float(q["latitude"]), float(q["longitude"])) for q in stand_in.asked
    )  # coop-b's farm, then coop-a's
    assert asked == [pytest.approx(SEEDED), pytest.approx((15.0, 102.1))]
    for query in stand_in.asked:
        assert query["daily"] == ",".join(DAILY_UNITS)
        assert query["timezone"] == TIMEZONE
        assert query["forecast_days"] == str(MAX_FORECAST_DAYS)
    assert _written_dates(influx) == len(HarvestCalendar().candidates(PLANTED, stand_in.first_day))


@pytest.mark.parametrize(
    ("mode", "said"),
    [("503", "answered 503"), ("not a forecast", "no 'daily' object"), ("slow", "Timeout")],
)
def test_a_failing_feed_leaves_the_run_complete(
    setup: tuple[TestClient, World, ModelSettings],
    influx: InfluxV1,
    model_dir: Path,
    stand_in: StandIn,
    mode: str,
    said: str,
) -> None:
    stand_in.mode = mode
    report = _run(setup, influx, model_dir, stand_in)

    assert report.fields == 1, report.skipped
    assert report.weather_fields == 0
    assert len(stand_in.asked) == 2
    assert len(report.feed_failures) == 2, report.feed_failures
    assert all(said in reason for reason in report.feed_failures), report.feed_failures
    assert _written_dates(influx) == len(HarvestCalendar().candidates(PLANTED, stand_in.first_day))
