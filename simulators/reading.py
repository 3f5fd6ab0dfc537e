"""What a simulated device measures at one instant."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SimReading:
    """Readings keyed by sensor-catalogue name; ``animal_id`` for a walk-over scale pass."""

    values: dict[str, float] = field(default_factory=dict)
    animal_id: str | None = None
