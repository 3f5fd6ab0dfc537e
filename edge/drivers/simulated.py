"""A driver backed by the simulators: a cassava field or a cattle barn instead of hardware."""

from __future__ import annotations

from collections.abc import Sequence

from edge.drivers.base import Sample
from simulators.cassava_field import CassavaFieldSim
from simulators.cattle_barn import CattleBarnSim
from simulators.reading import SimReading

KINDS = ("cassava_field", "cattle_barn")


class SimulatedDriver:
    """The simulated farm starts at the first reading's time, whatever clock the agent runs."""

    def __init__(
        self, kind: str, seed: int = 1, soil: str = "loamy_sand", herd_size: int = 12
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"[driver] kind {kind!r} is unknown: use one of {', '.join(KINDS)}")
        self.kind, self.seed, self.soil, self.herd_size = kind, seed, soil, herd_size
        self._sim: CassavaFieldSim | CattleBarnSim | None = None

    def read(self, ts_ms: int) -> Sequence[Sample]:
        if self._sim is None:
            self._sim = self._start(ts_ms)
        return [_sample(reading) for reading in self._sim.read(ts_ms)]

    def _start(self, ts_ms: int) -> CassavaFieldSim | CattleBarnSim:
        if self.kind == "cassava_field":
            return CassavaFieldSim(self.seed, ts_ms, self.soil)
        return CattleBarnSim(self.seed, ts_ms, self.herd_size)

    def close(self) -> None:
        return None


def _sample(reading: SimReading) -> Sample:
    return Sample(reading.values, reading.animal_id)
