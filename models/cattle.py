"""Cattle: a robust daily weight per animal from walk-over scale passes, the fitted average
daily gain, days to target weight with an 80% interval, and heat-stress risk from THI.

Scale passes are noisy (+-1-3%), some partial (a hoof off the platform reads low), a few doubled
(two animals), and animals skip days (DOMAIN.md). So: the daily median of passes, after
rejecting passes far from the animal's running level; then a straight line through the last
``window_days`` of daily weights, refitted once without outlying days. A Wagyu's gain slows
near finish weight, so a long extrapolation is optimistic: the interval widens with the
``adg_model_sd`` share on top of the fit's own uncertainty (modelling choice).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from agronomy.thi import HeatStress, heat_stress, thi
from agronomy.units import DAY_MS, thai_day

#: z of the 10% / 90% quantiles of a normal distribution.
Z80 = 1.2816
MODEL_VERSION = "cattle-adg-1"


@dataclass(frozen=True, slots=True)
class CattleRule:
    """Parameters of the weight estimate (modelling choices, documented in docs/forecasts.md)."""

    window_days: int = 60
    #: A pass further than this share from the animal's running level is rejected.
    reject_share: float = 0.08
    min_days: int = 5
    #: Relative uncertainty of the gain itself over the months ahead (heat, slowing near finish).
    adg_model_sd: float = 0.1
    max_days: float = 3650.0


@dataclass(frozen=True, slots=True)
class AnimalForecast:
    animal: str
    weight_kg: float
    target_weight_kg: float
    daily_gain_kg: float
    days_to_target: float
    days_to_target_p10: float
    days_to_target_p90: float
    market_date_ms: int
    daily_days: int


def heat_stress_risk(readings: Iterable[tuple[float, float]]) -> float:
    """0..1 from barn (temperature, humidity) readings of the recent days, used as a persistence
    forecast: the mean severity of the readings, each scored 0 below THI 75, 1/3 alert, 2/3
    danger, 1 emergency. NaN when there are no readings."""
    scores = [heat_stress(thi(t, rh)) / HeatStress.EMERGENCY for t, rh in readings]
    return float(np.mean(scores)) if scores else float("nan")


def daily_weights(passes: Sequence[tuple[int, float]], reject_share: float) -> dict[int, float]:
    """Thai day index -> robust weight: passes far from the running level are rejected, then
    the median of the rest."""
    by_day: dict[int, list[float]] = defaultdict(list)
    for ts_ms, weight in passes:
        by_day[thai_day(ts_ms)].append(weight)
    days = sorted(by_day)
    medians = np.array([np.median(by_day[d]) for d in days])
    out = {}
    for i, day in enumerate(days):
        lo, hi = max(0, i - 7), min(len(days), i + 8)
        level = float(np.median(medians[lo:hi]))
        kept = [w for w in by_day[day] if abs(w - level) <= reject_share * level]
        if kept:
            out[day] = float(np.median(kept))
    return out


def forecast_animal(
    animal: str,
    passes: Sequence[tuple[int, float]],
    target_weight_kg: float,
    now_ms: int,
    rule: CattleRule = CattleRule(),
) -> AnimalForecast | None:
    """None when fewer than ``rule.min_days`` days have a weight in the window."""
    today = thai_day(now_ms)
    recent = [(t, w) for t, w in passes if thai_day(t) > today - rule.window_days]
    daily = daily_weights(recent, rule.reject_share)
    if len(daily) < rule.min_days:
        return None
    x = np.array(sorted(daily), dtype=float)
    y = np.array([daily[int(d)] for d in x])
    slope, intercept, se = _fit(x - today, y)
    weight = intercept  # the fitted weight today
    remaining = max(0.0, target_weight_kg - weight)
    spread = np.hypot(se, rule.adg_model_sd * abs(slope))
    fast, slow = slope + Z80 * spread, slope - Z80 * spread
    days, early, late = (_days(remaining, g, rule.max_days) for g in (slope, fast, slow))
    return AnimalForecast(
        animal,
        round(weight, 1),
        target_weight_kg,
        round(slope, 3),
        round(days, 1),
        round(early, 1),
        round(late, 1),
        int(now_ms + days * DAY_MS),
        len(daily),
    )


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least squares, refitted once without days more than 3 robust SDs off; (slope,
    intercept, standard error of the slope)."""
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    mad = float(np.median(np.abs(residual - np.median(residual)))) * 1.4826
    keep = np.abs(residual) <= 3 * max(mad, 0.5)
    if keep.sum() >= 3:
        x, y = x[keep], y[keep]
        slope, intercept = np.polyfit(x, y, 1)
        residual = y - (slope * x + intercept)
    n = len(x)
    spread_x = float(np.sum((x - x.mean()) ** 2))
    se = float(np.sqrt(np.sum(residual**2) / max(n - 2, 1) / spread_x)) if spread_x > 0 else 0.0
    return float(slope), float(intercept), se


def _days(remaining_kg: float, gain: float, cap: float) -> float:
    if remaining_kg <= 0:
        return 0.0
    if gain <= 0:
        return cap
    return float(min(cap, remaining_kg / gain))
