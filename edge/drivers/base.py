"""The one interface every sensor driver implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Sample:
    """Readings taken together, keyed by sensor-catalogue name, in catalogue units.

    ``animal_id`` is set for per-animal readings (a walk-over scale pass).
    """

    values: Mapping[str, float] = field(default_factory=dict)
    animal_id: str | None = None


class Driver(Protocol):
    def read(self, ts_ms: int) -> Sequence[Sample]:
        """Everything the sensors measured at device time ``ts_ms`` (possibly nothing)."""
        ...

    def close(self) -> None: ...
