"""Korat weather, day by day and within the day, deterministic under a seed.

Monthly normals below are a modelling choice shaped to the ranges collected in
shared/DOMAIN.md from the Thai Meteorological Department's descriptions of Nakhon Ratchasima:
about 1,060 mm of rain on about 100 rain days a year, wettest in September, almost dry
November to February, daily maxima near 36-37 degC in April, cool-season minima 17 degC,
relative humidity 60-65% dry season and 75-82% rainy season, global radiation 15-22 MJ/m2/day.
They are not a station record. The issue "Simulators" replaces this minimal generator with one
that has dry spells, storms and year-to-year variability.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: Thailand is UTC+7 all year; the diurnal cycle follows local solar time.
ICT = timedelta(hours=7)
DAY_MS = 86_400_000


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


@dataclass(frozen=True, slots=True)
class DailyWeather:
    rain_mm: float
    tmax_c: float
    tmin_c: float
    rh_mean_pct: float
    radiation_mj: float


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
    wet spells and temperature anomalies carry over from one day to the next.
    """

    def __init__(self, seed: int, first_day: int) -> None:
        self._rng = random.Random(seed)
        self._days: dict[int, DailyWeather] = {}
        self.first_day = first_day
        self._last_day = first_day - 1
        self._wet = False
        self._temp_anomaly = 0.0

    def day(self, day_index: int) -> DailyWeather:
        if day_index < self.first_day:
            raise ValueError(f"day {day_index} is before this weather's first day {self.first_day}")
        while self._last_day < day_index:
            self._last_day += 1
            self._days[self._last_day] = self._next_day(self._last_day)
        return self._days[day_index]

    def sample(self, ts_ms: int, since_ms: int) -> WeatherSample:
        local_ms = ts_ms + int(ICT.total_seconds() * 1000)
        day = self.day(local_ms // DAY_MS)
        hour = (local_ms % DAY_MS) / 3_600_000
        return WeatherSample(
            air_temperature_c=_diurnal_temperature(day, hour),
            relative_humidity_pct=_diurnal_humidity(day, hour),
            solar_radiation_w_m2=_solar_radiation(day, hour),
            rain_mm=self._rain_between(since_ms, ts_ms),
        )

    def _next_day(self, day_index: int) -> DailyWeather:
        normal = KORAT_NORMALS[_month(day_index) - 1]
        days_in_month = 30.4
        p_wet = normal.rain_days / days_in_month
        # Wet days cluster: a wet day makes the next one likelier (first-order Markov chain).
        p = min(0.95, p_wet * 1.6) if self._wet else p_wet * 0.8
        self._wet = self._rng.random() < p
        mean_wet_mm = normal.rain_mm / max(normal.rain_days, 0.5)
        rain = self._rng.expovariate(1 / mean_wet_mm) if self._wet else 0.0
        self._temp_anomaly = 0.7 * self._temp_anomaly + self._rng.gauss(0, 0.8)
        cooling = 2.0 if rain > 10 else 0.0
        tmax = normal.tmax_c + self._temp_anomaly - cooling
        tmin = min(normal.tmin_c + 0.5 * self._temp_anomaly, tmax - 4)
        rh = min(97.0, normal.rh_pct + (8 if self._wet else -2) + self._rng.gauss(0, 3))
        radiation = (
            normal.radiation_mj * (0.65 if self._wet else 1.05) * self._rng.uniform(0.9, 1.1)
        )
        return DailyWeather(round(rain, 1), tmax, tmin, rh, radiation)

    def _rain_between(self, since_ms: int, ts_ms: int) -> float:
        """Rain in (since, ts]: each day's total falls in a storm window 14:00-20:00 local."""
        total = 0.0
        offset = int(ICT.total_seconds() * 1000)
        start, end = since_ms + offset, ts_ms + offset
        for day_index in range(start // DAY_MS, end // DAY_MS + 1):
            storm_start = day_index * DAY_MS + 14 * 3_600_000
            storm_end = storm_start + 6 * 3_600_000
            overlap = min(end, storm_end) - max(start, storm_start)
            if overlap > 0:
                total += self.day(day_index).rain_mm * overlap / (storm_end - storm_start)
        return total


def _month(day_index: int) -> int:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day_index)).month


def _diurnal_temperature(day: DailyWeather, hour: float) -> float:
    """Minimum at 06:00, maximum at 14:00 local: a rising then a slower falling half-cosine."""
    if 6 <= hour < 14:
        phase = -math.cos(math.pi * (hour - 6) / 8)
    else:
        phase = math.cos(math.pi * ((hour - 14) % 24) / 16)
    amplitude = (day.tmax_c - day.tmin_c) / 2
    return (day.tmax_c + day.tmin_c) / 2 + amplitude * phase


def _diurnal_humidity(day: DailyWeather, hour: float) -> float:
    """Humidity runs opposite to temperature: highest at dawn, lowest mid-afternoon."""
    swing = 15.0 * math.cos(math.pi * (hour - 14) / 12)
    return max(20.0, min(100.0, day.rh_mean_pct - swing))


def _solar_radiation(day: DailyWeather, hour: float) -> float:
    """Half-sine between 06:00 and 18:00 whose integral is the day's MJ/m2."""
    if not 6 <= hour <= 18:
        return 0.0
    peak_w_m2 = day.radiation_mj * 1e6 / (12 * 3600 * 2 / math.pi)
    return peak_w_m2 * math.sin(math.pi * (hour - 6) / 12)


def local_day(ts_ms: int) -> int:
    """Days since 1970-01-01 in Thai time, the index ``KoratWeather.day`` takes."""
    return (ts_ms + int(ICT.total_seconds() * 1000)) // DAY_MS
