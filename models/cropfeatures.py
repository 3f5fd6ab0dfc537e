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
from datetime import date

import numpy as np

from models import cropmodel
from models.daily import RADIATION, RAIN, SOIL_COLUMNS, TMEAN, FieldSeason, FloatArray
from simulators.crop import variety as find_variety
from simulators.soil import soil_type
from simulators.weather import KoratWeather, day_index

CROP_FEATURES = ("crop_yield_t_ha", "crop_yield_spread", "crop_starch_pct", "management_est")
#: Management factors the previous season is run with (the simulator's range, 0.3-1).
MANAGEMENT_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
#: A generated member covers this many calendar days from 1 January of the planting year.
MEMBER_DAYS = 3 * 366
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


#: (season index, age, harvest age, previous season index, previous yield, previous harvest age)
CaseRow = tuple[int, int, int, int | None, float, int | None]


def crop_features(
    seasons: Sequence[FieldSeason],
    filled: Sequence[FloatArray],
    cases: Sequence[CaseRow],
    members: FloatArray,
) -> FloatArray:
    """``cases`` index ``seasons`` and ``filled`` (the seasons' values with gaps filled).
    Returns (cases, 4) in ``CROP_FEATURES`` order."""
    out = np.full((len(cases), len(CROP_FEATURES)), np.nan)
    if not cases:
        return out
    observed = _stack(filled)
    management = _calibrate(seasons, observed, cases, members)
    out[:, 3] = management
    # One group per (season, issue day, management), read on every harvest day asked of it.
    plan = _Plan()
    reads = [
        plan.read(
            (season, min(age, seasons[season].days), 1.0 if np.isnan(m) else float(m)), harvest
        )
        for (season, age, harvest, *_), m in zip(cases, management, strict=True)
    ]
    yields, starch = plan.run(seasons, observed, members)
    log_yield = np.log(np.maximum(yields[reads], 0.01))
    out[:, 0] = np.exp(log_yield.mean(axis=1))
    out[:, 1] = log_yield.std(axis=1)
    out[:, 2] = starch[reads].mean(axis=1)
    return out


def _calibrate(
    seasons: Sequence[FieldSeason],
    observed: FloatArray,
    cases: Sequence[CaseRow],
    members: FloatArray,
) -> FloatArray:
    """The management factor that makes the crop model reproduce each case's previous harvest
    on the previous season's own weather; NaN where the case has none."""
    out = np.full(len(cases), np.nan)
    plan = _Plan()
    wanted: dict[tuple[int, int], list[int]] = {}
    for _, _, _, prev, prev_yield, prev_age in cases:
        if prev is None or prev_age is None or not prev_yield > 0 or (prev, prev_age) in wanted:
            continue
        days = seasons[prev].days
        wanted[(prev, prev_age)] = [plan.read((prev, days, m), prev_age) for m in MANAGEMENT_GRID]
    if not wanted:
        return out
    yields, _ = plan.run(seasons, observed, members[:1])
    grid = np.array(MANAGEMENT_GRID)
    for i, (_, _, _, prev, prev_yield, prev_age) in enumerate(cases):
        tickets = (
            wanted.get((prev, prev_age)) if prev is not None and prev_age is not None else None
        )
        if tickets is None:
            continue
        curve = np.log(np.maximum(yields[tickets, 0], 0.01))
        order = np.argsort(curve)
        out[i] = float(np.interp(np.log(prev_yield), curve[order], grid[order]))
    return out


class _Plan:
    """Groups of runs, keyed (season, observed days, management), and the days read off each.
    ``read`` hands out a ticket per distinct (group, day); ``run`` returns outputs indexed by
    ticket."""

    def __init__(self) -> None:
        self.groups: dict[tuple[int, int, float], dict[int, int]] = {}
        self.tickets = 0

    def read(self, group: tuple[int, int, float], day: int) -> int:
        days = self.groups.setdefault(group, {})
        if day not in days:
            days[day] = self.tickets
            self.tickets += 1
        return days[day]

    def run(
        self, seasons: Sequence[FieldSeason], observed: FloatArray, members: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """(yield, starch), each of shape (tickets, members)."""
        keys = list(self.groups)
        which = np.array([key[0] for key in keys], dtype=np.int64)
        read_start = np.zeros(len(keys) + 1, dtype=np.int64)
        read_start[1:] = np.cumsum([len(self.groups[key]) for key in keys])
        read_days = np.array([d for key in keys for d in self.groups[key]], dtype=np.int64)
        tickets = np.array([t for key in keys for t in self.groups[key].values()], dtype=int)
        chosen = [seasons[i] for i in which]
        soils = [soil_type(season.soil) for season in chosen]
        varieties = [find_variety(season.variety) for season in chosen]
        first = observed[which, 0]
        groups = cropmodel.Groups(
            season=which,
            switch=np.array([key[1] for key in keys], dtype=np.int64),
            management=np.array([key[2] for key in keys]),
            calendar_start=np.array(
                [(x.planted - date(x.planted.year, 1, 1)).days for x in chosen], dtype=np.int64
            ),
            soil=np.array(
                [
                    (t.field_capacity, t.wilting_point, t.saturation, t.drainage_per_day)
                    for t in soils
                ]
            ).reshape(-1, 4),
            variety=np.array(
                [(v.rue_factor, v.starch_share, v.dmc_dry) for v in varieties]
            ).reshape(-1, 3),
            theta0=np.column_stack([first[:, 3], first[:, 4], first[:, 5], first[:, 5]]) / 100,
            read_start=read_start,
            read_days=read_days,
        )
        yields, starch = cropmodel.simulate(groups, observed[:, :, :3], members)
        by_ticket = np.empty_like(yields), np.empty_like(starch)
        by_ticket[0][tickets] = yields
        by_ticket[1][tickets] = starch
        return by_ticket


def _stack(filled: Sequence[FloatArray]) -> FloatArray:
    """(seasons, days, 6): rain, tmean, radiation, then the three probes' %VWC; a season
    shorter than the longest repeats its last day (never read: the generator takes over)."""
    days = max(max(len(f) for f in filled), 1)
    out = np.zeros((len(filled), days, 6))
    columns = [*_WEATHER_COLUMNS, *SOIL_COLUMNS]
    for i, values in enumerate(filled):
        if len(values):
            out[i, : len(values)] = values[:, columns]
            out[i, len(values) :] = values[-1, columns]
    return out
