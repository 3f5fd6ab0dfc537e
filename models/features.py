"""Features of a field at an issue date for a candidate harvest date: one transformer, used by
training and serving alike (it is the first step of every cassava model's ``Pipeline``).

Gaps are handled explicitly: a missing day or a dead sensor's value is filled from the
climatology learned in ``fit`` (monthly means of the training data; soil moisture per soil type),
and the share of days actually observed is a feature. Data too sparse to trust is refused with
a ``FeatureError`` naming field, variable and coverage, rather than forecast from climatology.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin  # type: ignore[import-untyped]
from sklearn.utils.validation import check_is_fitted  # type: ignore[import-untyped]

from models.cropfeatures import CROP_FEATURES, crop_features, weather_members
from models.daily import (
    DAILY_VARIABLES,
    RADIATION,
    RAIN,
    RH,
    SM10,
    SM30,
    SM60,
    SOIL_COLUMNS,
    TMEAN,
    FieldSeason,
    FloatArray,
)
from models.errors import FeatureError, SchemaMismatchError

#: Bump when a feature's meaning, unit or order changes: a model trained on another version is
#: refused (``models.registry``), never silently fed features it did not learn.
FEATURE_SCHEMA_VERSION = 2
#: Reference ET from radiation, as the simulator's weather (simulators/weather.py).
ET0_MM_PER_MJ = 0.245
#: Soil water of the probed 0-80 cm in mm per %VWC at 10, 30 and 60 cm (20, 20, 40 cm layers).
STORAGE_MM_PER_PCT = (2.0, 2.0, 4.0)

NUMERIC_FEATURES = (
    "age_days",
    "harvest_age_days",
    "lead_days",
    "plant_doy_sin",
    "plant_doy_cos",
    "harvest_doy_sin",
    "harvest_doy_cos",
    "area_ha",
    "prev_yield_t_ha",
    "prev_starch_pct",
    "rain_season_mm",
    "rain_30d_mm",
    "rain_90d_mm",
    "wet_days_season",
    "dry_spell_max_days",
    "dry_spell_now_days",
    "tmean_season_c",
    "gdd_season",
    "radiation_season_mj",
    "rh_30d_pct",
    "sm10_season",
    "sm30_season",
    "sm60_season",
    "sm10_30d",
    "sm30_30d",
    "sm60_30d",
    "drydown_season",
    "drydown_60d",
    "coverage_min",
    *CROP_FEATURES,
)


@dataclass(frozen=True, slots=True)
class Case:
    """One question to a model: ``season`` observed for its first ``age_days`` days (the issue
    day is planting + age_days), harvested ``harvest_age_days`` after planting. ``prev_*``: the
    field's previous harvest, when the cooperative has it (NaN otherwise); with the previous
    season's daily data and its harvest age as well, the crop model learns the field's yield
    gap from it (``models.cropfeatures``)."""

    season: FieldSeason
    age_days: int
    harvest_age_days: int
    prev_yield_t_ha: float = float("nan")
    prev_starch_pct: float = float("nan")
    prev_season: FieldSeason | None = None
    prev_harvest_age_days: int | None = None


class SeasonFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Cases -> feature matrix. Parameters: ``min_coverage`` (share of the season's days each
    variable must be observed on), ``min_recent_coverage`` (the same over the last
    ``recent_days``), ``gdd_base_c`` (growing degree days base, cassava's 15 degC),
    ``dry_day_mm`` (a day under this much rain is dry), ``check_after_days`` (younger seasons
    are not checked: they have little to check), ``weather_members`` and ``weather_seed`` (the
    weather-generator traces the crop model runs on after the issue day)."""

    def __init__(
        self,
        min_coverage: float = 0.5,
        min_recent_coverage: float = 0.25,
        recent_days: int = 30,
        gdd_base_c: float = 15.0,
        dry_day_mm: float = 1.0,
        check_after_days: int = 14,
        weather_members: int = 6,
        weather_seed: int = 1,
    ) -> None:
        self.min_coverage = min_coverage
        self.min_recent_coverage = min_recent_coverage
        self.recent_days = recent_days
        self.gdd_base_c = gdd_base_c
        self.dry_day_mm = dry_day_mm
        self.check_after_days = check_after_days
        self.weather_members = weather_members
        self.weather_seed = weather_seed

    def fit(self, cases: Sequence[Case], y: Any = None) -> SeasonFeatures:
        seasons = _unique_seasons(cases)
        if not seasons:
            raise FeatureError("no cases to fit on: pass at least one season")
        self.varieties_ = sorted({s.variety for s in seasons})
        self.soils_ = sorted({s.soil for s in seasons})
        self.climatology_ = _climatology(seasons, self.soils_)
        self.members_ = weather_members(self.weather_members, self.weather_seed)
        self.schema_version_ = FEATURE_SCHEMA_VERSION
        self.feature_names_out_ = np.array(
            [
                *NUMERIC_FEATURES,
                *(f"variety={v}" for v in self.varieties_),
                *(f"soil={s}" for s in self.soils_),
            ],
            dtype=object,
        )
        return self

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_

    def transform(self, cases: Sequence[Case]) -> FloatArray:
        refused = self.refusals(cases)
        if refused:
            problems = [p for reasons in refused.values() for p in reasons]
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise FeatureError(
                "required features are missing: " + "; ".join(problems[:5]) + more + ". Check "
                "the sensors (or the rollups), or lower min_coverage to accept sparser data"
            )
        out = np.empty((len(cases), len(self.feature_names_out_)))
        for season, rows in _group_by_season(cases):
            out[rows] = self._season_features(season, [cases[i] for i in rows])
        first = len(NUMERIC_FEATURES) - len(CROP_FEATURES)
        out[:, first : len(NUMERIC_FEATURES)] = self._crop_features(cases)
        return out

    def _crop_features(self, cases: Sequence[Case]) -> FloatArray:
        """One batch of crop-model runs for every case (``models.cropfeatures``)."""
        index: dict[int, int] = {}
        seasons: list[FieldSeason] = []

        def number(season: FieldSeason) -> int:
            if id(season) not in index:
                index[id(season)] = len(seasons)
                seasons.append(season)
            return index[id(season)]

        rows = []
        for case in cases:
            prev = case.prev_season
            usable = prev is not None and prev.variety in self.varieties_
            usable = usable and prev is not None and prev.soil in self.soils_
            rows.append(
                (
                    number(case.season),
                    case.age_days,
                    case.harvest_age_days,
                    number(prev) if usable and prev is not None else None,
                    case.prev_yield_t_ha,
                    case.prev_harvest_age_days,
                )
            )
        filled = [self._filled(season)[0] for season in seasons]
        return crop_features(seasons, filled, rows, self.members_)

    # ---- checks ---------------------------------------------------------------------------

    def refusals(self, cases: Sequence[Case]) -> dict[str, list[str]]:
        """Field id -> why its cases cannot be featurised (unknown variety or soil, data too
        sparse); empty when every case can. The forecast job drops these fields and
        transforms the rest in one batch (one crop-model batch for all of them)."""
        check_is_fitted(self, "climatology_")
        if self.schema_version_ != FEATURE_SCHEMA_VERSION:
            raise SchemaMismatchError(
                f"these features were fitted with schema {self.schema_version_}, this code "
                f"builds schema {FEATURE_SCHEMA_VERSION}: retrain with `isanfarm train`"
            )
        refused: dict[str, list[str]] = {}
        for season, rows in _group_by_season(cases):
            try:
                self._check_metadata(season)
            except FeatureError as exc:
                refused.setdefault(season.field_id, []).append(str(exc))
                continue
            problems = self._coverage_problems(season, [cases[i] for i in rows])
            if problems:
                refused.setdefault(season.field_id, []).extend(problems)
        return refused

    def _check_metadata(self, season: FieldSeason) -> None:
        where = f"field {season.field_id!r}"
        if season.variety not in self.varieties_:
            raise FeatureError(
                f"{where}: variety {season.variety!r} is not one the model was trained on "
                f"({', '.join(self.varieties_)}): fix the registry or retrain"
            )
        if season.soil not in self.soils_:
            raise FeatureError(
                f"{where}: soil {season.soil!r} is not one the model was trained on "
                f"({', '.join(self.soils_)}): fix the registry or retrain"
            )
        if not np.isfinite(season.area_ha) or season.area_ha <= 0:
            raise FeatureError(f"{where}: area {season.area_ha} ha must be a positive number")
        if season.values.shape[1:] != (len(DAILY_VARIABLES),):
            raise FeatureError(
                f"{where}: daily values have shape {season.values.shape}, need (days, "
                f"{len(DAILY_VARIABLES)}) in the order {', '.join(DAILY_VARIABLES)}"
            )

    def _coverage_problems(self, season: FieldSeason, cases: list[Case]) -> list[str]:
        observed = np.isfinite(season.values)
        counts = _cumsum(observed.astype(float))
        problems = []
        for age in sorted({c.age_days for c in cases}):
            if age < self.check_after_days:
                continue
            if age > season.days:
                problems.append(
                    f"field {season.field_id!r}: data ends {season.days} days after planting, "
                    f"the forecast needs {age}"
                )
                continue
            start = max(0, age - self.recent_days)
            whole = (counts[age] - counts[0]) / age
            recent = (counts[age] - counts[start]) / (age - start)
            for j, name in enumerate(DAILY_VARIABLES):
                issue = season.day(age)
                if whole[j] < self.min_coverage:
                    problems.append(
                        f"field {season.field_id!r} on {issue}: {name} observed on "
                        f"{whole[j]:.0%} of the season's {age} days, needs {self.min_coverage:.0%}"
                    )
                elif recent[j] < self.min_recent_coverage:
                    problems.append(
                        f"field {season.field_id!r} on {issue}: {name} observed on "
                        f"{recent[j]:.0%} of the last {age - start} days, needs "
                        f"{self.min_recent_coverage:.0%}"
                    )
        return problems

    # ---- features -------------------------------------------------------------------------

    def _filled(self, season: FieldSeason) -> tuple[FloatArray, FloatArray]:
        """(values with gaps filled from the climatology, 1.0 where observed)."""
        values = season.values
        observed = np.isfinite(values)
        first = np.datetime64(season.day(0), "D")
        days = np.arange(first, first + season.days)
        months = days.astype("datetime64[M]").astype(int) % 12  # 0 = January
        normal = self.climatology_[self.soils_.index(season.soil)][months]
        return np.where(observed, values, normal), observed.astype(float)

    def _season_features(self, season: FieldSeason, cases: list[Case]) -> FloatArray:
        filled, observed = self._filled(season)
        age = np.array([min(c.age_days, season.days) for c in cases], dtype=int)
        harvest = np.array([c.harvest_age_days for c in cases], dtype=float)
        series = _Series(filled, observed, self.gdd_base_c, self.dry_day_mm)
        plant_doy = season.planted.timetuple().tm_yday
        harvest_doy = np.array(
            [(season.planted + timedelta(days=int(h))).timetuple().tm_yday for h in harvest]
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            numeric = [
                age.astype(float),
                harvest,
                harvest - age,
                np.full(len(cases), np.sin(2 * np.pi * plant_doy / 365.25)),
                np.full(len(cases), np.cos(2 * np.pi * plant_doy / 365.25)),
                np.sin(2 * np.pi * harvest_doy / 365.25),
                np.cos(2 * np.pi * harvest_doy / 365.25),
                np.full(len(cases), season.area_ha),
                np.array([c.prev_yield_t_ha for c in cases], dtype=float),
                np.array([c.prev_starch_pct for c in cases], dtype=float),
                series.total(RAIN, age, None),
                series.total(RAIN, age, 30),
                series.total(RAIN, age, 90),
                series.total_of(series.wet, age, None),
                series.dry_spell_max[age],
                series.dry_spell[age],
                series.mean(TMEAN, age, None),
                series.total_of(series.gdd, age, None),
                series.total(RADIATION, age, None),
                series.mean(RH, age, 30),
                series.mean(SM10, age, None),
                series.mean(SM30, age, None),
                series.mean(SM60, age, None),
                series.mean(SM10, age, 30),
                series.mean(SM30, age, 30),
                series.mean(SM60, age, 30),
                series.drydown(age, None),
                series.drydown(age, 60),
                series.coverage(age),
                *([np.full(len(cases), np.nan)] * len(CROP_FEATURES)),  # filled by transform
            ]
        onehot = [np.full(len(cases), float(season.variety == v)) for v in self.varieties_]
        onehot += [np.full(len(cases), float(season.soil == s)) for s in self.soils_]
        return np.column_stack(numeric + onehot)


class _Series:
    """Cumulative sums of one season's filled daily values: any window's total is two lookups."""

    def __init__(
        self, filled: FloatArray, observed: FloatArray, gdd_base: float, dry_mm: float
    ) -> None:
        rain = filled[:, RAIN]
        self.sums = _cumsum(filled)
        self.observed = _cumsum(observed)
        self.wet = _cumsum((rain >= dry_mm).astype(float))
        self.gdd = _cumsum(np.maximum(filled[:, TMEAN] - gdd_base, 0.0))
        storage = sum(
            k * filled[:, c] for k, c in zip(STORAGE_MM_PER_PCT, SOIL_COLUMNS, strict=True)
        )
        decline = np.zeros_like(rain)
        decline[1:] = np.asarray(storage)[:-1] - np.asarray(storage)[1:]
        dry = np.zeros_like(rain, dtype=bool)
        dry[1:] = (rain[1:] < 0.5) & (rain[:-1] < 0.5)
        sensed = observed[:, SOIL_COLUMNS].min(axis=1) > 0
        use = dry & sensed
        self.decline = _cumsum(np.where(use, decline, 0.0))
        self.et0 = _cumsum(np.where(use, ET0_MM_PER_MJ * filled[:, RADIATION], 0.0))
        spells = _spells(rain < dry_mm)
        # Leading zero, as the sums: index ``age`` is the spell at the end of day age - 1.
        self.dry_spell = np.concatenate([[0.0], spells])
        self.dry_spell_max = np.maximum.accumulate(self.dry_spell)

    @staticmethod
    def _window(age: np.ndarray, days: int | None) -> np.ndarray:
        return np.zeros_like(age) if days is None else np.maximum(age - days, 0)

    def total(self, column: int, age: np.ndarray, days: int | None) -> FloatArray:
        start = self._window(age, days)
        return np.asarray(self.sums[age, column] - self.sums[start, column])

    def total_of(self, cumulative: FloatArray, age: np.ndarray, days: int | None) -> FloatArray:
        start = self._window(age, days)
        return np.asarray(cumulative[age] - cumulative[start])

    def mean(self, column: int, age: np.ndarray, days: int | None) -> FloatArray:
        start = self._window(age, days)
        length = (age - start).astype(float)
        return np.where(length > 0, self.total(column, age, days) / length, np.nan)

    def drydown(self, age: np.ndarray, days: int | None) -> FloatArray:
        """Soil water lost per mm of reference ET on dry days: a canopy's transpiration, seen
        by the probes (bare soil loses little, a full canopy about Kc = 1)."""
        et0 = self.total_of(self.et0, age, days)
        loss = self.total_of(self.decline, age, days)
        return np.where(et0 > 5.0, loss / np.where(et0 > 0, et0, 1.0), np.nan)

    def coverage(self, age: np.ndarray) -> FloatArray:
        counts = self.observed[age] - self.observed[0]
        share = counts.min(axis=1) / np.maximum(age, 1)
        return np.where(age > 0, share, 1.0)


def _cumsum(values: FloatArray) -> FloatArray:
    """Cumulative sums with a leading zero row: rows [a, b) total ``c[b] - c[a]``."""
    zero = np.zeros((1, *values.shape[1:]))
    return np.concatenate([zero, np.cumsum(values, axis=0)])


def _spells(dry: np.ndarray) -> FloatArray:
    """Length of the dry spell each day ends (0 on a wet day)."""
    count = np.cumsum(dry.astype(float))
    reset = np.maximum.accumulate(np.where(~dry, count, 0.0)) if dry.size else count
    return np.asarray(count - reset)


def _unique_seasons(cases: Sequence[Case]) -> list[FieldSeason]:
    seen: dict[int, FieldSeason] = {}
    for case in cases:
        seen.setdefault(id(case.season), case.season)
    return list(seen.values())


def _group_by_season(cases: Sequence[Case]) -> list[tuple[FieldSeason, list[int]]]:
    groups: dict[int, tuple[FieldSeason, list[int]]] = {}
    for i, case in enumerate(cases):
        groups.setdefault(id(case.season), (case.season, []))[1].append(i)
    return list(groups.values())


def _climatology(seasons: list[FieldSeason], soils: list[str]) -> FloatArray:
    """Monthly means of every daily variable, per soil (weather is the same for every soil; soil
    moisture is not): shape (soils, 12, variables)."""
    sums = np.zeros((len(soils), 12, len(DAILY_VARIABLES)))
    counts = np.zeros_like(sums)
    for season in seasons:
        if not season.days:
            continue
        first = np.datetime64(season.day(0), "D")
        days = np.arange(first, first + season.days)
        months = days.astype("datetime64[M]").astype(int) % 12  # 0 = January
        observed = np.isfinite(season.values)
        k = soils.index(season.soil)
        np.add.at(sums[k], months, np.where(observed, season.values, 0.0))
        np.add.at(counts[k], months, observed.astype(float))
    overall = sums.sum(axis=(0, 1)) / np.maximum(counts.sum(axis=(0, 1)), 1)
    monthly = np.where(counts > 0, sums / np.maximum(counts, 1), overall)
    return np.asarray(monthly)
