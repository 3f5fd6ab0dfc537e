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
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin  # type: ignore[import-untyped]
from sklearn.utils.validation import check_is_fitted  # type: ignore[import-untyped]

from agronomy.crop import STANDARD_CROP, CropParameters
from models import seasonstats
from models.cropfeatures import (
    CROP_FEATURES,
    CropCases,
    DailyRows,
    crop_features,
    weather_members,
)
from models.daily import DAILY_VARIABLES, FieldSeason, FloatArray, unique_rows
from models.errors import FeatureError, SchemaMismatchError
from models.seasonstats import STATISTICS
from models.weatherfeed import WeatherForecast

#: Bump when a feature's meaning, unit or order changes: a model trained on another version is
#: refused (``models.modelstore``), never silently fed features it did not learn.
FEATURE_SCHEMA_VERSION = 3

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
    *STATISTICS,
    *CROP_FEATURES,
)


@dataclass(slots=True)  # not frozen: a frozen init is 4x slower, and the job makes 180,000
class Case:
    """One question to a model: ``season`` observed for its first ``age_days`` days (the issue
    day is planting + age_days), harvested ``harvest_age_days`` after planting. ``prev_*``: the
    field's previous harvest, when the cooperative has it (NaN otherwise); with the previous
    season's daily data and its harvest age as well, the crop model learns the field's yield
    gap from it (``models.cropfeatures``). ``forecast``: the farm's daily weather forecast
    issued on (or before) the issue day, when there is one (``models.weatherfeed``); the crop
    model's weather members follow it on its days."""

    season: FieldSeason
    age_days: int
    harvest_age_days: int
    prev_yield_t_ha: float = float("nan")
    prev_starch_pct: float = float("nan")
    prev_season: FieldSeason | None = None
    prev_harvest_age_days: int | None = None
    forecast: WeatherForecast | None = None


class SeasonFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Cases -> feature matrix. Parameters: ``min_coverage`` (share of the season's days each
    variable must be observed on), ``min_recent_coverage`` (the same over the last
    ``recent_days``), ``gdd_base_c`` (growing degree days base, cassava's 15 degC),
    ``dry_day_mm`` (a day under this much rain is dry), ``check_after_days`` (younger seasons
    are not checked: they have little to check), ``weather_members`` and ``weather_seed`` (the
    weather-generator traces the crop model runs on after the issue day), ``crop_parameters``
    (the crop the runs use: the standard one, or what a cooperative's records calibrated,
    ``models.calibration``; set on a fitted model with ``set_params``)."""

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
        crop_parameters: CropParameters | None = None,
    ) -> None:
        self.min_coverage = min_coverage
        self.min_recent_coverage = min_recent_coverage
        self.recent_days = recent_days
        self.gdd_base_c = gdd_base_c
        self.dry_day_mm = dry_day_mm
        self.check_after_days = check_after_days
        self.weather_members = weather_members
        self.weather_seed = weather_seed
        self.crop_parameters = crop_parameters

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
        batch = self._batch(cases)
        if batch.refused:
            problems = [p for reasons in batch.refused.values() for p in reasons]
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise FeatureError(
                "required features are missing: " + "; ".join(problems[:5]) + more + ". Check "
                "the sensors (or the rollups), or lower min_coverage to accept sparser data"
            )
        return self._features(cases, batch, np.arange(len(cases)))

    def transform_accepted(
        self, cases: Sequence[Case]
    ) -> tuple[list[int], FloatArray, dict[str, list[str]]]:
        """What the forecast job needs of a whole cooperative in one batch: the indexes of
        the cases that could be featurised, their features, and field id -> why the others'
        fields were refused (unknown variety or soil, data too sparse)."""
        batch = self._batch(cases)
        kept = [i for i, c in enumerate(cases) if c.season.field_id not in batch.refused]
        rows = np.array(kept, dtype=np.int64)
        return kept, self._features([cases[i] for i in kept], batch, rows), batch.refused

    # ---- one batch of cases ----------------------------------------------------------------

    def _batch(self, cases: Sequence[Case]) -> _Batch:
        """Every distinct season of ``cases`` concatenated (gaps filled from the climatology),
        summarised once per (season, issue day) by ``models.seasonstats``, and checked."""
        check_is_fitted(self, "climatology_")
        if self.schema_version_ != FEATURE_SCHEMA_VERSION:
            raise SchemaMismatchError(
                f"these features were fitted with schema {self.schema_version_}, this code "
                f"builds schema {FEATURE_SCHEMA_VERSION}: retrain with `isanfarm train`"
            )
        batch = _Batch()
        batch.case_season = np.empty(len(cases), dtype=np.int64)
        for i, case in enumerate(cases):
            batch.case_season[i] = batch.add(case.season)
            if case.prev_season is not None:
                batch.add(case.prev_season)
        asked_of = set(batch.case_season.tolist())
        unusable = set()
        for number, season in enumerate(batch.seasons):
            try:
                self._check_metadata(season)
            except FeatureError as exc:
                unusable.add(number)
                if number in asked_of:  # a bad previous season only goes unused
                    batch.refuse(season, str(exc))
        usable = [
            s
            for number, s in enumerate(batch.seasons)
            if number not in unusable and s.field_id not in batch.refused
        ]
        batch.fill(usable, self._normals(usable))
        asked = np.array([c.age_days for c in cases], dtype=np.int64)
        days = np.array([s.days for s in batch.seasons], dtype=np.int64)
        batch.case_age = np.minimum(asked, days[batch.case_season]) if len(cases) else asked
        batch.summarise(self.gdd_base_c, self.dry_day_mm, self.recent_days)
        pairs, _ = unique_rows(batch.case_season, asked)
        for number, age in pairs.tolist():
            season = batch.seasons[number]
            if season.field_id not in batch.refused:
                self._check_coverage(season, age, min(age, season.days), batch)
        return batch

    def _normals(self, seasons: list[FieldSeason]) -> FloatArray:
        """The climatology's value for every day of ``seasons`` (concatenated)."""
        if not seasons:
            return np.empty((0, len(DAILY_VARIABLES)))
        lengths = [s.days for s in seasons]
        first = np.array([np.datetime64(s.day(0), "D").astype(int) for s in seasons])
        starts = np.repeat(np.cumsum([0, *lengths[:-1]]), lengths)
        days = np.repeat(first, lengths) + np.arange(sum(lengths)) - starts
        months = days.astype("datetime64[D]").astype("datetime64[M]").astype(int) % 12
        soils = np.repeat([self.soils_.index(s.soil) for s in seasons], lengths)
        return np.asarray(self.climatology_[soils, months])

    def _check_coverage(self, season: FieldSeason, asked: int, age: int, batch: _Batch) -> None:
        if asked < self.check_after_days:
            return
        where = f"field {season.field_id!r}"
        if asked > season.days:
            batch.refuse(
                season,
                f"{where}: data ends {season.days} days after planting, the forecast needs {asked}",
            )
            return
        whole, recent = batch.coverage(season, age)
        issue = season.day(age)
        for j, name in enumerate(DAILY_VARIABLES):
            if whole[j] < self.min_coverage:
                batch.refuse(
                    season,
                    f"{where} on {issue}: {name} observed on {whole[j]:.0%} of the season's "
                    f"{age} days, needs {self.min_coverage:.0%}",
                )
            elif recent[j] < self.min_recent_coverage:
                batch.refuse(
                    season,
                    f"{where} on {issue}: {name} observed on {recent[j]:.0%} of the last "
                    f"{min(age, self.recent_days)} days, needs {self.min_recent_coverage:.0%}",
                )

    def _features(self, cases: Sequence[Case], batch: _Batch, rows: np.ndarray) -> FloatArray:
        """Features of ``cases``, which are the batch's cases at ``rows``."""
        if not cases:
            return np.empty((0, len(self.feature_names_out_)))
        # Per-season values gathered through one index per case: 18 cases share a season.
        season = batch.case_season[rows]
        seasons = batch.seasons
        planted = np.array([np.datetime64(s.planted, "D") for s in seasons])[season]
        plant_doy = np.array([s.planted.timetuple().tm_yday for s in seasons], dtype=float)
        area = np.array([s.area_ha for s in seasons], dtype=float)
        age = batch.case_age[rows].astype(float)
        harvest = np.array([c.harvest_age_days for c in cases], dtype=float)
        harvested = planted + harvest.astype("timedelta64[D]")
        year_start = harvested.astype("datetime64[Y]").astype("datetime64[D]")
        harvest_doy = (harvested - year_start).astype(int) + 1
        turn = 2 * np.pi / 365.25
        numeric = [
            age,
            harvest,
            harvest - age,
            np.sin(turn * plant_doy)[season],
            np.cos(turn * plant_doy)[season],
            np.sin(turn * harvest_doy),
            np.cos(turn * harvest_doy),
            area[season],
            np.array([c.prev_yield_t_ha for c in cases], dtype=float),
            np.array([c.prev_starch_pct for c in cases], dtype=float),
        ]
        statistics = batch.statistics[batch.queries[rows]]
        crop = self._crop_features(cases, batch, rows)
        variety = np.array([self._variety_index(s) for s in seasons], dtype=int)[season]
        soil = np.array([self._soil_index(s) for s in seasons], dtype=int)[season]
        onehot = [
            (variety[:, None] == np.arange(len(self.varieties_))).astype(float),
            (soil[:, None] == np.arange(len(self.soils_))).astype(float),
        ]
        return np.column_stack([*numeric, statistics, crop, *onehot])

    def _variety_index(self, season: FieldSeason) -> int:
        """Column of the season's variety (-1 for a refused season: never featurised)."""
        known = season.variety in self.varieties_
        return self.varieties_.index(season.variety) if known else -1

    def _soil_index(self, season: FieldSeason) -> int:
        return self.soils_.index(season.soil) if season.soil in self.soils_ else -1

    def _crop_features(self, cases: Sequence[Case], batch: _Batch, rows: np.ndarray) -> FloatArray:
        """One batch of crop-model runs for every case (``models.cropfeatures``)."""
        # A previous season mostly filled from the climatology would calibrate the yield gap
        # against weather the field never had: not used.
        trusted: dict[int, bool] = {}

        def usable(previous: FieldSeason | None) -> int:
            """The previous season's number, or -1 when there is none to trust."""
            if previous is None:
                return -1
            number = batch.index[id(previous)]
            if number not in trusted:
                share = batch.observed_share(previous)
                trusted[number] = share >= self.min_coverage
            return number if trusted[number] else -1

        prev = np.array([usable(c.prev_season) for c in cases], dtype=np.int64)
        prev_age = [c.prev_harvest_age_days for c in cases]
        crop_cases = CropCases(
            season=batch.case_season[rows],
            age=batch.case_age[rows],
            harvest=np.array([c.harvest_age_days for c in cases], dtype=np.int64),
            prev=prev,
            prev_yield=np.array([c.prev_yield_t_ha for c in cases], dtype=float),
            prev_age=np.array([-1 if a is None else a for a in prev_age], dtype=np.int64),
            forecasts=_forecasts(cases),
        )
        # A model saved before the parameter existed has no attribute: the standard crop.
        parameters = getattr(self, "crop_parameters", None) or STANDARD_CROP
        return crop_features(
            batch.seasons, batch.daily_rows(), crop_cases, self.members_, parameters
        )

    # ---- checks ---------------------------------------------------------------------------

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


class _Batch:
    """The seasons of one ``transform`` call, concatenated, and their summaries."""

    def __init__(self) -> None:
        self.seasons: list[FieldSeason] = []
        self.index: dict[int, int] = {}
        self.refused: dict[str, list[str]] = {}
        self.offsets = np.zeros(1, dtype=np.int64)
        self.filled = np.empty((0, len(DAILY_VARIABLES)))
        self.observed = np.empty((0, len(DAILY_VARIABLES)))
        self.row: dict[int, int] = {}  # season number -> row block in the concatenation
        self.queries = np.zeros(0, dtype=np.int64)
        #: Per case of the batch, its season's number and its issue day (at most the
        #: season's length: a forecast issued past the data reads the data's last day).
        self.case_season = np.zeros(0, dtype=np.int64)
        self.case_age = np.zeros(0, dtype=np.int64)
        self.statistics = np.empty((0, len(STATISTICS)))
        self._query_index: dict[tuple[int, int], int] = {}
        self._whole = np.empty((0, len(DAILY_VARIABLES)))
        self._recent = np.empty((0, len(DAILY_VARIABLES)))

    def add(self, season: FieldSeason) -> int:
        """The season's number in this batch."""
        number = self.index.get(id(season))
        if number is None:
            number = self.index[id(season)] = len(self.seasons)
            self.seasons.append(season)
        return number

    def refuse(self, season: FieldSeason, reason: str) -> None:
        self.refused.setdefault(season.field_id, []).append(reason)

    def fill(self, seasons: list[FieldSeason], normals: FloatArray) -> None:
        """Concatenate ``seasons`` (those that passed the metadata checks), gaps filled."""
        values = (
            np.concatenate([s.values for s in seasons])
            if seasons
            else np.empty((0, len(DAILY_VARIABLES)))
        )
        observed = np.isfinite(values)
        self.filled = np.where(observed, values, normals)
        self.observed = observed.astype(float)
        self.offsets = np.concatenate([[0], np.cumsum([s.days for s in seasons])]).astype(np.int64)
        self.row = {self.index[id(s)]: block for block, s in enumerate(seasons)}

    def summarise(self, gdd_base: float, dry_mm: float, recent: int) -> None:
        """Summaries once per distinct (season, issue day) of the cases (``case_season``)."""
        block_of = np.full(len(self.seasons), -1, dtype=np.int64)
        for number, block in self.row.items():
            block_of[number] = block
        distinct, self.queries = unique_rows(block_of[self.case_season], self.case_age)
        self._query_index = {(b, a): q for q, (b, a) in enumerate(distinct.tolist())}
        usable = distinct[:, 0] >= 0
        blocks = np.where(usable, distinct[:, 0], 0)
        query_ages = np.where(usable, distinct[:, 1], 0)
        if len(self.offsets) < 2:  # no usable season at all: nothing to summarise
            blocks = np.zeros(0, dtype=np.int64)
            query_ages = np.zeros(0, dtype=np.int64)
        self.statistics, self._whole, self._recent = seasonstats.summarise(
            self.filled,
            self.observed,
            self.offsets,
            blocks,
            query_ages,
            gdd_base,
            dry_mm,
            recent,
        )

    def coverage(self, season: FieldSeason, age: int) -> tuple[FloatArray, FloatArray]:
        q = self._query_index[(self.row[self.index[id(season)]], age)]
        return self._whole[q], self._recent[q]

    def observed_share(self, season: FieldSeason) -> float:
        """The smallest share of ``season``'s days any variable was observed on."""
        block = self.row.get(self.index[id(season)])
        if block is None or season.days == 0:
            return 0.0
        rows = self.observed[self.offsets[block] : self.offsets[block + 1]]
        return float(rows.mean(axis=0).min())

    def daily_rows(self) -> DailyRows:
        """The concatenation, where each season's days start in it (0 for a season left out
        of it: no case of those is featurised), and which values were observed (the crop
        model's data assimilation weighs only those)."""
        first_row = np.zeros(len(self.seasons), dtype=np.int64)
        for number, block in self.row.items():
            first_row[number] = self.offsets[block]
        return DailyRows(self.filled, first_row, self.observed)


def _forecasts(cases: Sequence[Case]) -> tuple[WeatherForecast | None, ...]:
    """The cases' forecasts (empty when none has one), each checked to belong to the case: a
    forecast of another farm, or one issued after the issue day (it would know weather the
    forecast could not), is refused."""
    if all(c.forecast is None for c in cases):
        return ()
    for case in cases:
        forecast, season = case.forecast, case.season
        if forecast is None:
            continue
        issue = season.day(case.age_days)
        if forecast.farm_id != season.farm_id:
            raise FeatureError(
                f"field {season.field_id!r}: its case carries the forecast of farm "
                f"{forecast.farm_id!r}, the field is on farm {season.farm_id!r}: pass the "
                "field's own farm's forecast"
            )
        if forecast.issued > issue:
            raise FeatureError(
                f"field {season.field_id!r}: forecast issued {forecast.issued}, after the "
                f"case's issue day {issue}: pass the forecast issued on or before it"
            )
    return tuple(c.forecast for c in cases)


def _unique_seasons(cases: Sequence[Case]) -> list[FieldSeason]:
    seen: dict[int, FieldSeason] = {}
    for case in cases:
        seen.setdefault(id(case.season), case.season)
    return list(seen.values())


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
