"""Sensor faults scheduled in device time: drift, stuck values, spikes, dropouts, dead battery.

They sit between a simulated device and the agent's driver interface, where real faults show
(shared/DOMAIN.md, "Sensors and devices": capacitive probes drift; clogged gauges, brown-outs).
Each fault has a start (days after the device's first reading) and a duration, so a test can
ask for "the 30 cm probe stuck for 2 days from day 40"; ``random_faults`` draws a plausible
schedule from a seed. Clock faults are ``simulators.device_clock``; link outages are the
agent's ``set_link`` (``tooling.simulate``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from isanfarm.contract import Sensor
from simulators.reading import SimReading

FAULT_KINDS = ("drift", "stuck", "spike", "dropout", "dead_battery")
DAY_MS = 86_400_000
#: Share of readings inside a spike window that spike (modelling choice).
SPIKE_PROBABILITY = 0.2
#: Default sizes when a fault gives no magnitude (modelling choices): drift in units per day
#: (0.5 %VWC a day takes a probe past DOMAIN.md's +-3% within a week), spike in units.
DEFAULT_MAGNITUDE = {"drift": 0.5, "spike": 40.0}
#: Cut-off voltages a dead battery falls to: a 12 V lead-acid field node, a 3.7 V Li-ion barn node.
BATTERY_CUTOFF_V = {True: 10.5, False: 3.2}


class DeviceSilentError(Exception):
    """The device cannot be read at all now (a whole-device dropout)."""


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    #: Days after the device's first reading when the fault starts.
    day: float
    hours: float
    #: A sensor-catalogue name; None: every sensor (a dropout then silences the device).
    sensor: str | None = None
    magnitude: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(
                f"fault kind {self.kind!r} is unknown: use one of {', '.join(FAULT_KINDS)}"
            )
        if self.day < 0 or self.hours <= 0:
            raise ValueError(
                f"fault {self.kind!r}: day {self.day} and hours {self.hours} must be >= 0 and > 0"
            )

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> Fault:
        """From a TOML table ``{kind = "stuck", day = 40, hours = 48, sensor = "..."}``."""
        unknown = sorted(set(table) - {"kind", "day", "hours", "sensor", "magnitude"})
        if unknown:
            raise ValueError(
                f"fault option {unknown[0]!r} is unknown: use kind, day, hours, sensor, magnitude"
            )
        try:
            return cls(
                kind=str(table["kind"]),
                day=float(table["day"]),
                hours=float(table["hours"]),
                sensor=None if table.get("sensor") is None else str(table["sensor"]),
                magnitude=None if table.get("magnitude") is None else float(table["magnitude"]),
            )
        except KeyError as exc:
            raise ValueError(
                f"fault needs {exc.args[0]!r} (kind, day and hours are required)"
            ) from None

    def window_ms(self, start_ms: int) -> tuple[int, int]:
        begin = start_ms + int(self.day * DAY_MS)
        return begin, begin + int(self.hours * 3_600_000)


def random_faults(seed: int, days: float, per_year: float, sensors: Sequence[str]) -> list[Fault]:
    """A seeded schedule: on average ``per_year`` faults a year, kinds equally likely, lasting
    an hour to three days (modelling choice)."""
    rng = random.Random(seed * 31 + 17)
    faults = []
    for _ in range(_poisson(rng, per_year * days / 365)):
        kind = rng.choice(FAULT_KINDS)
        sensor = None if kind in ("dead_battery",) else rng.choice([None, *sensors])
        faults.append(Fault(kind, rng.uniform(0, days), rng.uniform(1, 72), sensor))
    return sorted(faults, key=lambda f: f.day)


def _poisson(rng: random.Random, mean: float) -> int:
    count, total = 0, rng.expovariate(1.0)
    while total < mean:
        count += 1
        total += rng.expovariate(1.0)
    return count


class FaultInjector:
    """Applies a schedule to what a device measured at ``ts_ms``."""

    def __init__(self, faults: Sequence[Fault], start_ms: int, seed: int) -> None:
        self.faults = list(faults)
        self.start_ms = start_ms
        self._rng = random.Random(seed * 131 + 7)
        self._frozen: dict[tuple[int, str | None], dict[str, float]] = {}

    def apply(self, ts_ms: int, readings: list[SimReading]) -> list[SimReading]:
        """The readings as the faulty device reports them; raises DeviceSilentError when none."""
        for index, fault in enumerate(self.faults):
            begin, end = fault.window_ms(self.start_ms)
            if begin <= ts_ms < end:
                readings = self._one(index, fault, (ts_ms - begin) / (end - begin), ts_ms, readings)
        return readings

    def _one(
        self, index: int, fault: Fault, progress: float, ts_ms: int, readings: list[SimReading]
    ) -> list[SimReading]:
        if fault.kind == "dead_battery":
            return self._dead_battery(progress, readings)
        if fault.kind == "dropout" and fault.sensor is None:
            raise DeviceSilentError(f"dropout until day {fault.day + fault.hours / 24:g}")
        out = []
        for reading in readings:
            values = dict(reading.values)
            names = [n for n in values if fault.sensor in (None, n)]
            if fault.kind == "dropout":
                for name in names:
                    del values[name]
            elif fault.kind == "drift":
                days = progress * fault.hours / 24
                rate = DEFAULT_MAGNITUDE["drift"] if fault.magnitude is None else fault.magnitude
                for name in names:
                    values[name] = round(values[name] + rate * days, 3)
            elif fault.kind == "stuck" and reading.animal_id is None:
                frozen = self._frozen.setdefault((index, fault.sensor), {})
                for name in names:
                    values[name] = frozen.setdefault(name, values[name])
            elif fault.kind == "spike" and self._rng.random() < SPIKE_PROBABILITY:
                size = DEFAULT_MAGNITUDE["spike"] if fault.magnitude is None else fault.magnitude
                for name in names:
                    values[name] = round(values[name] + size, 3)
            if values:
                out.append(replace(reading, values=values))
        return out

    @staticmethod
    def _dead_battery(progress: float, readings: list[SimReading]) -> list[SimReading]:
        """Voltage sags to cut-off over the first 80% of the window; then the node is silent."""
        if progress >= 0.8:
            raise DeviceSilentError("battery flat")
        out = []
        for reading in readings:
            volts = reading.values.get(Sensor.BATTERY_VOLTAGE)
            if volts is None:
                out.append(reading)
                continue
            cutoff = BATTERY_CUTOFF_V[volts > 6]
            sagged = volts - (volts - cutoff) * progress / 0.8
            out.append(
                replace(
                    reading, values={**reading.values, Sensor.BATTERY_VOLTAGE: round(sagged, 3)}
                )
            )
        return out
