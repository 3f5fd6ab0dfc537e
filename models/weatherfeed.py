"""A farm's daily weather forecast, and the adapter for the public forecast service it comes from.

Why the forecaster wants one: starch at harvest follows the last weeks' rain (wet soil lowers
the roots' dry-matter content within days), which no model knows months ahead but a weather
forecast knows for a few days. ``models.cropfeatures`` runs the crop model's weather members
through the forecast's days (``WeatherForecast``), then on the weather generator as before.

The service is Open-Meteo's forecast API (https://open-meteo.com/en/docs): free, keyless, a
16-day daily forecast for any coordinate. Its response, for the request ``request_params``
builds, is one JSON object::

    {"latitude": 14.97, "longitude": 102.1, "generationtime_ms": 0.2,
     "utc_offset_seconds": 25200, "timezone": "Asia/Bangkok", "timezone_abbreviation": "GMT+7",
     "elevation": 187.0,
     "daily_units": {"time": "iso8601", "precipitation_sum": "mm", "temperature_2m_max": "°C",
                     ..., "shortwave_radiation_sum": "MJ/m²"},
     "daily": {"time": ["2024-12-05", ...], "precipitation_sum": [0.0, ...], ...}}

with one list per variable, as long as ``time``, and ``null`` where a model has no value; a
refused request answers ``{"error": true, "reason": "..."}`` with HTTP 400 (bad parameters) or
429 (rate limit; no Retry-After header is sent).

Lead days. Lead day 1 is the issue day itself: the forecast job runs on a day whose sensor data
end the day before, and Open-Meteo's first daily row (``timezone=Asia/Bangkok``) is that local
day. Lead day k is ``issued + k - 1``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import numpy as np

from agronomy.units import THAI_TIMEZONE_NAME
from models.daily import FloatArray
from models.errors import ModelError

#: Columns of ``WeatherForecast.values`` and ``.spread``: the crop model's weather, in its order
#: (``models.cropmodel.WEATHER_COLUMNS``).
FORECAST_COLUMNS = ("rain_mm", "tmean_c", "radiation_mj")
OPEN_METEO_URL = "https://api.open-meteo.com"
#: Thai local days: daily sums run midnight to midnight in Asia/Bangkok (UTC+7).
TIMEZONE = THAI_TIMEZONE_NAME
#: Open-Meteo's longest forecast.
MAX_FORECAST_DAYS = 16
#: The daily variables asked for, and the unit each must come in (``daily_units``).
DAILY_UNITS = {
    "precipitation_sum": "mm",
    "temperature_2m_max": "°C",
    "temperature_2m_min": "°C",
    "temperature_2m_mean": "°C",
    "shortwave_radiation_sum": "MJ/m²",
}


class WeatherFeedError(ModelError):
    """A forecast could not be had or read. ``retriable``: asking again later may help (rate
    limit, outage, timeout); False when the request or the response itself is wrong."""

    def __init__(self, message: str, retriable: bool = False) -> None:
        super().__init__(message)
        self.retriable = retriable


@dataclass(frozen=True, slots=True)
class WeatherForecast:
    """One farm's daily forecast: ``values`` (lead days, 3) in ``FORECAST_COLUMNS`` order for
    lead days 1..H (lead day k is ``issued + k - 1``), and ``spread`` of the same shape (the
    standard deviation of each day's forecast error) when the source gives one. A source with
    no spread (a deterministic model such as Open-Meteo's) is a raw forecast: the forecaster
    weighs it by the skill published verification gives such forecasts (``TROPICAL_SKILL``)."""

    farm_id: str
    issued: date
    values: FloatArray
    spread: FloatArray | None = None
    source: str = ""

    def __post_init__(self) -> None:
        where = f"forecast for farm {self.farm_id!r} issued {self.issued}"
        _check_rows(where, "values", self.values)
        if self.spread is not None:
            _check_rows(where, "spread", self.spread)
            if self.spread.shape != self.values.shape:
                raise WeatherFeedError(
                    f"{where}: spread has shape {self.spread.shape}, values {self.values.shape}: "
                    "give one spread per value, or none"
                )
            if (self.spread < 0).any():
                raise WeatherFeedError(f"{where}: a spread is negative: spreads are std devs")
        if (self.values[:, 0] < 0).any() or (self.values[:, 2] < 0).any():
            raise WeatherFeedError(f"{where}: negative rain or radiation: check the source")

    @property
    def horizon(self) -> int:
        """H, the last lead day."""
        return int(self.values.shape[0])

    def day(self, lead: int) -> date:
        """The date of lead day ``lead`` (1-based)."""
        return self.issued + timedelta(days=lead - 1)


def _check_rows(where: str, name: str, rows: FloatArray) -> None:
    if rows.ndim != 2 or rows.shape[1] != len(FORECAST_COLUMNS) or not len(rows):
        raise WeatherFeedError(
            f"{where}: {name} has shape {rows.shape}, need (lead days >= 1, 3) in the order "
            f"{', '.join(FORECAST_COLUMNS)}"
        )
    if not np.isfinite(rows).all():
        raise WeatherFeedError(f"{where}: {name} holds NaN or infinity: drop those days")


@dataclass(frozen=True, slots=True)
class LeadSkill:
    """How well a raw forecast of one variable matches the truth at each lead: the correlation
    of lead day 1 with what happened, decaying with an e-folding time, and nothing at all past
    ``horizon_days`` (there the forecast is no better than climatology)."""

    day1: float
    efolding_days: float
    horizon_days: int

    def correlation(self, lead: np.ndarray) -> FloatArray:
        lead = np.asarray(lead, dtype=float)
        rho = self.day1 * np.exp(-(lead - 1) / self.efolding_days)
        return np.asarray(np.where((lead >= 1) & (lead <= self.horizon_days), rho, 0.0))


#: Skill of a raw daily forecast in the tropics, per ``FORECAST_COLUMNS`` variable. What it is
#: shaped on: daily rainfall skill in the tropics is low and short-lived. Vogel et al. (2018,
#: Weather and Forecasting 33, "Skill of global raw and postprocessed ensemble predictions of
#: rainfall over northern tropical Africa") and Vogel et al. (2020, Weather and Forecasting 35,
#: "... of rainfall in the tropics") found raw ensembles' 1-day rainfall no better than
#: climatology over much of the tropics and postprocessed ones only modestly better, the
#: skill being in the first days; ECMWF's annual verification reports (Haiden et al., "Evaluation
#: of ECMWF forecasts", ECMWF Technical Memoranda, e.g. 880, 2021) show tropical precipitation
#: skill well below the extratropics and 2 m temperature skill lasting much longer. Radiation
#: follows cloud, hence rain. The numbers themselves (day-1 correlations 0.6 / 0.9 / 0.6,
#: e-folding 4 / 6 / 4 days, nothing past 14 / 16 / 12 days) are modelling choices consistent
#: with those findings, not values read from them.
TROPICAL_SKILL = (
    LeadSkill(day1=0.6, efolding_days=4.0, horizon_days=14),
    LeadSkill(day1=0.9, efolding_days=6.0, horizon_days=16),
    LeadSkill(day1=0.6, efolding_days=4.0, horizon_days=12),
)


# ---- Open-Meteo ------------------------------------------------------------------------------


def request_params(
    latitude: float, longitude: float, days: int = MAX_FORECAST_DAYS
) -> dict[str, Any]:
    """The query of ``/v1/forecast`` for a farm's daily forecast."""
    if not 1 <= days <= MAX_FORECAST_DAYS:
        raise WeatherFeedError(f"forecast_days {days} must be 1..{MAX_FORECAST_DAYS}")
    return {
        "latitude": latitude,
        "longitude": longitude,
        "daily": ",".join(DAILY_UNITS),
        "timezone": TIMEZONE,
        "forecast_days": days,
    }


def parse_open_meteo(farm_id: str, body: Mapping[str, Any]) -> WeatherForecast:
    """A ``WeatherForecast`` from an Open-Meteo forecast response (see the module docstring).
    Mean temperature is ``temperature_2m_mean``; where only that is null the day's max/min
    midpoint stands in for it. Any other null is refused: a forecast with holes in it is
    better not used than silently filled."""
    where = f"Open-Meteo forecast for farm {farm_id!r}"
    if body.get("error"):
        raise WeatherFeedError(f"{where}: the service refused: {body.get('reason', body)}")
    units = _mapping(body, "daily_units", where)
    daily = _mapping(body, "daily", where)
    if body.get("timezone") != TIMEZONE:
        raise WeatherFeedError(
            f"{where}: timezone is {body.get('timezone')!r}, need {TIMEZONE!r} (local days): "
            f"ask with timezone={TIMEZONE}"
        )
    days = _dates(daily, units, where)
    columns = {name: _column(daily, units, name, len(days), where) for name in DAILY_UNITS}
    tmean = columns["temperature_2m_mean"]
    midpoint = (columns["temperature_2m_max"] + columns["temperature_2m_min"]) / 2
    tmean = np.where(np.isnan(tmean), midpoint, tmean)
    values = np.column_stack(
        [columns["precipitation_sum"], tmean, columns["shortwave_radiation_sum"]]
    )
    for j, name in enumerate(
        ("precipitation_sum", "temperature_2m_mean", "shortwave_radiation_sum")
    ):
        missing = np.flatnonzero(np.isnan(values[:, j]))
        if len(missing):
            raise WeatherFeedError(
                f"{where}: daily.{name} is null on {days[missing[0]]} ({len(missing)} day(s)): "
                "the service has no value there yet; ask again later or use fewer forecast_days"
            )
    return WeatherForecast(farm_id, days[0], values, None, source="open-meteo")


def _mapping(body: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = body.get(key)
    if not isinstance(value, Mapping):
        raise WeatherFeedError(
            f"{where}: no {key!r} object in the response: ask with daily={','.join(DAILY_UNITS)}"
        )
    return value


def _dates(daily: Mapping[str, Any], units: Mapping[str, Any], where: str) -> list[date]:
    if units.get("time") != "iso8601":
        raise WeatherFeedError(
            f"{where}: daily_units.time is {units.get('time')!r}, need 'iso8601': "
            "leave timeformat at its default"
        )
    times = daily.get("time")
    if not isinstance(times, list) or not times:
        raise WeatherFeedError(f"{where}: daily.time is missing or empty")
    try:
        days = [date.fromisoformat(t) for t in times]
    except (TypeError, ValueError):
        raise WeatherFeedError(f"{where}: daily.time holds a non-date: {times[:3]}...") from None
    if any((b - a).days != 1 for a, b in itertools.pairwise(days)):
        raise WeatherFeedError(f"{where}: daily.time is not consecutive days: {times}")
    return days


def _column(
    daily: Mapping[str, Any], units: Mapping[str, Any], name: str, n: int, where: str
) -> FloatArray:
    """One daily variable as floats, NaN for null; its unit checked."""
    if name not in daily:
        raise WeatherFeedError(
            f"{where}: daily.{name} is missing: ask for it with daily={','.join(DAILY_UNITS)}"
        )
    unit, expected = units.get(name), DAILY_UNITS[name]
    if unit != expected:
        raise WeatherFeedError(
            f"{where}: daily.{name} is in {unit!r}, need {expected!r}: leave "
            "temperature_unit and precipitation_unit at their defaults"
        )
    raw = daily[name]
    if not isinstance(raw, list) or len(raw) != n:
        raise WeatherFeedError(
            f"{where}: daily.{name} has {len(raw) if isinstance(raw, list) else 'no'} values "
            f"for {n} days"
        )
    out = np.empty(n)
    for i, v in enumerate(raw):
        if v is None:
            out[i] = math.nan
        elif isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            out[i] = float(v)
        else:
            raise WeatherFeedError(f"{where}: daily.{name}[{i}] is {v!r}, not a number")
    return out


class OpenMeteoFeed:
    """Fetches farms' forecasts from Open-Meteo's forecast API. ``base_url`` points at another
    server speaking the same API (a self-hosted Open-Meteo, a test's stand-in); ``transport``
    is for tests (``httpx.MockTransport``)."""

    def __init__(
        self,
        base_url: str = OPEN_METEO_URL,
        timeout_s: float = 10.0,
        days: int = MAX_FORECAST_DAYS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        request_params(0.0, 0.0, days)  # refuse a bad day count now, not at the first fetch
        self.base_url = base_url
        self.days = days
        self._http = httpx.Client(base_url=base_url, timeout=timeout_s, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OpenMeteoFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def forecast(self, farm_id: str, latitude: float, longitude: float) -> WeatherForecast:
        params = request_params(latitude, longitude, self.days)
        try:
            response = self._http.get("/v1/forecast", params=params)
        except httpx.HTTPError as exc:
            raise WeatherFeedError(
                f"Open-Meteo at {self.base_url} for farm {farm_id!r}: {exc!r}", retriable=True
            ) from None
        if response.status_code != 200:
            raise WeatherFeedError(
                f"Open-Meteo at {self.base_url} for farm {farm_id!r} answered "
                f"{response.status_code}: {_reason(response)}",
                retriable=response.status_code == 429 or response.status_code >= 500,
            )
        try:
            body = response.json()
        except ValueError:
            raise WeatherFeedError(
                f"Open-Meteo at {self.base_url} for farm {farm_id!r}: the answer is not JSON: "
                f"{response.text[:120]!r}",
                retriable=True,
            ) from None
        if not isinstance(body, Mapping):
            raise WeatherFeedError(f"Open-Meteo for farm {farm_id!r}: the answer is not an object")
        return parse_open_meteo(farm_id, body)


def _reason(response: httpx.Response) -> str:
    """Open-Meteo's own words for a refusal (``{"error": true, "reason": ...}``)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, Mapping) and "reason" in body:
        return str(body["reason"])
    return response.text[:200]
