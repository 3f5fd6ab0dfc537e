"""The one interface every sensor driver implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from isanfarm.contract import SENSOR_CATALOGUE


class DriverError(Exception):
    """A sensor could not be read this time (bus error, CRC failure, timeout).

    The agent counts it, logs it and carries on with the device's other sensors; the next
    interval tries again. Raise it with a message that names the sensor and, where known, the
    fix ("DS18B20 28-0316a2795dff: CRC check failed; check the 4.7 kOhm pull-up").
    """


@dataclass(frozen=True, slots=True)
class Sample:
    """Readings taken together, keyed by sensor-catalogue name, in catalogue units.

    ``animal_id`` is set for per-animal readings (a walk-over scale pass).
    """

    values: Mapping[str, float] = field(default_factory=dict)
    animal_id: str | None = None


class Driver(Protocol):
    """Built by its factory from the keys of its ``[[sensors]]`` table in the agent config."""

    def read(self, ts_ms: int) -> Sequence[Sample]:
        """Everything the sensors measured at device time ``ts_ms`` (possibly nothing).

        Raises DriverError when the hardware cannot be read. Values are passed on as measured;
        the agent, not the driver, drops values outside the sensor catalogue's range.
        """
        ...

    def close(self) -> None: ...


def check_reading_name(reading: object, where: str) -> str:
    """A driver's configured reading must be a catalogue name; say which ones exist if not."""
    if not isinstance(reading, str) or reading not in SENSOR_CATALOGUE:
        raise ValueError(
            f"{where}: reading {reading!r} is not in the sensor catalogue: use one of "
            f"{', '.join(SENSOR_CATALOGUE)}"
        )
    return reading
