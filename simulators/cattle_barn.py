"""A Wagyu barn's sensor node: barn climate, the herd's water meter and a walk-over scale.

Figures from shared/DOMAIN.md: finishing Wagyu crosses weigh 300-800 kg and gain 0.6-1.0 kg/day;
a finishing animal drinks 30-50 L/day in cool weather and 60-90 L/day in hot weather (NRC Beef);
walk-over passes are noisy (+-1-3%), some partial (a hoof off the platform), and not every animal
passes every day. THI is Thom's index as used by Mader et al. 2006. How much gain falls per THI
unit above the alert threshold (75) is a modelling choice: 3% per unit here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from simulators.reading import SimReading
from simulators.weather import KoratWeather, local_day

PASSES_PER_DAY = 2.5
PARTIAL_PASS_SHARE = 0.05
SCALE_NOISE = 0.015
THI_ALERT = 75.0
GAIN_LOSS_PER_THI = 0.03


def thi(temperature_c: float, relative_humidity_pct: float) -> float:
    """Temperature-Humidity Index (Thom), as in shared/DOMAIN.md."""
    t = temperature_c
    return 0.8 * t + (relative_humidity_pct / 100) * (t - 14.4) + 46.4


@dataclass(slots=True)
class Animal:
    animal_id: str
    weight_kg: float
    daily_gain_kg: float


class CattleBarnSim:
    """Deterministic under ``seed`` for the same sequence of reading times."""

    def __init__(self, seed: int, start_ms: int, herd_size: int = 12) -> None:
        self._rng = random.Random(seed * 7919 + 2)
        self.weather = KoratWeather(seed, first_day=local_day(start_ms) - 1)
        self.herd = [
            Animal(f"wagyu-{i + 1:03d}", self._rng.uniform(320, 700), self._rng.uniform(0.6, 1.0))
            for i in range(herd_size)
        ]
        self._last_ms = start_ms
        self._water_total_l = self._rng.uniform(1_000, 50_000)

    def read(self, ts_ms: int) -> list[SimReading]:
        since = min(self._last_ms, ts_ms)
        dt_days = (ts_ms - since) / 86_400_000
        weather = self.weather.sample(ts_ms, since)
        # Under a roof: a little cooler than outside at midday, no sun on the sensor.
        temperature = weather.air_temperature_c - 0.5
        humidity = weather.relative_humidity_pct
        heat_factor = max(
            0.0, 1 - GAIN_LOSS_PER_THI * max(0.0, thi(temperature, humidity) - THI_ALERT)
        )
        litres_per_head_day = min(90.0, max(30.0, 30 + 3 * (temperature - 20)))
        self._water_total_l += litres_per_head_day * len(self.herd) * dt_days
        for animal in self.herd:
            animal.weight_kg += animal.daily_gain_kg * heat_factor * dt_days
        self._last_ms = ts_ms
        climate = SimReading(
            {
                "air_temperature": round(temperature + self._rng.gauss(0, 0.2), 2),
                "relative_humidity": round(min(100.0, humidity + self._rng.gauss(0, 1)), 1),
                "water_meter": round(self._water_total_l, 1),
                "battery_voltage": round(4.05 + self._rng.gauss(0, 0.01), 3),
            }
        )
        return [climate, *self._scale_passes(dt_days)]

    def _scale_passes(self, dt_days: float) -> list[SimReading]:
        passes = []
        for animal in self.herd:
            if self._rng.random() >= PASSES_PER_DAY * dt_days:
                continue
            reading = animal.weight_kg * (1 + self._rng.gauss(0, SCALE_NOISE))
            if self._rng.random() < PARTIAL_PASS_SHARE:
                reading *= self._rng.uniform(0.6, 0.85)
            passes.append(SimReading({"animal_weight": round(reading, 1)}, animal.animal_id))
        return passes
