"""A cassava field's sensor node: soil moisture at three depths, soil and air, rain, sun, battery.

Minimal water balance (the issue "Simulators" replaces it with a layered model and a crop):
three soil layers read by probes at 10, 30 and 60 cm; rain enters the top layer, water above
field capacity drains to the layer below, and evapotranspiration draws on all three, more from
the top. Soil constants for a Korat loamy sand are from shared/DOMAIN.md (field capacity
12-18%, wilting point 4-8% VWC); the ET0 rule below is a modelling choice.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from simulators.reading import SimReading
from simulators.weather import KoratWeather, local_day


@dataclass(frozen=True, slots=True)
class SoilType:
    field_capacity: float
    wilting_point: float
    saturation: float
    #: Fraction of the water above field capacity that drains out of a layer per day.
    drainage_per_day: float


LOAMY_SAND = SoilType(
    field_capacity=0.15, wilting_point=0.06, saturation=0.38, drainage_per_day=0.6
)
SANDY_LOAM = SoilType(
    field_capacity=0.24, wilting_point=0.11, saturation=0.42, drainage_per_day=0.4
)
SOILS = {"loamy_sand": LOAMY_SAND, "sandy_loam": SANDY_LOAM}

#: Layer thickness (mm) represented by the probes at 10, 30 and 60 cm.
LAYER_MM = (200.0, 200.0, 400.0)
#: Share of evapotranspiration drawn from each layer (roots concentrate near the surface).
ET_SHARE = (0.5, 0.3, 0.2)
#: Reference ET from global radiation: 0.245 mm per MJ/m2 gives 3.7-5.4 mm/day at 15-22 MJ,
#: the range DOMAIN.md gives for Korat (modelling choice, a radiation-only simplification).
ET0_MM_PER_MJ = 0.245
CROP_COEFFICIENT = 0.8
TIP_MM = 0.2
SOIL_SENSORS = ("soil_moisture_10cm", "soil_moisture_30cm", "soil_moisture_60cm")


class CassavaFieldSim:
    """Deterministic under ``seed`` for the same sequence of reading times."""

    def __init__(self, seed: int, start_ms: int, soil: str = "loamy_sand") -> None:
        if soil not in SOILS:
            raise ValueError(f"soil {soil!r} is not one of {', '.join(SOILS)}")
        self.soil = SOILS[soil]
        self._rng = random.Random(seed * 7919 + 1)
        self.weather = KoratWeather(seed, first_day=local_day(start_ms) - 1)
        middle = (self.soil.field_capacity + self.soil.wilting_point) / 2
        self.theta = [middle, middle, self.soil.field_capacity * 0.9]
        self._last_ms = start_ms
        self._rain_remainder = 0.0
        self._battery_v = 12.6

    def read(self, ts_ms: int) -> list[SimReading]:
        since = min(self._last_ms, ts_ms)
        weather = self.weather.sample(ts_ms, since)
        dt_days = (ts_ms - since) / 86_400_000
        radiation_mj = weather.solar_radiation_w_m2 * (ts_ms - since) / 1000 / 1e6
        self._water_balance(weather.rain_mm, ET0_MM_PER_MJ * radiation_mj, dt_days)
        self._battery_v = _battery(self._battery_v, weather.solar_radiation_w_m2, dt_days)
        self._last_ms = ts_ms
        noise = self._rng.gauss
        values = {
            name: round(min(100.0, max(0.0, 100 * theta + noise(0, 0.3))), 2)
            for name, theta in zip(SOIL_SENSORS, self.theta, strict=True)
        }
        values |= {
            "soil_temperature": round(0.6 * weather.air_temperature_c + 12 + noise(0, 0.1), 2),
            "air_temperature": round(weather.air_temperature_c + noise(0, 0.2), 2),
            "relative_humidity": round(min(100.0, weather.relative_humidity_pct + noise(0, 1)), 1),
            "rain": self._tipping_bucket(weather.rain_mm),
            "solar_radiation": round(max(0.0, weather.solar_radiation_w_m2 + noise(0, 5)), 1),
            "battery_voltage": round(self._battery_v, 3),
        }
        return [SimReading(values)]

    def _water_balance(self, rain_mm: float, et0_mm: float, dt_days: float) -> None:
        inflow = rain_mm
        soil = self.soil
        for i, thickness in enumerate(LAYER_MM):
            water = self.theta[i] * thickness + inflow
            excess = max(0.0, water - soil.field_capacity * thickness)
            drained = excess * min(1.0, soil.drainage_per_day * dt_days)
            overflow = max(0.0, water - drained - soil.saturation * thickness)
            inflow = drained + overflow
            water -= inflow
            available = max(0.0, water - soil.wilting_point * thickness)
            stress = min(1.0, available / ((soil.field_capacity - soil.wilting_point) * thickness))
            water -= min(available, CROP_COEFFICIENT * et0_mm * ET_SHARE[i] * stress)
            self.theta[i] = water / thickness

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
