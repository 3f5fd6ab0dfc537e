"""A simulated weather-forecast feed: what a forecast service would have said of a farm's weather.

Tests and the benchmark know each simulated farm's true weather; a forecast of it must be as
good as real ones and no better, or the forecaster would learn to trust a feed more than a real
one deserves. So a forecast here is the truth seen through a lead-dependent skill
(``models.weatherfeed.TROPICAL_SKILL``, which cites what it is shaped on: daily rain useful for a
few days, temperature for longer, nothing past each variable's horizon), built as a calibrated
probabilistic forecast would be::

    forecast = clim + rho^2 (truth - clim) + rho sqrt(1 - rho^2) sd noise
    spread   = sd sqrt(1 - rho^2)

with ``clim`` and ``sd`` the Korat generator's daily mean and standard deviation for the month
and ``rho`` the skill at that lead. The forecast then correlates ``rho`` with the truth, its
error has standard deviation ``spread`` and no bias (it is the truth's expectation given the
forecast), and where ``rho`` is 0 it is climatology itself: no better than knowing nothing.
Errors are independent from day to day and variable to variable, and rain and radiation are
floored at 0 (modelling choices: real errors of neighbouring days are correlated).
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np

from agronomy.field import DailySource
from agronomy.weather import KoratWeather, day_index
from models.daily import RADIATION, RAIN, TMEAN, FieldSeason, FloatArray
from models.weatherfeed import MAX_FORECAST_DAYS, TROPICAL_SKILL, LeadSkill, WeatherForecast

#: Years of generated weather the climatology is taken from (enough for a December with one rain
#: day a month to have a few hundred rain days behind its statistics).
CLIMATE_YEARS = 40
#: A feed with no skill at any lead: every forecast is the climatology (a control, in tests).
NO_SKILL = (LeadSkill(0.0, 1.0, 0),) * 3
_WEATHER_COLUMNS = [RAIN, TMEAN, RADIATION]


@functools.cache
def korat_climatology() -> tuple[FloatArray, FloatArray]:
    """Mean and standard deviation of daily rain, mean temperature and radiation per calendar
    month (12, 3) each, of the Korat weather generator: the "nothing known" forecast."""
    first = day_index(date(1991, 1, 1))
    days = (date(1991 + CLIMATE_YEARS, 1, 1) - date(1991, 1, 1)).days
    weather = KoratWeather(20_240_611, first)
    values = np.array(
        [
            (w.rain_mm, w.tmean_c, w.radiation_mj)
            for w in (weather.day(first + d) for d in range(days))
        ]
    )
    months = (np.datetime64("1991-01-01") + np.arange(days)).astype("datetime64[M]").astype(int)
    months %= 12
    mean = np.array([values[months == m].mean(axis=0) for m in range(12)])
    sd = np.array([values[months == m].std(axis=0) for m in range(12)])
    return mean, sd


class SimulatedFeed:
    """Issues forecasts of a known truth. ``skill``: one ``LeadSkill`` per forecast column
    (``NO_SKILL`` for a climatology-only control); ``horizon``: lead days per forecast; ``seed``:
    the same seed, farm and issue day give the same forecast."""

    def __init__(
        self,
        skill: Sequence[LeadSkill] = TROPICAL_SKILL,
        horizon: int = MAX_FORECAST_DAYS,
        seed: int = 0,
    ) -> None:
        if len(skill) != 3:
            raise ValueError(f"skill needs one LeadSkill per rain, tmean, radiation: {len(skill)}")
        if horizon < 1:
            raise ValueError(f"horizon {horizon} must be at least 1 lead day")
        self.skill = tuple(skill)
        self.horizon = horizon
        self.seed = seed

    def forecast(self, farm_id: str, issued: date, truth: FloatArray) -> WeatherForecast:
        """The forecast issued on ``issued`` for lead days 1..H, H = ``horizon`` or fewer where
        ``truth`` (rows: rain, tmean, radiation from ``issued`` on) ends sooner."""
        days = min(self.horizon, len(truth))
        if days < 1:
            raise ValueError(f"no true weather from {issued} on to forecast: pass at least a day")
        truth = np.asarray(truth[:days], dtype=float)
        mean, sd = korat_climatology()
        months = [(issued + timedelta(days=k)).month - 1 for k in range(days)]
        clim, clim_sd = mean[months], sd[months]
        lead = np.arange(1, days + 1)
        rho = np.column_stack([s.correlation(lead) for s in self.skill])
        noise = self._rng(farm_id, issued).standard_normal(truth.shape)
        values = clim + rho**2 * (truth - clim) + rho * np.sqrt(1 - rho**2) * clim_sd * noise
        values[:, 0] = np.maximum(values[:, 0], 0.0)
        values[:, 2] = np.maximum(values[:, 2], 0.0)
        spread = clim_sd * np.sqrt(1 - rho**2)
        return WeatherForecast(farm_id, issued, values, spread, source="simulated")

    def _rng(self, farm_id: str, issued: date) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(farm_id.encode()), issued.toordinal()])


def truth_from_weather(weather: DailySource, issued: date, days: int) -> FloatArray:
    """(days, 3) true rain, mean temperature and radiation from ``issued`` on."""
    first = day_index(issued)
    rows = (weather.day(first + k) for k in range(days))
    return np.array([(w.rain_mm, w.tmean_c, w.radiation_mj) for w in rows]).reshape(-1, 3)


def truth_from_season(season: FieldSeason, issued: date, days: int) -> FloatArray:
    """The true weather from ``issued`` on as a simulated season's station recorded it (in the
    standard world the station measures the generator's weather exactly); fewer rows where the
    season's data end sooner."""
    start = (issued - season.planted).days
    if start < 0:
        raise ValueError(f"{issued} is before field {season.field_id!r} was planted")
    return np.asarray(season.values[start : start + days][:, _WEATHER_COLUMNS])
