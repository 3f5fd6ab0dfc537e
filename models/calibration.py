"""Calibration from a cooperative's own records (``isanfarm calibrate``, docs/calibration.md).

Why: the model's intervals and its crop physiology come from simulated seasons; a real
cooperative's fields differ, and the only evidence of how is its recorded harvests with the
sensor history of those seasons. From them this module fits, without any I/O:

- a ``models.recalibration.Recalibration`` on hindcasts: each recorded season forecast again
  at every lead of ``models.training.EVAL_LEADS`` for the age it was harvested at, with the
  model being served, knowing only what was known then. Its effect is measured out of sample
  (``CV_FOLDS`` folds by field): in-sample, a conformal fit covers what it was fitted to by
  construction and says nothing;
- the root dry-matter response to soil wetness (``CropParameters.dmc_wet_drop``, which drives
  starch), by least squares of recorded against simulated starch over a grid of factors, each
  record's management factor set so that the crop model reproduces its recorded yield;
- whether recorded yields identify a cooperative-wide radiation-use efficiency: they do not.
  In the crop model (``models.cropmodel``) RUE and a field's management factor enter growth
  only as their product, so any RUE factor is matched exactly by dividing every field's
  management by it; the records constrain the product per field, which the forecaster already
  calibrates per field (``management_est``). What is reported instead is how many records the
  standard crop cannot reach even at management 1 (only then must RUE be higher);
- the coverage check behind the ``forecast_coverage`` alert: the served intervals on the most
  recent ``ALERT_WINDOW`` records, at the ``ALERT_LEAD`` lead, tested against the stated 80 %
  with a one-sided binomial test at ``ALERT_SIGNIFICANCE`` per target.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar  # type: ignore[import-untyped]
from scipy.stats import binom  # type: ignore[import-untyped]
from sklearn.pipeline import Pipeline  # type: ignore[import-untyped]

from agronomy.crop import STANDARD_CROP, CropParameters
from agronomy.crop import variety as find_variety
from agronomy.soil import soil_type
from models import cropmodel
from models.daily import RADIATION, RAIN, SOIL_COLUMNS, TMEAN, FieldSeason, FloatArray
from models.features import Case
from models.recalibration import LEAD_EDGES, TARGETS, BucketFit, Recalibration
from models.seasons import HarvestedSeason
from models.training import EVAL_LEADS, previous

#: Factors of the standard ``dmc_wet_drop`` tried (log-spaced, a quarter to four times): wide
#: enough for the benchmark's "2x" world and its opposite, fine enough for a parabola.
DMC_FACTORS = (0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0)
#: Management factors each record is run with to match its recorded yield (the simulator's
#: range, as ``models.cropfeatures`` uses).
MANAGEMENT_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
#: Fewer records than this leave the crop parameters at the standard (a least-squares fit on a
#: handful of starch readings follows their noise).
MIN_CROP_RECORDS = 8
#: The refined factor is found to within 1 % (log scale): far below what records can tell.
REFINE_LOG_TOLERANCE = 0.01
#: A record's season is used only if rain, temperature and radiation were each observed on
#: at least this share of its days (gaps are filled with the season's own mean).
MIN_OBSERVED_SHARE = 0.5
#: Folds (by field) of the out-of-sample coverage of the recalibration.
CV_FOLDS = 5
#: The coverage alert: the most recent records checked, the lead their forecasts are taken at
#: (a month: when the harvest date is chosen), the stated coverage and the one-sided binomial
#: test's significance per target (two targets: at most 2 % of honest runs alert falsely).
ALERT_WINDOW = 40
ALERT_LEAD = "1m"
STATED_COVERAGE = 0.8
ALERT_SIGNIFICANCE = 0.01
_LEAD_NAMES = {days: name for name, days in EVAL_LEADS.items()}
_COLUMNS = {"yield_t_ha": (0, 1, 2), "starch_pct": (3, 4, 5)}


def recorded_season(
    season: FieldSeason, index: int, yield_t_ha: float, starch_pct: float, harvest_age: int
) -> HarvestedSeason:
    """A recorded harvest as the models' season type: the truth known on the harvest day only
    (NaN on the others), the daily values up to and including that day."""
    if not 0 < harvest_age < season.days:
        raise ValueError(
            f"field {season.field_id}: harvest age {harvest_age} days needs daily values up to "
            f"that day, the season has {season.days}: read the season to its harvest date"
        )
    yields = np.full(harvest_age + 1, np.nan)
    starch = np.full(harvest_age + 1, np.nan)
    yields[harvest_age], starch[harvest_age] = yield_t_ha, starch_pct
    trimmed = replace(season, values=season.values[: harvest_age + 1])
    return HarvestedSeason(trimmed, index, yields, starch, harvest_age)


def history_of(records: Sequence[HarvestedSeason]) -> dict[tuple[str, int], HarvestedSeason]:
    """(field, index) -> record, as ``models.training.previous`` looks the season before up."""
    return {(r.season.field_id, r.index): r for r in records}


# ---- hindcasts ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hindcasts:
    """The records forecast again: per row its forecast (``models.cassava.OUTPUTS``), the
    recorded (yield, starch), the lead in days, the record it came from (index into the
    records) and that record's field. ``refused``: field -> why its records could not be
    featurised (too sparse)."""

    predicted: FloatArray
    truth: FloatArray
    lead_days: FloatArray
    record: np.ndarray
    field_ids: tuple[str, ...]
    refused: Mapping[str, list[str]] = field(default_factory=dict)


def hindcast(
    pipeline: Pipeline,
    records: Sequence[HarvestedSeason],
    history: dict[tuple[str, int], HarvestedSeason],
    leads: Mapping[str, int] = EVAL_LEADS,
) -> Hindcasts:
    """Each record forecast at every lead for the age it was harvested at, as in
    ``models.training.hindcast``; records the features refuse are left out, not fatal."""
    cases, truth, lead_days, which = [], [], [], []
    for number, r in enumerate(records):
        age = r.harvest_age_days
        for lead in leads.values():
            cases.append(previous(history, r, Case(r.season, max(0, age - lead), age)))
            truth.append(r.recorded(age))
            lead_days.append(float(lead))
            which.append(number)
    if not cases:
        return Hindcasts(np.empty((0, 6)), np.empty((0, 2)), np.empty(0), np.empty(0, int), ())
    features, model = pipeline.named_steps["features"], pipeline[-1]
    kept, matrix, refused = features.transform_accepted(cases)
    predicted = model.predict(matrix) if kept else np.empty((0, 6))
    rows = np.array(kept, dtype=np.int64)
    record = np.array(which)[rows] if kept else np.empty(0, int)
    return Hindcasts(
        np.asarray(predicted, dtype=float).reshape(-1, 6),
        np.array(truth, dtype=float).reshape(-1, 2)[rows],
        np.array(lead_days)[rows],
        record,
        tuple(records[i].season.field_id for i in record),
        dict(refused),
    )


def cross_fitted(hindcasts: Hindcasts, folds: int = CV_FOLDS) -> FloatArray:
    """Every hindcast recalibrated by a recalibration fitted on the other fields' records:
    the intervals a cooperative would get on records the fit never saw."""
    out = np.array(hindcasts.predicted, copy=True)
    fields = sorted(set(hindcasts.field_ids))
    fold_of = {f: i % folds for i, f in enumerate(fields)}
    fold = np.array([fold_of[f] for f in hindcasts.field_ids], dtype=int)
    for k in range(min(folds, len(fields))):
        test, train = fold == k, fold != k
        if not train.any() or not test.any():
            continue
        fitted = Recalibration().fit(
            hindcasts.predicted[train], hindcasts.truth[train], hindcasts.lead_days[train]
        )
        out[test] = fitted.apply(hindcasts.predicted[test], hindcasts.lead_days[test])
    return out


@dataclass(frozen=True, slots=True)
class LeadScore:
    """One target at one lead: hindcasts, interval coverage and misfit (yield: mean absolute
    percentage error; starch: RMSE in points), before and after recalibration."""

    target: str
    lead: str
    n: int
    coverage_before: float
    coverage_after: float
    misfit_before: float
    misfit_after: float


def scores(hindcasts: Hindcasts, after: FloatArray) -> list[LeadScore]:
    out = []
    for k, target in enumerate(TARGETS):
        point, lo, hi = _COLUMNS[target]
        for days, name in _LEAD_NAMES.items():
            rows = hindcasts.lead_days == days
            truth = hindcasts.truth[rows, k]
            before, recal = hindcasts.predicted[rows], after[rows]
            out.append(
                LeadScore(
                    target,
                    name,
                    int(rows.sum()),
                    _inside(truth, before[:, lo], before[:, hi]),
                    _inside(truth, recal[:, lo], recal[:, hi]),
                    _misfit(k, truth, before[:, point]),
                    _misfit(k, truth, recal[:, point]),
                )
            )
    return out


def _inside(truth: FloatArray, lo: FloatArray, hi: FloatArray) -> float:
    return float(np.mean((truth >= lo) & (truth <= hi))) if len(truth) else math.nan


def _misfit(k: int, truth: FloatArray, point: FloatArray) -> float:
    if not len(truth):
        return math.nan
    if k == 0:
        return float(100 * np.mean(np.abs(point - truth) / np.maximum(truth, 0.1)))
    return float(np.sqrt(np.mean((point - truth) ** 2)))


# ---- the coverage alert ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CoverageCheck:
    """The served intervals of one target on the most recent records: how many covered the
    recorded harvest, and the fewest the binomial test accepts for ``STATED_COVERAGE``."""

    target: str
    covered: int
    n: int
    fewest_accepted: int
    p_value: float

    @property
    def alert(self) -> bool:
        return self.n > 0 and self.covered < self.fewest_accepted

    def message(self) -> str:
        name = "yield" if self.target == "yield_t_ha" else "starch"
        return (
            f"forecast {name} intervals covered {self.covered} of {self.n} recent harvests "
            f"(stated {STATED_COVERAGE:.0%}): treat this cooperative's forecast ranges as too "
            "narrow until `isanfarm calibrate` is run on its records"
        )


def fewest_accepted(
    n: int, stated: float = STATED_COVERAGE, alpha: float = ALERT_SIGNIFICANCE
) -> int:
    """The smallest count of covered harvests out of ``n`` that a one-sided binomial test at
    ``alpha`` does not reject for coverage ``stated``: P(X <= c - 1) <= alpha < P(X <= c)."""
    counts = np.arange(n + 1)
    return int(counts[binom.cdf(counts, n, stated) > alpha][0]) if n else 0


def coverage_checks(
    hindcasts: Hindcasts,
    served: FloatArray,
    harvested: Sequence[date],
    window: int = ALERT_WINDOW,
    lead: str = ALERT_LEAD,
) -> list[CoverageCheck]:
    """Per target, the served intervals (``served``, rows as ``hindcasts``) at ``lead`` on the
    ``window`` most recently harvested records (``harvested``: per record its date)."""
    rows = np.flatnonzero(hindcasts.lead_days == EVAL_LEADS[lead])
    order = sorted(rows, key=lambda i: harvested[int(hindcasts.record[i])], reverse=True)
    recent = np.array(order[:window], dtype=int)
    out = []
    for k, target in enumerate(TARGETS):
        _, lo, hi = _COLUMNS[target]
        truth = hindcasts.truth[recent, k]
        covered = int(np.sum((truth >= served[recent, lo]) & (truth <= served[recent, hi])))
        n = len(recent)
        p = float(binom.cdf(covered, n, STATED_COVERAGE)) if n else math.nan
        out.append(CoverageCheck(target, covered, n, fewest_accepted(n), p))
    return out


# ---- crop parameters ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CropFit:
    """The root dry-matter response to wetness fitted on recorded starch: the factor of the
    standard ``dmc_wet_drop``, starch RMSE (points) at the standard and at the fit, the misfit
    over the grid; and what the yields say about radiation-use efficiency."""

    records: int
    dmc_wet_drop: float
    factor: float
    misfit_before: float
    misfit_after: float
    grid: dict[str, float]
    #: Records whose yield the standard crop misses even at management 1 (RUE too low there).
    above_ceiling: int
    rue_identifiable: bool = False
    note: str = ""

    def parameters(self) -> CropParameters:
        return replace(STANDARD_CROP, dmc_wet_drop=self.dmc_wet_drop)


def usable_for_crop(record: HarvestedSeason) -> bool:
    """Enough observed weather that the crop model runs on the season's own days."""
    values = record.season.values[: record.harvest_age_days + 1]
    shares = np.isfinite(values[:, [RAIN, TMEAN, RADIATION]]).mean(axis=0)
    return bool(len(values) and shares.min() >= MIN_OBSERVED_SHARE)


def fit_crop(records: Sequence[HarvestedSeason], factors: Sequence[float] = DMC_FACTORS) -> CropFit:
    """Least squares of recorded starch over ``factors`` of the standard ``dmc_wet_drop``,
    refined between the best grid point's neighbours (``_refine``); the misfits reported are
    simulated at the standard and at the fitted value."""
    used = [r for r in records if usable_for_crop(r)]
    standard = STANDARD_CROP.dmc_wet_drop
    if len(used) < MIN_CROP_RECORDS:
        return CropFit(
            len(used), standard, 1.0, math.nan, math.nan, {}, 0,
            note=f"{len(used)} usable records, {MIN_CROP_RECORDS} needed: left at the standard",
        )  # fmt: skip
    batch = _CropBatch(used)
    starch = np.array([r.recorded(r.harvest_age_days)[1] for r in used])
    misfits = [_rmse(batch.starch_at_recorded_yield(standard * f)[0], starch) for f in factors]
    factor = _refine(batch, starch, standard, np.asarray(factors, dtype=float), misfits)
    fitted, _ = batch.starch_at_recorded_yield(standard * factor)
    before, above = batch.starch_at_recorded_yield(standard)
    return CropFit(
        len(used),
        standard * factor,
        factor,
        _rmse(before, starch),
        _rmse(fitted, starch),
        {f"{f:g}": round(m, 4) for f, m in zip(factors, misfits, strict=True)},
        above,
        note="RUE is not identifiable apart from each field's management factor: they enter "
        "growth only as a product",
    )


def _rmse(simulated: FloatArray, recorded: FloatArray) -> float:
    return float(np.sqrt(np.mean((simulated - recorded) ** 2)))


def _refine(
    batch: _CropBatch,
    starch: FloatArray,
    standard: float,
    factors: FloatArray,
    misfits: list[float],
) -> float:
    """The factor minimising the misfit between the best grid point's neighbours, by a bounded
    scalar search in log(factor) on the simulation itself: the misfit rises more steeply above
    the minimum than below, so a parabola through three grid points misplaces it."""
    i = int(np.argmin(misfits))
    low, high = np.log(factors[max(i - 1, 0)]), np.log(factors[min(i + 1, len(factors) - 1)])
    result = minimize_scalar(
        lambda x: _rmse(batch.starch_at_recorded_yield(standard * math.exp(x))[0], starch),
        bounds=(low, high),
        method="bounded",
        options={"xatol": REFINE_LOG_TOLERANCE},
    )
    best = float(result.x) if result.fun < misfits[i] else float(np.log(factors[i]))
    return math.exp(best)


class _CropBatch:
    """The records as one crop-model batch: each season run on its own observed days (gaps
    filled with the season's mean) to its harvest day, once per management factor."""

    def __init__(self, records: Sequence[HarvestedSeason]) -> None:
        grid = np.array(MANAGEMENT_GRID)
        self.recorded = np.array([r.recorded(r.harvest_age_days)[0] for r in records])
        seasons = [self._filled(r) for r in records]
        self.observed = np.concatenate(seasons)
        first = np.concatenate([[0], np.cumsum([len(s) for s in seasons])[:-1]])
        ages = np.array([r.harvest_age_days for r in records])
        soils = [soil_type(r.season.soil) for r in records]
        varieties = [find_variety(r.season.variety) for r in records]
        soil = np.array(
            [(t.field_capacity, t.wilting_point, t.saturation, t.drainage_per_day) for t in soils]
        )
        variety = np.array([(v.rue_factor, v.starch_share, v.dmc_dry) for v in varieties])
        start = np.array(
            [(r.season.planted - date(r.season.planted.year, 1, 1)).days for r in records]
        )
        theta0 = self._planting_water(records, soil)
        n, m = len(records), len(grid)
        self.groups = cropmodel.Groups(
            first_row=np.repeat(first, m).astype(np.int64),
            switch=np.repeat(ages + 1, m).astype(np.int64),
            management=np.tile(grid, n),
            calendar_start=np.repeat(start, m).astype(np.int64),
            soil=np.repeat(soil, m, axis=0),
            variety=np.repeat(variety, m, axis=0),
            theta0=np.repeat(theta0, m, axis=0),
            read_start=np.arange(n * m + 1, dtype=np.int64),
            read_days=np.repeat(ages, m).astype(np.int64),
        )
        # Every read is on an observed day: the member is never used, only sized.
        self.members = np.zeros((1, int(start.max() + ages.max()) + 2, 3))
        self.shape = (n, m)

    @staticmethod
    def _filled(record: HarvestedSeason) -> FloatArray:
        values = np.array(record.season.values[: record.harvest_age_days + 1], dtype=float)
        means = np.nanmean(np.where(np.isfinite(values), values, np.nan), axis=0)
        return np.where(np.isfinite(values), values, np.nan_to_num(means))

    @staticmethod
    def _planting_water(records: Sequence[HarvestedSeason], soil: FloatArray) -> FloatArray:
        """Water of the four layers on the planting day: the probes (the deep layer as the
        60 cm one), else half-way from wilting point to field capacity."""
        default = soil[:, 1] + 0.5 * (soil[:, 0] - soil[:, 1])
        out = np.repeat(default[:, None], 4, axis=1)
        for i, r in enumerate(records):
            probes = r.season.values[0, list(SOIL_COLUMNS)] / 100
            if np.isfinite(probes).all():
                out[i] = [*probes, probes[2]]
        return out

    def starch_at_recorded_yield(self, dmc_wet_drop: float) -> tuple[FloatArray, int]:
        """Per record, the simulated starch at the management factor that reproduces its
        recorded yield (log-linear between grid points, clipped to the grid), and how many
        records need more than management 1."""
        parameters = replace(STANDARD_CROP, dmc_wet_drop=dmc_wet_drop)
        columns = np.array([RAIN, TMEAN, RADIATION], dtype=np.int64)
        yields, starch = cropmodel.simulate(
            self.groups, self.observed, columns, self.members, parameters
        )
        curves = np.log(np.maximum(yields[:, 0], 0.01)).reshape(self.shape)
        starch_curves = starch[:, 0].reshape(self.shape)
        grid = np.array(MANAGEMENT_GRID)
        out = np.empty(self.shape[0])
        for i, (curve, target) in enumerate(zip(curves, np.log(self.recorded), strict=True)):
            order = np.argsort(curve)
            management = np.interp(target, curve[order], grid[order])
            out[i] = np.interp(management, grid, starch_curves[i])
        above = int(np.sum(np.log(self.recorded) > curves[:, -1]))
        return out, above


# ---- the whole calibration ------------------------------------------------------------------


@dataclass(slots=True)
class Calibration:
    """What ``isanfarm calibrate`` fits for one cooperative and one served model version."""

    cooperative: str
    model_version: str
    recalibration: Recalibration
    crop: CropFit
    records: int
    scores: list[LeadScore] = field(default_factory=list)
    checks: list[CoverageCheck] = field(default_factory=list)
    refused: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        r = self.recalibration
        return {
            "cooperative": self.cooperative,
            "model_version": self.model_version,
            "records": self.records,
            "recalibration": {
                "coverage": r.coverage,
                "shrink": r.shrink,
                "min_records": r.min_records,
                "lead_edges": list(LEAD_EDGES),
                "fits": {t: [asdict(b) for b in fits] for t, fits in r.fits.items()},
            },
            "crop": asdict(self.crop),
            "scores": [asdict(s) for s in self.scores],
            "checks": [asdict(c) for c in self.checks],
        }

    def describe(self) -> list[str]:
        """What was calibrated and how well: the command's output."""
        c = self.crop
        lines = [
            f"cooperative {self.cooperative}, model {self.model_version}: {self.records} "
            "recorded harvests",
            *(f"  skipped {f}: {'; '.join(why)}" for f, why in self.refused.items()),
            "recalibration (coverage of 80 % intervals and misfit, before -> after; after is "
            f"out of sample, {CV_FOLDS} folds by field):",
        ]
        for s in self.scores:
            unit = "MAPE %" if s.target == "yield_t_ha" else "RMSE pt"
            lines.append(
                f"  {s.target:<11} {s.lead:>2}: {s.n:3d} hindcasts, coverage "
                f"{s.coverage_before:.2f} -> {s.coverage_after:.2f}, {unit} "
                f"{s.misfit_before:.2f} -> {s.misfit_after:.2f}"
            )
        lines += [f"  {line}" for line in self.recalibration.describe()]
        lines.append(
            f"crop: dmc_wet_drop {c.dmc_wet_drop:.4f} ({c.factor:.2f} x standard) from "
            f"{c.records} records, starch RMSE {c.misfit_before:.2f} -> {c.misfit_after:.2f} "
            f"points; {c.above_ceiling} records above the standard crop at management 1. " + c.note
        )
        for check in self.checks:
            state = "ALERT" if check.alert else "ok"
            lines.append(
                f"coverage check {check.target}: {check.covered} of {check.n} recent harvests "
                f"covered, at least {check.fewest_accepted} expected ({state})"
            )
        return lines


def calibrate(
    pipeline: Pipeline,
    model_version: str,
    cooperative: str,
    records: Sequence[HarvestedSeason],
    harvested: Sequence[date],
) -> Calibration:
    """Recalibration, crop fit, scores and coverage checks for one cooperative's ``records``
    (``harvested``: each record's harvest date, for the checks' "most recent")."""
    # The crop first: the forecasts it will serve run with it, so their errors are measured
    # with it too.
    crop = fit_crop(records)
    served = with_crop(pipeline, crop)
    hindcasts = hindcast(served, records, history_of(records))
    recalibration = Recalibration()
    if len(hindcasts.lead_days):
        recalibration.fit(hindcasts.predicted, hindcasts.truth, hindcasts.lead_days)
    after = cross_fitted(hindcasts)
    return Calibration(
        cooperative,
        model_version,
        recalibration,
        crop,
        len(records),
        scores(hindcasts, after),
        coverage_checks(hindcasts, after, harvested),
        dict(hindcasts.refused),
    )


def with_crop(pipeline: Pipeline, crop: CropFit) -> Pipeline:
    """``pipeline`` as it serves a cooperative whose records fitted ``crop``: a copy whose crop
    runs use it, or ``pipeline`` itself where the fit left the standard crop."""
    if crop.factor == 1.0:
        return pipeline
    served = copy.deepcopy(pipeline)
    served.set_params(features__crop_parameters=crop.parameters())
    return served


def crop_from_json(payload: Mapping[str, Any]) -> CropParameters | None:
    """The stored crop fit (``Calibration.to_json()["crop"]``) as the crop to serve, or None
    where it left the standard crop (or none was stored)."""
    factor = payload.get("factor", 1.0)
    if not payload or factor == 1.0:
        return None
    return replace(STANDARD_CROP, dmc_wet_drop=float(payload["dmc_wet_drop"]))


def recalibration_from_json(payload: Mapping[str, Any]) -> Recalibration:
    """The stored recalibration (``Calibration.to_json()["recalibration"]``); refuses one
    fitted on other lead buckets than this code's."""
    if tuple(payload.get("lead_edges", ())) != LEAD_EDGES:
        raise ValueError(
            f"recalibration lead_edges {payload.get('lead_edges')} differ from this code's "
            f"{list(LEAD_EDGES)}: run `isanfarm calibrate` again"
        )
    fits = {t: [BucketFit(**b) for b in buckets] for t, buckets in payload["fits"].items()}
    return Recalibration(
        float(payload["coverage"]), float(payload["shrink"]), int(payload["min_records"]), fits
    )
