"""A driver backed by the simulators: a cassava field or a cattle barn instead of hardware.

Faults (drift, stuck, spikes, dropouts, dead battery) are applied here, between the simulated
device and the agent, where a real sensor's faults would show; a whole-device dropout is a
``DriverError``, as a failed bus read would be.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from agronomy.crop import variety as find_variety
from agronomy.soil import soil_type
from edge.drivers.base import DriverError, Sample
from isanfarm.contract import DeviceKind, Sensor
from simulators.cassava_field import SOIL_SENSORS, CassavaFieldSim
from simulators.cattle_barn import CattleBarnSim
from simulators.faults import DeviceSilentError, Fault, FaultInjector, random_faults
from simulators.herd import Herd
from simulators.reading import SimReading

KINDS = ("cassava_field", "cattle_barn")
#: Horizon over which ``fault_rate`` draws random faults (device days).
RANDOM_FAULT_HORIZON_DAYS = 3650


class SimulatedDriver:
    """The simulated farm starts at the first reading's time, whatever clock the agent runs.

    Options (the ``[[sensors]]`` table): ``kind``, ``seed``; for a field ``soil``, ``variety``,
    ``planted`` (ISO date; default the last 1 May), ``management`` (0..1]; for a barn
    ``herd_size``, ``breed``, ``feed``; ``weather_seed`` (devices of one farm share weather);
    ``faults`` (a list of tables: kind, day, hours, sensor, magnitude) and ``fault_rate``
    (random faults per device-year, drawn from ``seed``).
    """

    def __init__(
        self,
        kind: str,
        seed: int = 1,
        soil: str = "loamy_sand",
        herd_size: int = 12,
        variety: str = "KU50",
        planted: str | None = None,
        management: float = 1.0,
        breed: str = "wagyu_x_brahman",
        feed: str = "standard",
        weather_seed: int | None = None,
        faults: Sequence[Mapping[str, Any]] = (),
        fault_rate: float = 0.0,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"[driver] kind {kind!r} is unknown: use one of {', '.join(KINDS)}")
        self.kind, self.seed, self.soil, self.herd_size = kind, seed, soil, herd_size
        self.variety, self.management = variety, management
        self.breed, self.feed, self.weather_seed = breed, feed, weather_seed
        try:
            self.planted = None if planted is None else date.fromisoformat(str(planted))
        except ValueError:
            raise ValueError(
                f"[driver] planted {planted!r} is not a date: write 2026-05-01"
            ) from None
        self.faults = [Fault.from_mapping(table) for table in faults]
        self.fault_rate = fault_rate
        self._sim: CassavaFieldSim | CattleBarnSim | None = None
        self._injector: FaultInjector | None = None
        # A bad soil, variety, breed or feed fails here, when the config is checked.
        soil_type(soil), find_variety(variety), Herd(seed, 0, breed, feed)

    def read(self, ts_ms: int) -> Sequence[Sample]:
        if self._sim is None or self._injector is None:
            self._sim = self._start(ts_ms)
            self._injector = FaultInjector(self._fault_schedule(), ts_ms, self.seed)
        try:
            readings = self._injector.apply(ts_ms, self._sim.read(ts_ms))
        except DeviceSilentError as exc:
            raise DriverError(f"simulated {self.kind} (seed {self.seed}): {exc}") from None
        return [_sample(reading) for reading in readings]

    def _start(self, ts_ms: int) -> CassavaFieldSim | CattleBarnSim:
        if self.kind == "cassava_field":
            return CassavaFieldSim(
                self.seed,
                ts_ms,
                self.soil,
                self.variety,
                self.planted,
                self.management,
                self.weather_seed,
            )
        return CattleBarnSim(
            self.seed, ts_ms, self.herd_size, self.breed, self.feed, self.weather_seed
        )

    def _fault_schedule(self) -> list[Fault]:
        if self.fault_rate <= 0:
            return self.faults
        sensors = SOIL_SENSORS if self.kind == DeviceKind.CASSAVA_FIELD else (Sensor.WATER_METER,)
        drawn = random_faults(self.seed, RANDOM_FAULT_HORIZON_DAYS, self.fault_rate, sensors)
        return sorted([*self.faults, *drawn], key=lambda f: f.day)

    def close(self) -> None:
        return None


def _sample(reading: SimReading) -> Sample:
    return Sample(reading.values, reading.animal_id)
