"""The starch factory's price rule and the candidate harvest dates of a field.

Factories quote fresh roots per kg at a 25% starch baseline and adjust the price per starch point
measured at the gate (DOMAIN.md, "Units and money"). The adjustment is factory policy: a
modelling choice here, configurable (``ISANFARM_PRICE_*``, docs/forecasts.md).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

import numpy as np
import numpy.typing as npt

#: A price computes on one number or an array of them alike.
Number = TypeVar("Number", float, npt.NDArray[np.float64])

DAYS_PER_MONTH = 30.44


@dataclass(frozen=True, slots=True)
class PriceRule:
    """THB per kg = ``base_thb_per_kg`` + ``thb_per_point`` x (starch % - ``baseline_starch_pct``),
    never below ``floor_thb_per_kg``. Defaults: 2.5 THB/kg (inside DOMAIN.md's 1.8-3.5 range) and
    0.06 THB/kg per point (modelling choice: set your factory's figure)."""

    base_thb_per_kg: float = 2.5
    baseline_starch_pct: float = 25.0
    thb_per_point: float = 0.06
    floor_thb_per_kg: float = 0.0

    def __post_init__(self) -> None:
        if self.base_thb_per_kg <= 0:
            raise ValueError(f"price base {self.base_thb_per_kg} THB/kg must be positive")
        if self.thb_per_point < 0:
            raise ValueError(f"price per starch point {self.thb_per_point} must not be negative")

    def thb_per_kg(self, starch_pct: Number) -> Number:
        """Per kg of fresh roots; a float or a numpy array of them (the forecast job prices
        every candidate date at once)."""
        price = self.base_thb_per_kg + self.thb_per_point * (starch_pct - self.baseline_starch_pct)
        return np.maximum(self.floor_thb_per_kg, price)  # type: ignore[no-any-return]

    def revenue_thb(self, tonnes: Number, starch_pct: Number) -> Number:
        return tonnes * 1000 * self.thb_per_kg(starch_pct)


@dataclass(frozen=True, slots=True)
class HarvestCalendar:
    """Candidate harvest dates: every ``step_days`` from ``first_month`` to ``last_month``
    after planting (DOMAIN.md: harvest 8-12 months after planting), only dates from the issue
    day on. A field already past the window gets ``min_candidates`` weekly dates from the issue
    day (it is "sometimes later"; the model was not trained beyond 12 months and holds its
    12-month answer there)."""

    first_month: float = 8.0
    last_month: float = 12.0
    step_days: int = 7
    min_candidates: int = 4

    def candidates(self, planted: date, issued: date) -> list[date]:
        return list(_candidates(self, planted, issued))


@functools.lru_cache(maxsize=4096)
def _candidates(calendar: HarvestCalendar, planted: date, issued: date) -> tuple[date, ...]:
    """Cached: a cooperative's fields share a handful of planting dates, and the job asks for
    every field."""
    step = timedelta(days=calendar.step_days)
    first = planted + timedelta(days=round(calendar.first_month * DAYS_PER_MONTH))
    last = planted + timedelta(days=round(calendar.last_month * DAYS_PER_MONTH))
    days = []
    day = first
    while day <= last:
        if day >= issued:
            days.append(day)
        day += step
    day = max(issued, days[-1] + step) if days else issued
    while len(days) < calendar.min_candidates:
        days.append(day)
        day += step
    return tuple(days)
