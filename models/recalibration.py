"""Recalibration from a cooperative's own records: the forecasts' bias and interval width
re-fitted on hindcasts of the harvests it has recorded.

Why: the model's intervals are calibrated on simulated seasons, where the only unknowns are
the weather and the yield gap. A real cooperative's fields grow under a crop, soil and sensors
that differ from the model's, and there the same intervals cover far less than they say
(issue 15 measured 0.49 for starch). What the cooperative does have is its recorded harvests
and the sensor history of those seasons. Forecasting each recorded season again as it would
have been forecast (a hindcast, at each lead time) gives the model's errors *in that world*;
from them this module learns, per target and lead bucket:

- a shift: the median error (log scale for yield, points for starch), shrunk towards zero by
  ``n / (n + shrink)`` so that a handful of records cannot move forecasts far;
- a width factor: the split-conformal quantile of the shifted errors divided by each
  forecast's own half-width (normalised conformal regression, Lei et al. 2018, JASA 113;
  with the finite-sample level ``ceil((n + 1) q) / n``).

Refitted whenever harvests are recorded, on the newest ``window`` of them, this is online
recalibration in the sense of adaptive conformal inference (Gibbs & Candès 2021, NeurIPS):
the intervals follow the world the cooperative is in, not the one the model was trained in.
With fewer than ``min_records`` hindcasts in a bucket nothing is changed there, and the
fit says so (``RecalibrationReport``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from models.daily import FloatArray

#: Lead-time buckets (days): about 2 weeks, 1 month, 3 months, 6 months ahead.
LEAD_EDGES = (21.0, 60.0, 137.0)
TARGETS = ("yield_t_ha", "starch_pct")


@dataclass(frozen=True, slots=True)
class BucketFit:
    """One target and lead bucket: records used, shift, width factor, and the coverage the
    uncorrected intervals had on those records."""

    n: int
    shift: float
    width: float
    raw_coverage: float


@dataclass(slots=True)
class Recalibration:
    """Fitted per target and lead bucket; ``apply`` changes forecasts, ``fits`` explain it."""

    coverage: float = 0.8
    shrink: float = 20.0
    min_records: int = 20
    fits: dict[str, list[BucketFit]] = field(default_factory=dict)

    def fit(self, predicted: FloatArray, truth: FloatArray, lead_days: FloatArray) -> Recalibration:
        """``predicted``: (n, 6) forecasts in ``models.cassava.OUTPUTS`` order (point, p10,
        p90 per target); ``truth``: (n, 2) recorded yield and starch; ``lead_days``: (n,)."""
        predicted, truth = np.asarray(predicted, float), np.asarray(truth, float)
        bucket = np.digitize(np.asarray(lead_days, float), LEAD_EDGES)
        self.fits = {}
        for k, target in enumerate(TARGETS):
            point, lo, hi = (self._scale(k, predicted[:, 3 * k + j]) for j in range(3))
            error = self._scale(k, truth[:, k]) - point
            half = np.maximum((hi - lo) / 2, 1e-6)
            inside = (truth[:, k] >= predicted[:, 3 * k + 1]) & (
                truth[:, k] <= predicted[:, 3 * k + 2]
            )
            fits = []
            for b in range(len(LEAD_EDGES) + 1):
                chosen = (bucket == b) & np.isfinite(error)
                fits.append(self._bucket(error[chosen], half[chosen], inside[chosen]))
            self.fits[target] = fits
        return self

    def apply(self, predicted: FloatArray, lead_days: FloatArray) -> FloatArray:
        """Forecasts shifted and their intervals rescaled; unchanged where unfitted."""
        out = np.array(predicted, dtype=float, copy=True)
        if not self.fits:
            return out
        bucket = np.digitize(np.asarray(lead_days, float), LEAD_EDGES)
        for k, target in enumerate(TARGETS):
            fitted = np.array([f.n >= self.min_records for f in self.fits[target]])[bucket]
            shift = np.array([f.shift for f in self.fits[target]])[bucket][fitted]
            width = np.array([f.width for f in self.fits[target]])[bucket][fitted]
            point, lo, hi = (self._scale(k, out[fitted, 3 * k + j]) for j in range(3))
            point = point + shift
            lo = point - (point - shift - lo) * width
            hi = point + (hi - point + shift) * width
            for j, values in enumerate((point, lo, hi)):
                out[fitted, 3 * k + j] = self._unscale(k, values)
        return out

    def _bucket(self, error: FloatArray, half: FloatArray, inside: np.ndarray) -> BucketFit:
        n = len(error)
        raw = float(inside.mean()) if n else math.nan
        if n < self.min_records:
            return BucketFit(n, 0.0, 1.0, raw)
        shift = float(np.median(error)) * n / (n + self.shrink)
        scores = np.abs(error - shift) / half
        level = min(1.0, math.ceil((n + 1) * self.coverage) / n)
        return BucketFit(n, shift, float(np.quantile(scores, level)), raw)

    @staticmethod
    def _scale(k: int, values: FloatArray) -> FloatArray:
        """Yield on a log scale (its errors are relative), starch in points."""
        if k == 0:
            return np.log(np.maximum(values, 0.1))
        return np.asarray(values, dtype=float)

    @staticmethod
    def _unscale(k: int, values: FloatArray) -> FloatArray:
        return np.exp(values) if k == 0 else values

    def describe(self) -> list[str]:
        """One line per target and bucket, for the calibrate command and the bench."""
        names = [f"<={edge:.0f}d" for edge in LEAD_EDGES] + [f">{LEAD_EDGES[-1]:.0f}d"]
        lines = []
        for target, fits in self.fits.items():
            for name, f in zip(names, fits, strict=True):
                lines.append(
                    f"{target} lead {name}: {f.n} records, raw coverage {f.raw_coverage:.2f}, "
                    f"shift {f.shift:+.3f}, width x{f.width:.2f}"
                )
        return lines


def coverage_of(predicted: FloatArray, truth: FloatArray, columns: Sequence[int]) -> float:
    """Share of ``truth`` inside the (p10, p90) columns ``columns`` of ``predicted``."""
    lo, hi = predicted[:, columns[0]], predicted[:, columns[1]]
    return float(np.mean((truth >= lo) & (truth <= hi))) if len(truth) else math.nan
