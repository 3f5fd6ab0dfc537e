"""Process-model features: what the crop model makes of a field's own weather and soil.

For each case the batch crop model (``models.cropmodel``) is run from planting on the field's
observed days up to the issue day, then on each of ``members`` weather-generator traces for the
rest of the season, as seasonal crop forecasts do; the features are the members' yield
(geometric mean, and the standard deviation of its log: how much the unknown weather still
matters) and starch (mean) on the harvest day.

The yield gap. No sensor sees what keeps a field below the water-limited yield (nutrients,
weeds, stake quality). Where the case carries the field's previous season (its daily data and
its harvest), the crop model is run on that season for a grid of management factors, and the
factor that reproduces the harvest is this field's estimate (``management_est``); this season's
runs use it. Without a previous season the runs use 1 (the water-limited yield) and
``management_est`` is NaN, so the regressor knows which kind of number it got.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from agronomy.crop import variety as find_variety
from agronomy.soil import soil_type
from agronomy.weather import KoratWeather, day_index
from models import cropmodel
from models.daily import (
    RADIATION,
    RAIN,
    SOIL_COLUMNS,
    TMEAN,
    FieldSeason,
    FloatArray,
    IntArray,
    unique_rows,
)

CROP_FEATURES = ("crop_yield_t_ha", "crop_yield_spread", "crop_starch_pct", "management_est")
#: Management factors the previous season is run with (the simulator's range, 0.3-1).
MANAGEMENT_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
#: A generated member covers this many calendar days from 1 January of the planting year,
#: so any day up to LAST_READ_DAY after planting can be read.
MEMBER_DAYS = 3 * 366
LAST_READ_DAY = MEMBER_DAYS - 367
_WEATHER_COLUMNS = [RAIN, TMEAN, RADIATION]


def weather_members(members: int, seed: int) -> FloatArray:
    """(members, MEMBER_DAYS, 3) rain, mean temperature and radiation from the Korat weather
    generator: the unknown rest of a season."""
    first = day_index(date(2001, 1, 1))
    out = np.empty((members, MEMBER_DAYS, 3))
    for k in range(members):
        generator = KoratWeather(seed * 7_919 + k, first)
        for d in range(MEMBER_DAYS):
            w = generator.day(first + d)
            out[k, d] = (w.rain_mm, w.tmean_c, w.radiation_mj)
    return out


@dataclass(frozen=True, slots=True)
class CropCases:
    """The cases of one batch as arrays: indexes into the batch's seasons, the issue day (at
    most the season's length), the harvest day, and the previous season (index, recorded
    yield t/ha, harvest day; -1 / NaN where there is none)."""

    season: IntArray
    age: IntArray
    harvest: IntArray
    prev: IntArray
    prev_yield: FloatArray
    prev_age: IntArray


@dataclass(frozen=True, slots=True)
class DailyRows:
    """Every season's daily values, gaps filled, concatenated (``DAILY_VARIABLES`` columns);
    season ``s`` starts at row ``first_row[s]`` (its planting day). No copy is made of them."""

    filled: FloatArray
    first_row: IntArray


def crop_features(
    seasons: Sequence[FieldSeason], daily: DailyRows, cases: CropCases, members: FloatArray
) -> FloatArray:
    """Returns (cases, 4) in ``CROP_FEATURES`` order."""
    n = len(cases.season)
    out = np.full((n, len(CROP_FEATURES)), np.nan)
    if not n:
        return out
    management = _calibrate(seasons, daily, cases, members)
    out[:, 3] = management
    # One group per (season, issue day, management), read on every harvest day asked of it.
    factors, factor_of_case = np.unique(np.nan_to_num(management, nan=1.0), return_inverse=True)
    codes, group_of_case = unique_rows(cases.season, cases.age, factor_of_case.ravel())
    groups = np.column_stack([codes[:, 0], codes[:, 1], factors[codes[:, 2]]])
    # A field long past any harvest window (a stale planting date) is read at the members'
    # end: the trees were not trained past 12 months and hold their 12-month answer anyway.
    harvest = np.minimum(cases.harvest, LAST_READ_DAY)
    reads, read_of_case = unique_rows(group_of_case, harvest)
    yields, starch = _run(seasons, daily, groups, reads, members)
    log_yield = np.log(np.maximum(yields[read_of_case], 0.01))
    out[:, 0] = np.exp(log_yield.mean(axis=1))
    out[:, 1] = log_yield.std(axis=1)
    out[:, 2] = starch[read_of_case].mean(axis=1)
    return out


def _calibrate(
    seasons: Sequence[FieldSeason], daily: DailyRows, cases: CropCases, members: FloatArray
) -> FloatArray:
    """The management factor that makes the crop model reproduce each case's previous harvest
    on the previous season's own weather; NaN where the case has none."""
    out = np.full(len(cases.season), np.nan)
    usable = (cases.prev >= 0) & (cases.prev_age >= 0) & (cases.prev_yield > 0)
    if not usable.any():
        return out
    pairs, pair_of_case = unique_rows(cases.prev[usable], cases.prev_age[usable])
    grid = np.array(MANAGEMENT_GRID)
    days = np.array([seasons[i].days for i in pairs[:, 0]])
    groups = np.column_stack(
        [np.repeat(pairs[:, 0], len(grid)), np.repeat(days, len(grid)), np.tile(grid, len(pairs))]
    )
    reads = np.column_stack([np.arange(len(groups)), np.repeat(pairs[:, 1], len(grid))])
    # The previous season is observed to its harvest: a member is read only past its data.
    yields, _ = _run(seasons, daily, groups, reads, members[:1])
    curves = np.log(np.maximum(yields[:, 0], 0.01)).reshape(len(pairs), len(grid))
    estimates = np.array(
        [
            np.interp(np.log(y), np.sort(c), grid[np.argsort(c)])
            for y, c in zip(cases.prev_yield[usable], curves[pair_of_case], strict=True)
        ]
    )
    out[usable] = estimates
    return out


def _run(
    seasons: Sequence[FieldSeason],
    daily: DailyRows,
    groups: FloatArray,
    reads: IntArray,
    members: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """``groups``: rows (season index, observed days, management); ``reads``: rows (group,
    day), sorted by group. Returns (yield, starch) per read and member."""
    which = groups[:, 0].astype(np.int64)
    used, group_season = np.unique(which, return_inverse=True)
    soils = [soil_type(seasons[i].soil) for i in used]
    varieties = [find_variety(seasons[i].variety) for i in used]
    soil = np.array(
        [(t.field_capacity, t.wilting_point, t.saturation, t.drainage_per_day) for t in soils]
    ).reshape(-1, 4)[group_season.ravel()]
    variety = np.array([(v.rue_factor, v.starch_share, v.dmc_dry) for v in varieties]).reshape(
        -1, 3
    )[group_season.ravel()]
    start = np.array(
        [(seasons[i].planted - date(seasons[i].planted.year, 1, 1)).days for i in used]
    )
    batch = cropmodel.Groups(
        first_row=daily.first_row[which],
        switch=groups[:, 1].astype(np.int64),
        management=groups[:, 2],
        calendar_start=start[group_season.ravel()].astype(np.int64),
        soil=soil,
        variety=variety,
        theta0=_planting_soil_water(seasons, daily, which, soil),
        read_start=np.searchsorted(reads[:, 0], np.arange(len(groups) + 1)).astype(np.int64),
        read_days=reads[:, 1].astype(np.int64),
    )
    columns = np.array(_WEATHER_COLUMNS, dtype=np.int64)
    return cropmodel.simulate(batch, daily.filled, columns, members)


def _planting_soil_water(
    seasons: Sequence[FieldSeason], daily: DailyRows, which: IntArray, soil: FloatArray
) -> FloatArray:
    """(groups, 4) volumetric water on the planting day: the probes at 10, 30 and 60 cm, the
    deep layer as the 60 cm probe; half-way from wilting point to field capacity for a season
    with no day yet."""
    has_days = np.array([seasons[i].days > 0 for i in which], dtype=bool)
    rows = np.where(has_days, daily.first_row[which], 0)
    probes = daily.filled[rows][:, list(SOIL_COLUMNS)] / 100 if len(daily.filled) else None
    default = (soil[:, 1] + 0.5 * (soil[:, 0] - soil[:, 1]))[:, None]
    if probes is None:
        return np.repeat(default, 4, axis=1)
    water = np.column_stack([probes, probes[:, 2]])
    return np.where(has_days[:, None], water, default)
