"""A field season the models learn from and are scored on: its daily data and its truth."""

from __future__ import annotations

from dataclasses import dataclass

from models.daily import FieldSeason, FloatArray


@dataclass(frozen=True, slots=True)
class HarvestedSeason:
    """A season's daily data and its truth: fresh yield (t/ha) and starch (%) on every day
    from planting (index = days after planting), and the day it was harvested on (days after
    planting): what the cooperative's harvest records say about it.

    The simulators make these for training and for the benchmark's worlds; a cooperative's own
    records make them with the truth known on the harvest day only."""

    season: FieldSeason
    index: int  # 0 = first season
    yield_t_ha: FloatArray
    starch_pct: FloatArray
    harvest_age_days: int
    #: The recorded harvest is the true one times this (1.0: recorded exactly). Truth is what
    #: forecasts are scored on; the record is what a cooperative holds and calibrates from.
    record_factor: float = 1.0

    def recorded(self, age: int) -> tuple[float, float]:
        """(yield t/ha, starch %) as the cooperative's record of a harvest at ``age`` says."""
        return float(self.yield_t_ha[age] * self.record_factor), float(self.starch_pct[age])
