"""A cassava field's sensor node: soil moisture at three depths, soil and air, rain, sun, battery.

The field behind the probes is ``agronomy.field`` (layered soil water and a daily crop): it is
spun up from before planting to the node's first reading, then stepped at every reading, so the
probes see rain soak in and the crop drink the soil dry. Probe noise is small (the +-3% VWC of an
uncalibrated capacitive probe in shared/DOMAIN.md is a bias, which the ``drift`` fault models).
"""

from __future__ import annotations

import random
from datetime import date

from agronomy.crop import variety as find_variety
from agronomy.field import SPIN_UP_DAYS, FieldModel
from agronomy.soil import soil_type
from agronomy.weather import ET0_MM_PER_MJ, KoratWeather, day_date, day_index, local_day
from isanfarm.contract import SOIL_MOISTURE_SENSORS, Sensor
from simulators.reading import SimReading

__all__ = ["SOIL_SENSORS", "CassavaFieldSim", "default_planting"]

TIP_MM = 0.2
SOIL_SENSORS = SOIL_MOISTURE_SENSORS


def default_planting(start_day: int) -> date:
    """The last 1 May on or before the start: most Korat cassava goes in early in the rainy
    season (DOMAIN.md, "Planting"); a modelling choice for nodes configured without a date."""
    start = day_date(start_day)
    this_year = date(start.year, 5, 1)
    return this_year if this_year <= start else date(start.year - 1, 5, 1)


class CassavaFieldSim:
    """Deterministic under ``seed`` for the same sequence of reading times."""

    def __init__(
        self,
        seed: int,
        start_ms: int,
        soil: str = "loamy_sand",
        variety: str = "KU50",
        planted: date | None = None,
        management: float = 1.0,
        weather_seed: int | None = None,
    ) -> None:
        start_day = local_day(start_ms)
        planting_day = day_index(planted or default_planting(start_day))
        first_day = min(planting_day, start_day) - SPIN_UP_DAYS
        self._rng = random.Random(seed * 7919 + 1)
        self.weather = KoratWeather(seed if weather_seed is None else weather_seed, first_day)
        self.field = FieldModel(soil_type(soil), find_variety(variety), planting_day, management)
        for day in range(first_day, start_day):
            self.field.step_day(day, self.weather.day(day))
        self._day = start_day
        self._last_ms = start_ms
        self._rain_remainder = 0.0
        self._battery_v = 12.6

    def read(self, ts_ms: int) -> list[SimReading]:
        since = min(self._last_ms, ts_ms)
        weather = self.weather.sample(ts_ms, since)
        dt_days = (ts_ms - since) / 86_400_000
        radiation_mj = weather.solar_radiation_w_m2 * (ts_ms - since) / 1000 / 1e6
        self.field.advance_soil(weather.rain_mm, ET0_MM_PER_MJ * radiation_mj, dt_days)
        while local_day(ts_ms) > self._day:
            self.field.end_day(self._day, self.weather.day(self._day))
            self._day += 1
        self._battery_v = _battery(self._battery_v, weather.solar_radiation_w_m2, dt_days)
        self._last_ms = ts_ms
        noise = self._rng.gauss
        theta = self.field.soil.theta
        values = {
            name: round(min(100.0, max(0.0, 100 * theta[i] + noise(0, 0.3))), 2)
            for i, name in enumerate(SOIL_SENSORS)
        }
        # Shade from the canopy damps the soil's daily swing (modelling choice).
        shade = 1 - 0.5 * (self.field.crop.cover if self.field.crop else 0.0)
        values |= {
            Sensor.SOIL_TEMPERATURE: round(
                28 + shade * 0.6 * (weather.air_temperature_c - 28) + noise(0, 0.1), 2
            ),
            Sensor.AIR_TEMPERATURE: round(weather.air_temperature_c + noise(0, 0.2), 2),
            Sensor.RELATIVE_HUMIDITY: round(
                min(100.0, weather.relative_humidity_pct + noise(0, 1)), 1
            ),
            Sensor.RAIN: self._tipping_bucket(weather.rain_mm),
            Sensor.SOLAR_RADIATION: round(max(0.0, weather.solar_radiation_w_m2 + noise(0, 5)), 1),
            Sensor.BATTERY_VOLTAGE: round(self._battery_v, 3),
        }
        return [SimReading(values)]

    def _tipping_bucket(self, rain_mm: float) -> float:
        """A gauge reports whole tips; the part of a tip not yet full carries over."""
        self._rain_remainder += rain_mm
        tips = int(self._rain_remainder / TIP_MM + 1e-9)
        self._rain_remainder -= tips * TIP_MM
        return round(tips * TIP_MM, 1)


def _battery(voltage: float, radiation_w_m2: float, dt_days: float) -> float:
    """A 12 V lead-acid cell: the panel charges it by day, the node drains it slowly."""
    charge = 0.8 * radiation_w_m2 / 1000 * dt_days * 24 * 0.1
    drain = 0.15 * dt_days * 24 * 0.1
    return min(13.8, max(11.0, voltage + charge - drain))
