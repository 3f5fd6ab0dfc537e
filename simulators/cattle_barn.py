"""A Wagyu barn's sensor node: barn climate, the herd's water meter and a walk-over scale.

The herd itself (growth, heat stress, intake) is ``simulators.herd``. The scale follows
shared/DOMAIN.md: each pass is noisy (+-1-3%), some are partial (a hoof off the platform reads
low), a few are doubled (two animals at once), and not every animal passes every day.
"""

from __future__ import annotations

import random

from agronomy.weather import KoratWeather, local_day
from isanfarm.contract import Sensor
from simulators.herd import Herd, thi
from simulators.reading import SimReading

__all__ = ["CattleBarnSim", "thi"]

#: Passes per animal per day (modelling choice: animals walk to water two or three times).
PASSES_PER_DAY = 2.5
SCALE_NOISE = 0.015
PARTIAL_PASS_SHARE = 0.05
DOUBLED_PASS_SHARE = 0.005
#: Under a roof: a little cooler than outside at midday, no sun on the sensor (modelling choice).
ROOF_COOLING_C = 0.5


class CattleBarnSim:
    """Deterministic under ``seed`` for the same sequence of reading times."""

    def __init__(
        self,
        seed: int,
        start_ms: int,
        herd_size: int = 12,
        breed: str = "wagyu_x_brahman",
        feed: str = "standard",
        weather_seed: int | None = None,
    ) -> None:
        self._rng = random.Random(seed * 7919 + 2)
        self.weather = KoratWeather(
            seed if weather_seed is None else weather_seed, first_day=local_day(start_ms) - 1
        )
        self.herd = Herd(seed * 7919 + 3, herd_size, breed, feed)
        self._last_ms = start_ms
        self._water_total_l = self._rng.uniform(1_000, 50_000)

    def read(self, ts_ms: int) -> list[SimReading]:
        since = min(self._last_ms, ts_ms)
        dt_days = (ts_ms - since) / 86_400_000
        weather = self.weather.sample(ts_ms, since)
        temperature = weather.air_temperature_c - ROOF_COOLING_C
        humidity = weather.relative_humidity_pct
        thi_now = thi(temperature, humidity)
        self._water_total_l += self.herd.water_litres_per_day(temperature) * dt_days
        self.herd.advance(dt_days, thi_now)
        self._last_ms = ts_ms
        climate = SimReading(
            {
                Sensor.AIR_TEMPERATURE: round(temperature + self._rng.gauss(0, 0.2), 2),
                Sensor.RELATIVE_HUMIDITY: round(min(100.0, humidity + self._rng.gauss(0, 1)), 1),
                Sensor.WATER_METER: round(self._water_total_l, 1),
                Sensor.BATTERY_VOLTAGE: round(4.05 + self._rng.gauss(0, 0.01), 3),
            }
        )
        return [climate, *self._scale_passes(dt_days)]

    def _scale_passes(self, dt_days: float) -> list[SimReading]:
        passes = []
        animals = self.herd.animals
        for animal in animals:
            if self._rng.random() >= PASSES_PER_DAY * dt_days:
                continue
            reading = animal.weight_kg * (1 + self._rng.gauss(0, SCALE_NOISE))
            draw = self._rng.random()
            if draw < PARTIAL_PASS_SHARE:
                reading *= self._rng.uniform(0.6, 0.85)
            elif draw < PARTIAL_PASS_SHARE + DOUBLED_PASS_SHARE:
                reading += self._rng.choice(animals).weight_kg
            passes.append(SimReading({Sensor.ANIMAL_WEIGHT: round(reading, 1)}, animal.animal_id))
        return passes
