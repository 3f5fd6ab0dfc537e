"""Korat weather, day by day and within the day, deterministic under a seed.

A stochastic weather generator in the WGEN tradition (Richardson 1981): whether it rains is a
first-order Markov chain (wet days cluster, dry spells persist), how much falls is drawn from a
skewed gamma distribution (many light showers, a few storm days), and temperature carries an
autocorrelated anomaly. Each calendar year draws its own rain factor and temperature offset, so
one seed gives wet years and dry years rather than one fixed year repeated.

Monthly normals are a modelling choice shaped to the ranges collected in shared/DOMAIN.md
("The region", from the Thai Meteorological Department's descriptions of Nakhon Ratchasima):
about 1,060 mm of rain on about 100 rain days a year, a lull in June-July, wettest in
September, almost dry November to February, daily maxima near 36-37 degC in April, cool-season
minima near 17 degC, relative humidity 60-65% dry season and 75-82% rainy season, global
radiation 15-22 MJ/m2/day. They are not a station record.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, timedelta

from agronomy.units import DAY_MS, EPOCH, HOUR_MS, THAI_UTC_OFFSET_MS, thai_day

#: The day index ``KoratWeather.day`` takes for an instant (UTC ms): its Thai day.
local_day = thai_day


@dataclass(frozen=True, slots=True)
class MonthNormal:
    rain_mm: float
    rain_days: float
    tmax_c: float
    tmin_c: float
    rh_pct: float
    radiation_mj: float


#: January..December.
KORAT_NORMALS: tuple[MonthNormal, ...] = (
    MonthNormal(5, 1, 30.5, 17.0, 63, 17.0),
    MonthNormal(20, 2, 33.0, 19.5, 60, 18.5),
    MonthNormal(45, 4, 35.5, 22.5, 60, 20.0),
    MonthNormal(70, 7, 36.5, 24.5, 64, 21.0),
    MonthNormal(150, 13, 35.0, 25.0, 72, 20.0),
    MonthNormal(110, 12, 34.0, 25.0, 74, 18.5),
    MonthNormal(120, 13, 33.5, 24.5, 75, 18.0),
    MonthNormal(150, 16, 33.0, 24.0, 78, 17.5),
    MonthNormal(240, 18, 32.0, 23.5, 82, 16.5),
    MonthNormal(120, 11, 31.0, 22.5, 78, 16.5),
    MonthNormal(25, 3, 30.0, 20.0, 70, 16.5),
    MonthNormal(5, 1, 29.0, 17.0, 65, 16.0),
)

#: Lag-1 autocorrelation of wet/dry days (modelling choice; tropical stations typically show
#: 0.2-0.4): p(wet | wet) = pi + r (1 - pi), p(wet | dry) = pi (1 - r) keep the monthly rain-day
#: count at its normal while making spells.
WET_PERSISTENCE = 0.3
#: Gamma shape of wet-day amounts (modelling choice; < 1 gives the skew of daily tropical rain,
#: so a 240 mm September holds both 2 mm showers and > 90 mm "very heavy" storm days).
RAIN_GAMMA_SHAPE = 0.7
#: Year-to-year spread of annual rain, as a lognormal sigma (modelling choice: about +-15%,
#: i.e. 800-1,400 mm years around the ~1,060 mm normal).
YEAR_RAIN_SIGMA = 0.15
YEAR_TEMP_SD_C = 0.4
#: Reference ET from global radiation: 0.245 mm per MJ/m2 gives 3.7-5.4 mm/day at 15-22 MJ, the
#: range DOMAIN.md gives for Korat (modelling choice, a radiation-only simplification).
ET0_MM_PER_MJ = 0.245


@dataclass(frozen=True, slots=True)
class DailyWeather:
    rain_mm: float
    tmax_c: float
    tmin_c: float
    rh_mean_pct: float
    radiation_mj: float

    @property
    def tmean_c(self) -> float:
        return (self.tmax_c + self.tmin_c) / 2

    @property
    def et0_mm(self) -> float:
        """Reference evapotranspiration (FAO-56 grass reference), radiation-based."""
        return ET0_MM_PER_MJ * self.radiation_mj


@dataclass(frozen=True, slots=True)
class WeatherSample:
    """Weather at one instant; rain is what fell since ``since_ms``."""

    air_temperature_c: float
    relative_humidity_pct: float
    solar_radiation_w_m2: float
    rain_mm: float


class KoratWeather:
    """Daily weather generated in date order from a seed; same seed, same weather.

    Days are generated forward from ``first_day`` (days since 1970-01-01, Thai time) because
    wet spells, temperature anomalies and the year's character carry over from day to day.
    Fields of one farm share one ``KoratWeather``: neighbours get the same rain.
    """

    def __init__(self, seed: int, first_day: int) -> None:
        self._rng = random.Random(seed)
        self._days: dict[int, DailyWeather] = {}
        self.first_day = first_day
        self._last_day = first_day - 1
        self._wet = False
        self._temp_anomaly = 0.0
        self._year = -1
        self._year_rain = 1.0
        self._year_temp = 0.0

    def day(self, day_index: int) -> DailyWeather:
        if day_index < self.first_day:
            raise ValueError(f"day {day_index} is before this weather's first day {self.first_day}")
        while self._last_day < day_index:
            self._last_day += 1
            self._days[self._last_day] = self._next_day(self._last_day)
        return self._days[day_index]

    def sample(self, ts_ms: int, since_ms: int) -> WeatherSample:
        day = self.day(local_day(ts_ms))
        hour = (ts_ms + THAI_UTC_OFFSET_MS) % DAY_MS / HOUR_MS
        return WeatherSample(
            air_temperature_c=diurnal_temperature(day, hour),
            relative_humidity_pct=diurnal_humidity(day, hour),
            solar_radiation_w_m2=solar_radiation(day, hour),
            rain_mm=self._rain_between(since_ms, ts_ms),
        )

    def _next_day(self, day_index: int) -> DailyWeather:
        when = EPOCH + timedelta(days=day_index)
        if when.year != self._year:
            self._year = when.year
            self._year_rain = self._rng.lognormvariate(-(YEAR_RAIN_SIGMA**2) / 2, YEAR_RAIN_SIGMA)
            self._year_temp = self._rng.gauss(0, YEAR_TEMP_SD_C)
        normal = KORAT_NORMALS[when.month - 1]
        p_wet = min(0.95, normal.rain_days / 30.4)
        p = p_wet + WET_PERSISTENCE * (1 - p_wet) if self._wet else p_wet * (1 - WET_PERSISTENCE)
        self._wet = self._rng.random() < p
        mean_wet_mm = normal.rain_mm / max(normal.rain_days, 0.5) * self._year_rain
        rain = (
            self._rng.gammavariate(RAIN_GAMMA_SHAPE, mean_wet_mm / RAIN_GAMMA_SHAPE)
            if self._wet
            else 0.0
        )
        self._temp_anomaly = 0.7 * self._temp_anomaly + self._rng.gauss(0, 0.8)
        anomaly = self._temp_anomaly + self._year_temp
        cooling = min(3.0, rain / 10) if rain > 5 else 0.0
        tmax = normal.tmax_c + anomaly - cooling
        tmin = min(normal.tmin_c + 0.5 * anomaly, tmax - 4)
        rh = min(97.0, normal.rh_pct + (8 if self._wet else -2) + self._rng.gauss(0, 3))
        radiation = (
            normal.radiation_mj * (0.65 if self._wet else 1.05) * self._rng.uniform(0.9, 1.1)
        )
        return DailyWeather(round(rain, 1), tmax, tmin, rh, radiation)

    def _rain_between(self, since_ms: int, ts_ms: int) -> float:
        """Rain in (since, ts]: each day's total falls in a storm window 14:00-20:00 local."""
        total = 0.0
        start, end = since_ms + THAI_UTC_OFFSET_MS, ts_ms + THAI_UTC_OFFSET_MS
        for day_index in range(start // DAY_MS, end // DAY_MS + 1):
            storm_start = day_index * DAY_MS + 14 * HOUR_MS
            storm_end = storm_start + 6 * HOUR_MS
            overlap = min(end, storm_end) - max(start, storm_start)
            if overlap > 0:
                total += self.day(day_index).rain_mm * overlap / (storm_end - storm_start)
        return total


def diurnal_temperature(day: DailyWeather, hour: float) -> float:
    """Minimum at 06:00, maximum at 14:00 local: a rising then a slower falling half-cosine."""
    if 6 <= hour < 14:
        phase = -math.cos(math.pi * (hour - 6) / 8)
    else:
        phase = math.cos(math.pi * ((hour - 14) % 24) / 16)
    amplitude = (day.tmax_c - day.tmin_c) / 2
    return (day.tmax_c + day.tmin_c) / 2 + amplitude * phase


def diurnal_humidity(day: DailyWeather, hour: float) -> float:
    """Humidity runs opposite to temperature: highest at dawn, lowest mid-afternoon."""
    swing = 15.0 * math.cos(math.pi * (hour - 14) / 12)
    return max(20.0, min(100.0, day.rh_mean_pct - swing))


def solar_radiation(day: DailyWeather, hour: float) -> float:
    """Half-sine between 06:00 and 18:00 whose integral is the day's MJ/m2."""
    if not 6 <= hour <= 18:
        return 0.0
    peak_w_m2 = day.radiation_mj * 1e6 / (12 * 3600 * 2 / math.pi)
    return peak_w_m2 * math.sin(math.pi * (hour - 6) / 12)


def day_index(when: date) -> int:
    """The ``KoratWeather.day`` index of a calendar date."""
    return (when - EPOCH).days


def day_date(index: int) -> date:
    return EPOCH + timedelta(days=index)
