"""The weather-forecast feed: Open-Meteo's responses read (and refused) as documented, against a
stand-in serving the fixtures in tests/fixtures/open_meteo; the simulated feed's skill; and the
crop model's members following a forecast on its days and nothing else."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from agronomy.crop import VARIETIES
from agronomy.field import run_season
from agronomy.soil import SOILS
from agronomy.weather import KoratWeather, day_index
from models.cropfeatures import (
    CropCases,
    DailyRows,
    crop_features,
    forecast_members,
    member_climatology,
    weather_members,
)
from models.daily import FieldSeason, from_simulation
from models.errors import FeatureError
from models.features import Case, SeasonFeatures
from models.weatherfeed import (
    DAILY_UNITS,
    TROPICAL_SKILL,
    OpenMeteoFeed,
    WeatherFeedError,
    WeatherForecast,
    parse_open_meteo,
)
from simulators.weatherfeed import (
    NO_SKILL,
    SimulatedFeed,
    korat_climatology,
    truth_from_season,
    truth_from_weather,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "open_meteo"
KORAT = (14.97, 102.1)


def _fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return body


class StandIn:
    """Open-Meteo's ``/v1/forecast`` as a ``MockTransport``: answers ``status`` with ``body``,
    and keeps every request it was sent."""

    def __init__(self, body: Any, status: int = 200) -> None:
        self.body, self.status = body, status
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path != "/v1/forecast":
            return httpx.Response(404, json={"error": True, "reason": "Not Found"})
        if isinstance(self.body, str):
            return httpx.Response(self.status, text=self.body)
        return httpx.Response(self.status, json=self.body)


def _fetch(handler: Callable[[httpx.Request], httpx.Response]) -> WeatherForecast:
    transport = httpx.MockTransport(handler)
    with OpenMeteoFeed("http://open-meteo.test", timeout_s=2.0, transport=transport) as feed:
        return feed.forecast("farm-1", *KORAT)


# ---- Open-Meteo -------------------------------------------------------------------------------


def test_a_december_forecast_is_read_into_lead_days_from_the_issue_day() -> None:
    stand_in = StandIn(_fixture("korat_december.json"))
    forecast = _fetch(stand_in)
    daily = _fixture("korat_december.json")["daily"]
    assert forecast.issued == date(2024, 12, 5)
    assert forecast.horizon == 16
    assert forecast.day(16) == date(2024, 12, 20)
    assert forecast.spread is None  # a deterministic model gives none
    assert forecast.values[:, 0].tolist() == daily["precipitation_sum"]
    assert forecast.values[:, 1].tolist() == daily["temperature_2m_mean"]
    assert forecast.values[:, 2].tolist() == daily["shortwave_radiation_sum"]
    sent = stand_in.requests[0].url.params
    assert sent["daily"] == ",".join(DAILY_UNITS)
    assert sent["timezone"] == "Asia/Bangkok"
    assert sent["forecast_days"] == "16"
    assert (float(sent["latitude"]), float(sent["longitude"])) == KORAT


def test_a_rainy_season_forecast_keeps_every_wet_day() -> None:
    forecast = _fetch(StandIn(_fixture("korat_rainy_season.json")))
    assert forecast.issued == date(2024, 9, 10)
    assert forecast.values[:, 0].sum() == pytest.approx(128.8)
    assert forecast.values[9, 0] == 31.8


def test_a_null_mean_temperature_falls_back_to_the_max_min_midpoint() -> None:
    body = _fixture("korat_december.json")
    body["daily"]["temperature_2m_mean"][3] = None
    forecast = parse_open_meteo("farm-1", body)
    assert forecast.values[3, 1] == pytest.approx((30.1 + 18.9) / 2)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            lambda b: b["daily"]["precipitation_sum"].__setitem__(14, None),
            "precipitation_sum is null on 2024-12-19",
        ),
        (lambda b: b["daily"].pop("shortwave_radiation_sum"), "shortwave_radiation_sum is missing"),
        (
            lambda b: b["daily_units"].__setitem__("precipitation_sum", "inch"),
            "in 'inch', need 'mm'",
        ),
        (lambda b: b["daily_units"].__setitem__("shortwave_radiation_sum", "W/m²"), "need 'MJ/m²'"),
        (lambda b: b.__setitem__("timezone", "GMT"), "timezone is 'GMT'"),
        (lambda b: b["daily"]["temperature_2m_max"].pop(), "has 15 values for 16 days"),
        (lambda b: b.pop("daily"), "no 'daily' object"),
        (lambda b: b["daily"]["time"].__setitem__(2, "2024-12-09"), "not consecutive days"),
    ],
)
def test_a_malformed_response_is_refused_naming_the_field(
    change: Callable[[dict[str, Any]], object], says: str
) -> None:
    body = copy.deepcopy(_fixture("korat_december.json"))
    change(body)
    with pytest.raises(WeatherFeedError, match=says) as caught:
        _fetch(StandIn(body))
    assert not caught.value.retriable  # asking again gets the same answer


@pytest.mark.parametrize(
    ("status", "body", "retriable", "says"),
    [
        (429, _fixture("rate_limited.json"), True, "429: Minutely API request limit exceeded"),
        (400, _fixture("bad_request.json"), False, "400: Cannot initialize"),
        (502, "<html>Bad Gateway</html>", True, "502: <html>Bad Gateway"),
        (503, {"error": True, "reason": "Service Unavailable"}, True, "503: Service Unavailable"),
    ],
)
def test_an_http_error_says_whether_asking_again_can_help(
    status: int, body: Any, retriable: bool, says: str
) -> None:
    with pytest.raises(WeatherFeedError, match=says) as caught:
        _fetch(StandIn(body, status))
    assert caught.value.retriable is retriable


def test_a_timeout_is_retriable() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(WeatherFeedError, match="ReadTimeout") as caught:
        _fetch(hang)
    assert caught.value.retriable


def test_the_base_url_is_configurable() -> None:
    stand_in = StandIn(_fixture("korat_december.json"))
    transport = httpx.MockTransport(stand_in)
    with OpenMeteoFeed("http://forecasts.coop.local:8080", transport=transport) as feed:
        feed.forecast("farm-1", *KORAT)
    assert str(stand_in.requests[0].url).startswith("http://forecasts.coop.local:8080/v1/forecast?")


def test_a_forecast_with_holes_or_wrong_shapes_is_refused() -> None:
    rows = np.ones((3, 3))
    with pytest.raises(WeatherFeedError, match="need \\(lead days >= 1, 3\\)"):
        WeatherForecast("farm-1", date(2024, 1, 1), np.ones((3, 2)))
    with pytest.raises(WeatherFeedError, match="NaN"):
        WeatherForecast("farm-1", date(2024, 1, 1), np.where(np.eye(3) > 0, np.nan, rows))
    with pytest.raises(WeatherFeedError, match="spread has shape"):
        WeatherForecast("farm-1", date(2024, 1, 1), rows, np.ones((2, 3)))
    with pytest.raises(WeatherFeedError, match="negative rain"):
        WeatherForecast("farm-1", date(2024, 1, 1), rows * [-1, 1, 1])


# ---- the simulated feed ------------------------------------------------------------------------


def _issues(count: int) -> list[tuple[date, np.ndarray]]:
    """``count`` issue days across the years of one generated farm, each with its true weather."""
    first = date(2001, 1, 1)
    weather = KoratWeather(77, day_index(first))
    days = [first + timedelta(days=int(d)) for d in np.linspace(0, 365 * 12, count)]
    return [(d, truth_from_weather(weather, d, 16)) for d in days]


def test_a_feed_of_no_skill_issues_the_climatology() -> None:
    mean, sd = korat_climatology()
    issued, truth = _issues(1)[0]
    forecast = SimulatedFeed(NO_SKILL).forecast("farm-1", issued, truth)
    months = [forecast.day(k).month - 1 for k in range(1, 17)]
    assert np.array_equal(forecast.values, mean[months])
    assert forecast.spread is not None
    assert np.array_equal(forecast.spread, sd[months])


def test_the_simulated_feed_is_as_skilful_as_it_says_and_calibrated() -> None:
    """Over many issues: the forecast correlates with the truth as ``TROPICAL_SKILL`` says at
    each lead, nothing past the horizon, and its spread is the size of its errors."""
    issues = _issues(600)
    feed = SimulatedFeed(seed=3)
    forecasts = [feed.forecast("farm-1", d, truth) for d, truth in issues]
    truth = np.stack([t for _, t in issues])
    values = np.stack([f.values for f in forecasts])
    spread = np.stack([f.spread for f in forecasts if f.spread is not None])
    mean, _ = korat_climatology()
    months = np.array([[f.day(k).month - 1 for k in range(1, 17)] for f in forecasts])
    anomaly, predicted = truth - mean[months], values - mean[months]
    for j in (1, 2):  # temperature, radiation: close to Gaussian, the correlation is rho
        for lead in (1, 3):
            r = np.corrcoef(anomaly[:, lead - 1, j], predicted[:, lead - 1, j])[0, 1]
            expected = TROPICAL_SKILL[j].correlation(np.array([lead]))[0]
            assert r == pytest.approx(expected, abs=0.08), (j, lead)
    rain_day1 = np.corrcoef(anomaly[:, 0, 0], predicted[:, 0, 0])[0, 1]
    assert rain_day1 > 0.45  # 0.6 but for the floor at 0 mm
    # Past rain's 14-day horizon the forecast is the climatology itself: it knows nothing.
    assert np.array_equal(values[:, 14:, 0], mean[months[:, 14:], 0])
    error = np.sqrt(np.mean((truth[:, :5, 1:] - values[:, :5, 1:]) ** 2, axis=0))
    assert error == pytest.approx(np.sqrt(np.mean(spread[:, :5, 1:] ** 2, axis=0)), rel=0.15)


def test_a_forecast_covers_only_the_truth_there_is() -> None:
    issued, truth = _issues(1)[0]
    forecast = SimulatedFeed().forecast("farm-1", issued, truth[:5])
    assert forecast.horizon == 5
    again = SimulatedFeed().forecast("farm-1", issued, truth[:5])
    assert np.array_equal(forecast.values, again.values)  # seeded by farm and day


# ---- members following a forecast ---------------------------------------------------------------


def test_members_follow_a_sure_forecast_on_its_days_and_the_generator_after() -> None:
    members = weather_members(3, seed=2)
    issued = date(2021, 11, 20)
    values = np.column_stack([np.arange(10.0), np.full(10, 24.0), np.full(10, 17.0)])
    forecast = WeatherForecast("farm-1", issued, values, np.zeros((10, 3)))
    out = forecast_members(members, forecast, date(2021, 1, 1), member_climatology(members))
    first = (issued - date(2021, 1, 1)).days
    for m in range(3):
        assert np.array_equal(out[m, first : first + 10], values)
    assert np.array_equal(out[:, :first], members[:, :first])
    assert np.array_equal(out[:, first + 10 :], members[:, first + 10 :])


def test_a_raw_forecast_past_its_skill_leaves_the_members_as_they_were() -> None:
    members = weather_members(2, seed=2)
    climatology = member_climatology(members)
    issued = date(2021, 8, 1)
    values = np.tile([80.0, 35.0, 5.0], (16, 1))  # absurd, to show it is not believed
    forecast = WeatherForecast("farm-1", issued, values)
    out = forecast_members(members, forecast, date(2021, 1, 1), climatology)
    first = (issued - date(2021, 1, 1)).days
    # Lead 1: believed by its skill, pulled towards the forecast.
    assert (out[:, first, 0] > members[:, first, 0]).all()
    # Past the rain, temperature and radiation horizons: the generator's own weather.
    assert np.allclose(out[:, first + 16 :], members[:, first + 16 :])
    assert np.allclose(out[:, first + 14 : first + 16, 0], members[:, first + 14 : first + 16, 0])
    assert np.allclose(out[:, first + 12 : first + 16, 2], members[:, first + 12 : first + 16, 2])


def _field(seed: int) -> FieldSeason:
    planted = date(2021, 4, 10)
    weather = KoratWeather(seed, day_index(planted) - 90)
    days = run_season(
        weather, SOILS["loamy_sand"], VARIETIES["KU50"], planted, planted + timedelta(379), 0.7
    )
    return from_simulation(f"f{seed}", "farm-1", "KU50", "loamy_sand", planted, days)


def test_a_sure_forecast_up_to_harvest_makes_every_member_the_true_weather() -> None:
    season = _field(5)
    # The probes' days after the issue day hidden, so that both runs assimilate the same
    # soil moisture and so run with the same management factor.
    reported = np.ones_like(season.values)
    reported[300:, 4:] = 0.0
    rows = DailyRows(season.values, np.array([0]), reported)
    issued = season.day(300)
    truth = truth_from_season(season, issued, 16)
    sure = WeatherForecast("farm-1", issued, truth, np.zeros_like(truth))

    def features(age: int, forecast: WeatherForecast | None) -> np.ndarray:
        one = np.array
        cases = CropCases(
            one([0]), one([age]), one([310]), one([-1]), one([np.nan]), one([-1]), (forecast,)
        )
        return crop_features([season], rows, cases, weather_members(4, seed=1))

    forecast = features(300, sure)
    observed = features(380, None)  # the harvest day is inside the data: no member is read
    assert forecast[0, 1] == 0  # no spread left among the members
    assert forecast[0, 2] == pytest.approx(observed[0, 2], abs=1e-9)
    assert forecast[0, 0] == pytest.approx(observed[0, 0], rel=1e-9)
    assert features(300, None)[0, 1] > 0  # without it the members disagree


def test_a_case_refuses_another_farms_or_a_later_forecast() -> None:
    season = _field(6)
    model = SeasonFeatures().fit([Case(season, 200, 300)])
    issued = season.day(300)
    truth = truth_from_season(season, issued, 5)
    other = WeatherForecast("farm-2", issued, truth)
    with pytest.raises(FeatureError, match="carries the forecast of farm 'farm-2'"):
        model.transform([Case(season, 300, 310, forecast=other)])
    later = WeatherForecast("farm-1", issued + timedelta(days=1), truth)
    with pytest.raises(FeatureError, match="after the case's issue day"):
        model.transform([Case(season, 300, 310, forecast=later)])
