"""Training and held-out evaluation of the cassava model on simulated seasons.

Split by season and by field, never by row: the newest seasons are the test seasons, the one
before them calibrates the intervals, the rest train; and a fifth of the fields never appear in
training at all. The model is scored on held-out fields in held-out seasons at 6, 3 and 1 months
before harvest, against two baselines computed in the same run from the training seasons.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline  # type: ignore[import-untyped]

from models.cassava import BOOSTING_ROUNDS, build_pipeline, predict_cases
from models.daily import FloatArray
from models.features import Case
from models.seasons import HarvestedSeason

#: Candidate harvest ages (days after planting) the model learns: weekly, 8 to 12 months.
HARVEST_AGES = tuple(range(243, 366, 7))
#: Harvest months and lead times scored (DOMAIN.md: harvest 8-12 months after planting).
EVAL_MONTHS = (8, 9, 10, 11, 12)
EVAL_LEADS = {"6m": 183, "3m": 91, "1m": 30}
DAYS_PER_MONTH = 30.44
#: Training rows per field season: issue days, each with several candidate harvest days (the
#: crop model runs once per issue day and reads every harvest day off the same run).
ISSUES_PER_SEASON = 4
HARVESTS_PER_ISSUE = 4
MAX_LEAD_DAYS = 240
HELD_OUT_FIELD_SHARE = 0.2


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
    return replace(
        current,
        prev_yield_t_ha=float(before.yield_t_ha[age]),
        prev_starch_pct=float(before.starch_pct[age]),
        prev_season=before.season,
        prev_harvest_age_days=age,
    )


def last_season_same_age(
    history: dict[tuple[str, int], HarvestedSeason], s: HarvestedSeason, age: int
) -> tuple[float, float]:
    """The "last season" baseline: the previous season's yield and starch at this season's
    harvest age (stronger than its actual harvest, which may have been at another age)."""
    before = history.get((s.season.field_id, s.index - 1))
    if before is None or age >= len(before.yield_t_ha):
        return float("nan"), float("nan")
    return float(before.yield_t_ha[age]), float(before.starch_pct[age])


def training_cases(
    seasons: Sequence[HarvestedSeason],
    history: dict[tuple[str, int], HarvestedSeason],
    seed: int = 1,
) -> tuple[list[Case], FloatArray, list[int]]:
    rng = random.Random(seed)
    cases, targets, groups = [], [], []
    for s in seasons:
        for _ in range(ISSUES_PER_SEASON):
            issued = rng.randrange(HARVEST_AGES[0] - MAX_LEAD_DAYS, HARVEST_AGES[-1] + 1)
            choices = [h for h in HARVEST_AGES if issued <= h <= issued + MAX_LEAD_DAYS]
            for harvest in rng.sample(choices, min(HARVESTS_PER_ISSUE, len(choices))):
                cases.append(previous(history, s, Case(s.season, issued, harvest)))
                targets.append((s.yield_t_ha[harvest], s.starch_pct[harvest]))
                groups.append(s.index)
    return cases, np.array(targets), groups


def evaluation_cases(
    seasons: Sequence[HarvestedSeason], history: dict[tuple[str, int], HarvestedSeason]
) -> tuple[list[Case], list[dict[str, Any]]]:
    cases, rows = [], []
    for s in seasons:
        for months in EVAL_MONTHS:
            harvest = round(months * DAYS_PER_MONTH)
            last_yield, last_starch = last_season_same_age(history, s, harvest)
            for lead_name, lead in EVAL_LEADS.items():
                cases.append(previous(history, s, Case(s.season, harvest - lead, harvest)))
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


def climatology_baseline(
    seasons: Sequence[HarvestedSeason],
) -> dict[tuple[str, int, int], tuple[float, float]]:
    """Mean yield and starch per (variety, planting month, harvest month) over the training
    seasons; (variety, harvest month) where a planting month is missing."""
    sums: dict[tuple[str, int, int], list[tuple[float, float]]] = defaultdict(list)
    for s in seasons:
        for months in EVAL_MONTHS:
            age = round(months * DAYS_PER_MONTH)
            value = (float(s.yield_t_ha[age]), float(s.starch_pct[age]))
            sums[(s.season.variety, s.season.planted.month, months)].append(value)
            sums[(s.season.variety, 0, months)].append(value)
    return {key: tuple(np.mean(values, axis=0)) for key, values in sums.items()}


def train(
    seasons: Sequence[HarvestedSeason], max_iter: int = BOOSTING_ROUNDS, seed: int = 1
) -> TrainResult:
    parts = split(seasons, seed)
    cases, targets, groups = training_cases(parts.train, parts.history, seed)
    pipeline = build_pipeline(max_iter=max_iter, random_state=seed)
    started = time.perf_counter()
    pipeline.fit(cases, targets, model__groups=groups)
    seconds = time.perf_counter() - started
    evaluation = evaluate(pipeline, parts)
    years = sorted({s.season.planted.year for s in seasons})
    return TrainResult(pipeline, evaluation, seconds, len(cases), (str(years[0]), str(years[-1])))


def evaluate(pipeline: Pipeline, parts: Split) -> Evaluation:
    cases, rows = evaluation_cases(parts.test, parts.history)
    predicted = predict_cases(pipeline, cases)
    baseline = climatology_baseline(parts.train)
    for row, values in zip(rows, predicted, strict=True):
        row.update(
            zip(("yield_pred", "yield_p10", "yield_p90"), map(float, values[:3]), strict=True)
        )
        row.update(
            zip(
                ("starch_pct_pred", "starch_p10", "starch_p90"), map(float, values[3:]), strict=True
            )
        )
        key = (row["variety"], row["plant_month"], row["months"])
        mean = baseline.get(key) or baseline[(row["variety"], 0, row["months"])]
        row["yield_climatology"], row["starch_climatology"] = mean
    return Evaluation(metrics(rows), rows)


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
