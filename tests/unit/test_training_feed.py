"""Training and evaluation with a weather-forecast feed (``models.training.ForecastFor``), and the
forecast job's part of it that needs no server: each farm's location and its forecast fetched
once, a farm without coordinates or whose feed fails forecast without one, and the setting.

Seasons here are made by hand (a few arrays), not simulated: these tests check which case gets
which forecast, not what a forecast does to the features (tests/integration/
test_weatherfeed_forecast.py measures that)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from models import training
from models.daily import DAILY_VARIABLES, RAIN, FieldSeason
from models.features import Case
from models.forecast import (
    FEED_GIVE_UP_AFTER,
    FieldInfo,
    ForecastReport,
    farm_forecasts,
    farm_locations,
)
from models.seasons import HarvestedSeason
from models.settings import ModelSettings
from models.training import Split, evaluate, evaluation_cases, training_cases
from models.weatherfeed import OpenMeteoFeed, WeatherFeedError, WeatherForecast
from tooling.jobs import weather_feed

DAYS = 380


def _season(field: int, index: int) -> HarvestedSeason:
    """Field ``field`` (two a farm) in season ``index``: planted in March of 2020 + index,
    rain on every third day, truth growing with age."""
    planted = date(2020 + index, 3, 1) + timedelta(days=field)
    values = np.full((DAYS, len(DAILY_VARIABLES)), 20.0)
    values[::3, RAIN] = 12.0
    season = FieldSeason(f"f{field}", f"farm{field // 2}", "KU50", "loam", planted, 1.5, values)
    age = np.arange(DAYS, dtype=float)
    return HarvestedSeason(season, index, age / 10, 20 + age / 100, 300)


def _forecast(season: FieldSeason, issue_age: int) -> WeatherForecast:
    return WeatherForecast(season.farm_id, season.day(issue_age), np.ones((16, 3)))


class Spy:
    """A ``ForecastFor`` that remembers what it was asked and returns a new forecast each time."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    def __call__(self, season: FieldSeason, issue_age: int) -> WeatherForecast:
        self.asked.append((season.field_id, issue_age))
        return _forecast(season, issue_age)


def _question(case: Case) -> tuple[object, ...]:
    """What a case asks, without its forecast (FieldSeason holds arrays: compared by id)."""
    return (
        id(case.season),
        case.age_days,
        case.harvest_age_days,
        case.prev_yield_t_ha,
        case.prev_starch_pct,
        id(case.prev_season),
        case.prev_harvest_age_days,
        case.forecast,
    )


@pytest.fixture
def seasons() -> list[HarvestedSeason]:
    return [_season(field, index) for field in range(4) for index in range(3)]


def _history(seasons: list[HarvestedSeason]) -> dict[tuple[str, int], HarvestedSeason]:
    return {(s.season.field_id, s.index): s for s in seasons}


def test_training_cases_carry_the_forecast_of_their_issue_day_once_per_issue(
    seasons: list[HarvestedSeason],
) -> None:
    spy = Spy()
    plain, plain_targets, plain_groups = training_cases(seasons, _history(seasons), seed=3)
    fed, targets, groups = training_cases(seasons, _history(seasons), 3, spy)

    # The feed draws nothing from the cases' generator: the same questions, targets, groups.
    assert [(c.season.field_id, c.age_days, c.harvest_age_days) for c in fed] == [
        (c.season.field_id, c.age_days, c.harvest_age_days) for c in plain
    ]
    np.testing.assert_array_equal(targets, plain_targets)
    assert groups == plain_groups
    assert all(c.forecast is None for c in plain)
    assert len(spy.asked) == len(seasons) * training.ISSUES_PER_SEASON
    for case in fed:
        assert case.forecast is not None
        assert case.forecast.issued == case.season.day(case.age_days)
        assert case.forecast.farm_id == case.season.farm_id
    # Cases of one issue share one forecast, as a farm's fields share one in the job.
    by_issue: dict[tuple[int, int], set[int]] = {}
    for case in fed:
        by_issue.setdefault((id(case.season), case.age_days), set()).add(id(case.forecast))
    assert max(len(ids) for ids in by_issue.values()) == 1
    assert len(fed) > len(by_issue)


def test_a_feed_that_has_no_forecast_that_day_leaves_the_case_without_one(
    seasons: list[HarvestedSeason],
) -> None:
    def only_late(season: FieldSeason, issue_age: int) -> WeatherForecast | None:
        return _forecast(season, issue_age) if issue_age >= 250 else None

    cases, _ = evaluation_cases(seasons, _history(seasons), only_late)
    assert {c.forecast is not None for c in cases} == {True, False}
    assert all((c.forecast is not None) == (c.age_days >= 250) for c in cases)


def test_evaluation_cases_and_their_rows_are_the_same_with_a_feed(
    seasons: list[HarvestedSeason],
) -> None:
    plain, plain_rows = evaluation_cases(seasons, _history(seasons))
    fed, rows = evaluation_cases(seasons, _history(seasons), Spy())
    assert repr(rows) == repr(plain_rows)  # repr: NaN (no last season) equals itself
    assert [_question(replace(c, forecast=None)) for c in fed] == [_question(c) for c in plain]
    assert all(
        c.forecast is not None and c.forecast.issued == c.season.day(c.age_days) for c in fed
    )


def test_evaluate_gives_the_forecast_to_the_test_cases_and_the_hindcasts(
    seasons: list[HarvestedSeason], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both the held-out cases and the hindcasts the recalibration is fitted on must carry
    the forecast, or the recalibration would correct a model that serving does not run."""
    asked: list[list[Case]] = []

    def predict(pipeline: Any, cases: list[Case]) -> np.ndarray:
        asked.append(list(cases))
        point = np.array([[c.season.day(c.harvest_age_days).day / 2, 25.0] for c in cases])
        return np.column_stack(
            [
                point[:, 0],
                point[:, 0] * 0.8,
                point[:, 0] * 1.2,
                point[:, 1],
                point[:, 1] - 1,
                point[:, 1] + 1,
            ]
        )

    monkeypatch.setattr(training, "predict_cases", predict)
    parts = Split(
        train=[s for s in seasons if s.index == 0],
        calibration_season=1,
        test=[s for s in seasons if s.index == 2],
        history=_history(seasons),
    )
    evaluation = evaluate(None, parts, forecast_for=Spy())

    test_cases, hindcasts = asked
    assert len(test_cases) == len(evaluation.rows)
    assert len(hindcasts) == len(training.records_of(parts)) * len(training.EVAL_LEADS)
    for case in test_cases + hindcasts:
        assert case.forecast is not None
        assert case.forecast.issued == case.season.day(case.age_days)


# ---- the forecast job's feed ------------------------------------------------------------------


def _field(field_id: str, farm: str, where: tuple[float, float] | None) -> FieldInfo:
    latitude, longitude = where if where is not None else (None, None)
    return FieldInfo(
        field_id, farm, "KU50", "loam", date(2026, 4, 1), 10.0, "coop", latitude, longitude
    )


class FakeFeed:
    """A feed answering from a table: farm id -> a forecast or the error to raise."""

    def __init__(self, answers: dict[str, WeatherForecast | Exception]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, float, float]] = []

    def forecast(self, farm_id: str, latitude: float, longitude: float) -> WeatherForecast:
        self.asked.append((farm_id, latitude, longitude))
        answer = self.answers[farm_id]
        if isinstance(answer, Exception):
            raise answer
        return answer


TODAY = date(2026, 12, 3)


def _weather(farm: str, issued: date = TODAY) -> WeatherForecast:
    return WeatherForecast(farm, issued, np.ones((16, 3)), source="test")


def test_a_farm_is_asked_once_at_its_fields_mean_location() -> None:
    fields = [
        _field("a1", "farm-a", (14.9, 101.9)),
        _field("a2", "farm-a", (15.1, 102.3)),
        _field("a3", "farm-a", None),
        _field("b1", "farm-b", None),
    ]
    locations = farm_locations(fields)
    assert locations["farm-a"] == pytest.approx((15.0, 102.1))
    assert locations["farm-b"] is None

    feed = FakeFeed({"farm-a": _weather("farm-a")})
    report = ForecastReport()
    got = farm_forecasts(feed, fields, TODAY, report)

    assert list(got) == ["farm-a"]
    ((farm, latitude, longitude),) = feed.asked
    assert farm == "farm-a"
    assert (latitude, longitude) == pytest.approx((15.0, 102.1))
    assert report.no_coordinates == ["farm-b"]
    assert report.feed_failures == []


def test_a_failing_feed_leaves_those_farms_without_a_forecast_and_says_why() -> None:
    fields = [_field(f"f{i}", f"farm-{i}", (15.0, 102.0)) for i in range(3)]
    feed = FakeFeed(
        {
            "farm-0": WeatherFeedError("Open-Meteo answered 503: down", retriable=True),
            "farm-1": WeatherFeedError("daily.precipitation_sum is missing"),
            "farm-2": _weather("farm-2"),
        }
    )
    report = ForecastReport()
    got = farm_forecasts(feed, fields, TODAY, report)
    assert list(got) == ["farm-2"]
    assert report.feed_failures == [
        "farm-0: Open-Meteo answered 503: down",
        "farm-1: daily.precipitation_sum is missing",
    ]


def test_an_unexpected_error_in_the_feed_does_not_stop_the_run() -> None:
    feed = FakeFeed({"farm-0": KeyError("daily"), "farm-1": _weather("farm-1")})
    fields = [_field("f0", "farm-0", (15.0, 102.0)), _field("f1", "farm-1", (15.0, 102.0))]
    report = ForecastReport()
    assert list(farm_forecasts(feed, fields, TODAY, report)) == ["farm-1"]
    assert report.feed_failures == ["farm-0: KeyError('daily')"]


def test_a_feed_that_is_down_is_not_asked_for_every_farm() -> None:
    n = FEED_GIVE_UP_AFTER + 3
    down = WeatherFeedError("timed out", retriable=True)
    feed = FakeFeed({f"farm-{i}": down for i in range(n)})
    fields = [_field(f"f{i}", f"farm-{i}", (15.0, 102.0)) for i in range(n)]
    report = ForecastReport()
    assert farm_forecasts(feed, fields, TODAY, report) == {}
    assert len(feed.asked) == FEED_GIVE_UP_AFTER
    assert len(report.feed_failures) == n
    assert report.feed_failures[-1].endswith(f"not asked: it failed for {FEED_GIVE_UP_AFTER} farms")


def test_a_forecast_that_starts_after_the_issue_day_is_not_used() -> None:
    """It would be refused by the features for the whole batch (it knows days the job has not
    reached), so it is dropped here, for its farm only."""
    feed = FakeFeed({"farm-0": _weather("farm-0", TODAY + timedelta(days=1))})
    report = ForecastReport()
    assert farm_forecasts(feed, [_field("f0", "farm-0", (15.0, 102.0))], TODAY, report) == {}
    assert "after this run's issue day 2026-12-03" in report.feed_failures[0]


def test_the_feed_setting_is_off_by_default_and_refuses_a_url_without_a_scheme(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ISANFARM_WEATHER_FEED_URL", raising=False)
    assert ModelSettings().weather_feed_url is None
    assert weather_feed(ModelSettings()) is None

    monkeypatch.setenv("ISANFARM_WEATHER_FEED_URL", "api.open-meteo.com")
    with pytest.raises(ValidationError, match="weather_feed_url") as refused:
        ModelSettings()
    assert "https://api.open-meteo.com" in str(refused.value)

    monkeypatch.setenv("ISANFARM_WEATHER_FEED_URL", "http://meteo.coop.lan:8080/")
    monkeypatch.setenv("ISANFARM_WEATHER_FEED_TIMEOUT_S", "2.5")
    feed = weather_feed(ModelSettings())
    assert isinstance(feed, OpenMeteoFeed)
    assert feed.base_url == "http://meteo.coop.lan:8080"
    feed.close()
