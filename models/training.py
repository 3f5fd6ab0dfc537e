"""Training and held-out evaluation of the cassava model on simulated seasons.

Split by season and by field, never by row: the newest seasons are the test seasons, the one
before them calibrates the intervals, the rest train; and a fifth of the fields never appear in
training at all. The model is scored on held-out fields in held-out seasons at 6, 3 and 1 months
before harvest, against two baselines computed in the same run from the training seasons.

A weather-forecast feed (``ForecastFor``): every function that builds cases takes an optional
``forecast_for`` and attaches what it gives to each case issued that day, as the forecast job
attaches a farm's forecast to all its fields' cases. The trees must learn from crop features
that had a forecast where serving will have one, or they would weigh a forecast-informed
feature as if it were the generator's guess. None (the default) builds exactly the cases of a
run without a feed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline  # type: ignore[import-untyped]

from models.cassava import BOOSTING_ROUNDS, build_pipeline, predict_cases
from models.daily import FieldSeason, FloatArray
from models.features import Case
from models.recalibration import Recalibration
from models.seasons import HarvestedSeason
from models.weatherfeed import WeatherForecast

#: Candidate harvest ages (days after planting) the model learns: weekly, 8 to 12 months.
HARVEST_AGES = tuple(range(243, 366, 7))
#: Harvest months and lead times scored (DOMAIN.md: harvest 8-12 months after planting).
EVAL_MONTHS = (8, 9, 10, 11, 12)
EVAL_LEADS = {"6m": 183, "3m": 91, "1m": 30, "2w": 14}
DAYS_PER_MONTH = 30.44
#: Training rows per field season: issue days, each with several candidate harvest days (the
#: crop model runs once per issue day and reads every harvest day off the same run).
ISSUES_PER_SEASON = 4
HARVESTS_PER_ISSUE = 4
MAX_LEAD_DAYS = 240
HELD_OUT_FIELD_SHARE = 0.2
#: The farm's weather forecast issued on a season's day ``issue_age`` (days after planting), or
#: None where no forecast was issued that day (``bench/models.py`` builds one from the simulated
#: feed).
ForecastFor = Callable[[FieldSeason, int], WeatherForecast | None]


@dataclass(frozen=True, slots=True)
class Split:
    train: list[HarvestedSeason]
    calibration_season: int
    test: list[HarvestedSeason]
    history: dict[tuple[str, int], HarvestedSeason]


@dataclass(slots=True)
class Evaluation:
    """Held-out predictions and metrics; ``rows`` keep what the report plots."""

    metrics: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class TrainResult:
    pipeline: Pipeline
    evaluation: Evaluation
    train_seconds: float
    n_train_rows: int
    seasons: tuple[str, str]
    extra: dict[str, Any] = field(default_factory=dict)


def split(seasons: Sequence[HarvestedSeason], seed: int = 1) -> Split:
    indexes = sorted({s.index for s in seasons})
    if len(indexes) < 3:
        raise ValueError(f"need at least 3 seasons (train, calibrate, test), got {len(indexes)}")
    n_test = 2 if len(indexes) >= 6 else 1
    test_seasons = set(indexes[-n_test:])
    fields = sorted({s.season.field_id for s in seasons})
    rng = random.Random(seed)
    held_out = set(rng.sample(fields, max(1, int(len(fields) * HELD_OUT_FIELD_SHARE))))
    train = [
        s for s in seasons if s.index not in test_seasons and s.season.field_id not in held_out
    ]
    test = [s for s in seasons if s.index in test_seasons and s.season.field_id in held_out]
    history = {(s.season.field_id, s.index): s for s in seasons}
    return Split(train, indexes[-n_test - 1], test, history)


def previous(
    history: dict[tuple[str, int], HarvestedSeason], s: HarvestedSeason, current: Case
) -> Case:
    """``current`` with what a cooperative holds about the field's previous season: its harvest
    (on the day it was harvested) and, in InfluxDB, that season's daily data."""
    before = history.get((s.season.field_id, s.index - 1))
    if before is None:
        return current
    age = before.harvest_age_days
    recorded_yield, recorded_starch = before.recorded(age)
    return replace(
        current,
        prev_yield_t_ha=recorded_yield,
        prev_starch_pct=recorded_starch,
        prev_season=before.season,
        prev_harvest_age_days=age,
    )


def last_season_same_age(
    history: dict[tuple[str, int], HarvestedSeason], s: HarvestedSeason, age: int
) -> tuple[float, float]:
    """The "last season" baseline: the previous season's recorded harvest, as the cooperative
    holds it (whatever age it was harvested at; ``age`` is this season's)."""
    before = history.get((s.season.field_id, s.index - 1))
    if before is None:
        return float("nan"), float("nan")
    return before.recorded(before.harvest_age_days)


def _forecast(
    forecast_for: ForecastFor | None, season: FieldSeason, issue_age: int
) -> WeatherForecast | None:
    return None if forecast_for is None else forecast_for(season, issue_age)


def training_cases(
    seasons: Sequence[HarvestedSeason],
    history: dict[tuple[str, int], HarvestedSeason],
    seed: int = 1,
    forecast_for: ForecastFor | None = None,
) -> tuple[list[Case], FloatArray, list[int]]:
    rng = random.Random(seed)
    cases, targets, groups = [], [], []
    for s in seasons:
        for _ in range(ISSUES_PER_SEASON):
            issued = rng.randrange(HARVEST_AGES[0] - MAX_LEAD_DAYS, HARVEST_AGES[-1] + 1)
            choices = [h for h in HARVEST_AGES if issued <= h <= issued + MAX_LEAD_DAYS]
            forecast = _forecast(forecast_for, s.season, issued)
            for harvest in rng.sample(choices, min(HARVESTS_PER_ISSUE, len(choices))):
                case = Case(s.season, issued, harvest, forecast=forecast)
                cases.append(previous(history, s, case))
                targets.append((s.yield_t_ha[harvest], s.starch_pct[harvest]))
                groups.append(s.index)
    return cases, np.array(targets), groups


def evaluation_cases(
    seasons: Sequence[HarvestedSeason],
    history: dict[tuple[str, int], HarvestedSeason],
    forecast_for: ForecastFor | None = None,
) -> tuple[list[Case], list[dict[str, Any]]]:
    cases, rows = [], []
    for s in seasons:
        for months in EVAL_MONTHS:
            harvest = round(months * DAYS_PER_MONTH)
            last_yield, last_starch = last_season_same_age(history, s, harvest)
            for lead_name, lead in EVAL_LEADS.items():
                forecast = _forecast(forecast_for, s.season, harvest - lead)
                case = Case(s.season, harvest - lead, harvest, forecast=forecast)
                cases.append(previous(history, s, case))
                rows.append(
                    {
                        "field": s.season.field_id,
                        "season": s.index,
                        "variety": s.season.variety,
                        "plant_month": s.season.planted.month,
                        "months": months,
                        "lead": lead_name,
                        "yield_true": float(s.yield_t_ha[harvest]),
                        "starch_true": float(s.starch_pct[harvest]),
                        "yield_last_season": last_yield,
                        "starch_last_season": last_starch,
                    }
                )
    return cases, rows


#: Shrinkage (in records) of each climatology effect towards zero: a cell seen a few times
#: moves the baseline only a little.
CLIMATOLOGY_SHRINK = 5.0


class RecordsClimatology:
    """The baseline a cooperative can compute from its own harvest records, never from a
    simulator. Additive effects, each shrunk towards zero by ``n / (n + CLIMATOLOGY_SHRINK)``:
    log yield = mean + variety + harvest age in months; starch = mean + variety + calendar
    month of harvest (starch follows the season, DOMAIN.md)."""

    def __init__(self, records: Sequence[HarvestedSeason]) -> None:
        if not records:
            raise ValueError("a climatology needs at least one recorded harvest")
        varieties, ages, months, yields, starch = [], [], [], [], []
        for s in records:
            age = s.harvest_age_days
            recorded_yield, recorded_starch = s.recorded(age)
            in_months, month = self._keys(s.season, age)
            varieties.append(s.season.variety)
            ages.append(in_months)
            months.append(month)
            yields.append(recorded_yield)
            starch.append(recorded_starch)
        self._yield = _Effects(np.log(np.maximum(yields, 0.1)), varieties, ages)
        self._starch = _Effects(np.array(starch), varieties, months)

    @staticmethod
    def _keys(season: FieldSeason, age: int) -> tuple[int, int]:
        """(harvest age in months, calendar month of harvest)."""
        return round(age / DAYS_PER_MONTH), (season.planted + timedelta(days=age)).month

    def __call__(self, season: FieldSeason, harvest_age: int) -> tuple[float, float]:
        months, month = self._keys(season, harvest_age)
        return (
            float(np.exp(self._yield(season.variety, months))),
            self._starch(season.variety, month),
        )


class _Effects:
    """mean + effect(variety) + effect(key), fitted by two rounds of backfitting."""

    def __init__(self, values: FloatArray, varieties: list[str], keys: list[int]) -> None:
        self.mean = float(np.mean(values))
        self.variety: dict[str, float] = {}
        self.key: dict[int, float] = {}
        v, k = np.array(varieties), np.array(keys)
        for _ in range(2):
            rest = values - self.mean - np.array([self.key.get(x, 0.0) for x in keys])
            self.variety = _shrunk_means(rest, v)
            rest = values - self.mean - np.array([self.variety.get(x, 0.0) for x in varieties])
            self.key = _shrunk_means(rest, k)

    def __call__(self, variety: str, key: int) -> float:
        return self.mean + self.variety.get(variety, 0.0) + self.key.get(key, 0.0)


def _shrunk_means(values: FloatArray, groups: np.ndarray) -> dict[Any, float]:
    out = {}
    for g in np.unique(groups):
        chosen = values[groups == g]
        out[g.item()] = float(chosen.sum() / (len(chosen) + CLIMATOLOGY_SHRINK))
    return out


def records_of(parts: Split) -> list[HarvestedSeason]:
    """The harvests a cooperative has recorded when the test seasons are forecast: the test
    fields' earlier seasons."""
    fields = {s.season.field_id for s in parts.test}
    first = min(s.index for s in parts.test)
    return [s for s in parts.history.values() if s.season.field_id in fields and s.index < first]


def hindcast(
    pipeline: Pipeline,
    records: Sequence[HarvestedSeason],
    history: dict[tuple[str, int], HarvestedSeason],
    forecast_for: ForecastFor | None = None,
) -> Recalibration:
    """A recalibration fitted on the records: each recorded season forecast again at every
    lead time for the age it was harvested at, against what was recorded, knowing what was
    known then (``history``: the seasons before it; empty for fields new to the model; and
    the weather forecast issued that day, from ``forecast_for``)."""
    cases, truth, leads = [], [], []
    for s in records:
        age = s.harvest_age_days
        for lead in EVAL_LEADS.values():
            forecast = _forecast(forecast_for, s.season, age - lead)
            cases.append(previous(history, s, Case(s.season, age - lead, age, forecast=forecast)))
            truth.append(s.recorded(age))
            leads.append(lead)
    recalibration = Recalibration()
    if cases:
        recalibration.fit(predict_cases(pipeline, cases), np.array(truth), np.array(leads))
    return recalibration


def train(
    seasons: Sequence[HarvestedSeason],
    max_iter: int = BOOSTING_ROUNDS,
    seed: int = 1,
    forecast_for: ForecastFor | None = None,
) -> TrainResult:
    parts = split(seasons, seed)
    cases, targets, groups = training_cases(parts.train, parts.history, seed, forecast_for)
    pipeline = build_pipeline(max_iter=max_iter, random_state=seed)
    started = time.perf_counter()
    pipeline.fit(cases, targets, model__groups=groups)
    seconds = time.perf_counter() - started
    # The stored model's own figures: recalibration is per cooperative (`isanfarm calibrate`).
    evaluation = evaluate(pipeline, parts, recalibrate=False, forecast_for=forecast_for)
    years = sorted({s.season.planted.year for s in seasons})
    return TrainResult(pipeline, evaluation, seconds, len(cases), (str(years[0]), str(years[-1])))


def evaluate(
    pipeline: Pipeline,
    parts: Split,
    recalibrate: bool = True,
    history: bool = True,
    forecast_for: ForecastFor | None = None,
) -> Evaluation:
    """Held-out fields in held-out seasons, scored against baselines from the records a
    cooperative would hold (``records_of``); with ``recalibrate``, forecasts first corrected
    by hindcasts of those records (``models.recalibration``). ``history`` False: the fields
    are new, with no previous season known (the cooperative still has its other records).
    ``forecast_for``: the weather forecasts the test cases and the hindcasts carry."""
    records = records_of(parts)
    known = parts.history if history else {}
    cases, rows = evaluation_cases(parts.test, known, forecast_for)
    raw = predict_cases(pipeline, cases)
    baseline = RecordsClimatology(records or parts.train)
    climatology = [baseline(c.season, c.harvest_age_days) for c in cases]
    if not (recalibrate and records):
        return Evaluation(metrics(_scored(rows, raw, climatology)), rows)
    recalibration = hindcast(pipeline, records, known, forecast_for)
    leads = np.array([c.harvest_age_days - c.age_days for c in cases], dtype=float)
    raw_metrics = metrics(_scored([dict(r) for r in rows], raw, climatology))
    evaluation = Evaluation(
        metrics(_scored(rows, recalibration.apply(raw, leads), climatology)), rows
    )
    evaluation.metrics["raw"] = raw_metrics
    evaluation.metrics["recalibration"] = recalibration.describe()
    return evaluation


def _scored(
    rows: list[dict[str, Any]], predicted: FloatArray, climatology: list[tuple[float, float]]
) -> list[dict[str, Any]]:
    """``rows`` with each case's forecast and the climatology baseline filled in."""
    for row, values, (clim_yield, clim_starch) in zip(rows, predicted, climatology, strict=True):
        row.update(
            zip(("yield_pred", "yield_p10", "yield_p90"), map(float, values[:3]), strict=True)
        )
        row.update(
            zip(
                ("starch_pct_pred", "starch_p10", "starch_p90"), map(float, values[3:]), strict=True
            )
        )
        row["yield_climatology"], row["starch_climatology"] = clim_yield, clim_starch
    return rows


def metrics(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per lead: yield MAPE (%) and starch RMSE (points) of model and baselines, the skill
    against the better baseline, and interval coverage."""
    out: dict[str, Any] = {"n_test_rows": len(rows)}
    for lead in EVAL_LEADS:
        chosen = [r for r in rows if r["lead"] == lead]
        if not chosen:
            continue
        y = np.array([r["yield_true"] for r in chosen])
        s = np.array([r["starch_true"] for r in chosen])
        last = np.array([r["yield_last_season"] for r in chosen])
        has_last = np.isfinite(last)
        entry = {
            "n": len(chosen),
            "yield_mape": _mape(y, _col(chosen, "yield_pred")),
            "yield_mape_climatology": _mape(y, _col(chosen, "yield_climatology")),
            "yield_mape_last_season": _mape(y[has_last], last[has_last]),
            "starch_rmse": _rmse(s, _col(chosen, "starch_pct_pred")),
            "starch_rmse_climatology": _rmse(s, _col(chosen, "starch_climatology")),
            "starch_rmse_last_season": _rmse(
                s[has_last], _col(chosen, "starch_last_season")[has_last]
            ),
            "yield_coverage80": _coverage(y, _col(chosen, "yield_p10"), _col(chosen, "yield_p90")),
            "starch_coverage80": _coverage(
                s, _col(chosen, "starch_p10"), _col(chosen, "starch_p90")
            ),
        }
        for target, metric in (("yield", "mape"), ("starch", "rmse")):
            best = min(
                entry[f"{target}_{metric}_climatology"], entry[f"{target}_{metric}_last_season"]
            )
            entry[f"{target}_skill"] = 1 - entry[f"{target}_{metric}"] / best if best else 0.0
        out[lead] = entry
    return out


def headline(metrics: dict[str, Any]) -> str:
    """The bench's last line: yield MAPE and starch RMSE at 3 months, the weaker of the two
    skills against the better baseline, and the 80% intervals' coverage (both targets, 3 m)."""
    m = metrics["3m"]
    skill = min(m["yield_skill"], m["starch_skill"])
    coverage = (m["yield_coverage80"] + m["starch_coverage80"]) / 2
    return (
        f"yield_mape_3m: {m['yield_mape']:.1f} starch_rmse_3m: {m['starch_rmse']:.2f} "
        f"skill_vs_baseline: {skill:.2f} coverage80: {coverage:.3f}"
    )


def _col(rows: Sequence[dict[str, Any]], key: str) -> FloatArray:
    return np.array([r[key] for r in rows], dtype=float)


def _mape(true: FloatArray, pred: FloatArray) -> float:
    if not len(true):
        return float("nan")
    return float(100 * np.mean(np.abs(pred - true) / np.maximum(true, 0.1)))


def _rmse(true: FloatArray, pred: FloatArray) -> float:
    if not len(true):
        return float("nan")
    return float(np.sqrt(np.mean((pred - true) ** 2)))


def _coverage(true: FloatArray, lo: FloatArray, hi: FloatArray) -> float:
    return float(np.mean((true >= lo) & (true <= hi))) if len(true) else float("nan")
