"""Process-model features: what the crop model makes of a field's own weather and soil.

For each case the batch crop model (``models.cropmodel``) is run from planting on the field's
observed days up to the issue day, then on each of ``members`` weather-generator traces for the
rest of the season, as seasonal crop forecasts do; the features are the members' yield
(geometric mean, and the standard deviation of its log: how much the unknown weather still
matters) and starch (mean) on the harvest day.

The yield gap. No sensor measures what keeps a field below the water-limited yield (nutrients,
weeds, stake quality). Where the case carries the field's previous season (its daily data and
its harvest), the crop model is run on that season for a grid of management factors, and the
factor that reproduces the harvest is this field's prior estimate. The probes then update it
(``assimilate``: a canopy that grows better transpires more and dries the soil faster), from
a flat prior where there is no previous season: ``management_est`` is the posterior mean, which
this season's runs use, and ``management_sd`` its standard deviation, so the regressor knows
how far to trust it.

A weather forecast. A case may carry its farm's daily forecast (``models.weatherfeed``): its
members then follow the forecast on the forecast's days and the weather generator after them
(``forecast_members``), since the rain of a harvest's last weeks moves its starch more than
anything known months ahead. Cases without one run on the shared members exactly as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from agronomy.crop import STANDARD_CROP, CropParameters
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
from models.weatherfeed import TROPICAL_SKILL, WeatherForecast

CROP_FEATURES = (
    "crop_yield_t_ha",
    "crop_yield_spread",
    "crop_starch_pct",
    "management_est",
    "management_sd",
)
#: Management factors the previous season is run with (the simulator's range, 0.3-1).
MANAGEMENT_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
#: Data assimilation (``assimilate``). Particles: the management factors the observed days
#: are run with, evenly over the simulator's range; the misfit is interpolated between them
#: onto the posterior grid (0.01 apart).
ASSIMILATION_PARTICLES = (0.3, 0.475, 0.65, 0.825, 1.0)
POSTERIOR_GRID = tuple(np.round(np.linspace(0.3, 1.0, 71), 3))
#: Days after planting the misfit starts: roots reach the 30 cm probe about a month after
#: planting (root growth 10 mm a day after emergence at about two weeks, ``CropParameters``),
#: and before that the factor does not change the probes' water at all.
MISFIT_START_DAY = 30
#: Error of a capacitive probe's daily mean against the layer's water, volume-% (a probe
#: calibrated for its soil reads within 2-3 points; modelling choice).
PROBE_SD_PCT = 2.0
#: The model's soil-water errors persist for days (a wrong deep-layer start, one rain
#: missed by the gauge): the likelihood counts one independent observation per week, i.e.
#: each squared difference is divided by this many (a decorrelation factor, modelling choice).
DECORRELATION_DAYS = 7.0
#: Standard deviation of the prior around a previous harvest's calibrated factor: the
#: calibration's own error (0.03, ``tests/unit/test_cropmodel.py``) and the field's
#: season-to-season change (+-5 %, ``simulators.seasons``), about 0.05 together.
CALIBRATED_PRIOR_SD = 0.05
#: A generated member covers this many calendar days from 1 January of the planting year,
#: so any day up to LAST_READ_DAY after planting can be read.
MEMBER_DAYS = 3 * 366
LAST_READ_DAY = MEMBER_DAYS - 367
_WEATHER_COLUMNS = [RAIN, TMEAN, RADIATION]
#: The members' calendar: day 0 is 1 January of a (non-leap) planting year.
_MEMBER_EPOCH = date(2001, 1, 1)
#: Sets of members laid end to end in one crop-model run (``_run_sets``): 64 sets of 6 members
#: are 10 MB.
SETS_PER_RUN = 64


def weather_members(members: int, seed: int) -> FloatArray:
    """(members, MEMBER_DAYS, 3) rain, mean temperature and radiation from the Korat weather
    generator: the unknown rest of a season."""
    first = day_index(_MEMBER_EPOCH)
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
    yield t/ha, harvest day; -1 / NaN where there is none), and per case its farm's weather
    forecast (``forecasts``: empty, or one per case, None where there is none)."""

    season: IntArray
    age: IntArray
    harvest: IntArray
    prev: IntArray
    prev_yield: FloatArray
    prev_age: IntArray
    forecasts: Sequence[WeatherForecast | None] = ()


@dataclass(frozen=True, slots=True)
class DailyRows:
    """Every season's daily values, gaps filled, concatenated (``DAILY_VARIABLES`` columns);
    season ``s`` starts at row ``first_row[s]`` (its planting day). No copy is made of them.
    ``observed``: 1 where a value was observed, 0 where it was filled from the climatology
    (same shape); None: every value was observed."""

    filled: FloatArray
    first_row: IntArray
    observed: FloatArray | None = None


def crop_features(
    seasons: Sequence[FieldSeason],
    daily: DailyRows,
    cases: CropCases,
    members: FloatArray,
    parameters: CropParameters = STANDARD_CROP,
) -> FloatArray:
    """Returns (cases, 5) in ``CROP_FEATURES`` order. ``parameters``: the crop the runs use
    (the standard one unless a cooperative's records calibrated another, docs/calibration.md)."""
    n = len(cases.season)
    out = np.full((n, len(CROP_FEATURES)), np.nan)
    if not n:
        return out
    management, management_sd = assimilate(
        seasons, daily, cases, _calibrate(seasons, daily, cases, members, parameters), parameters
    )
    out[:, 3], out[:, 4] = management, management_sd
    # One group per (season, issue day, management, members), read on every harvest day asked
    # of it; the members are the shared ones (0) or a forecast's own (``_weather_sets``).
    factors, factor_of_case = np.unique(management, return_inverse=True)
    sets = _weather_sets(seasons, cases)
    codes, group_of_case = unique_rows(
        cases.season, cases.age, factor_of_case.ravel(), sets.of_case
    )
    groups = np.column_stack([codes[:, 0], codes[:, 1], factors[codes[:, 2]]])
    # A field long past any harvest window (a stale planting date) is read at the members'
    # end: the trees were not trained past 12 months and hold their 12-month answer anyway.
    harvest = np.minimum(cases.harvest, LAST_READ_DAY)
    reads, read_of_case = unique_rows(group_of_case, harvest)
    if not sets.keys:
        yields, starch = _run(seasons, daily, groups, reads, members, parameters=parameters)
    else:
        yields, starch = _run_sets(
            seasons, daily, groups, reads, codes[:, 3], sets, members, parameters
        )
    log_yield = np.log(np.maximum(yields[read_of_case], 0.01))
    out[:, 0] = np.exp(log_yield.mean(axis=1))
    out[:, 1] = log_yield.std(axis=1)
    out[:, 2] = starch[read_of_case].mean(axis=1)
    return out


@dataclass(frozen=True, slots=True)
class _WeatherSets:
    """Which members each case runs on: 0 the shared ones, k > 0 those of ``keys[k - 1]`` (a
    forecast, and 1 January of the year the members are laid from)."""

    of_case: IntArray
    keys: list[tuple[WeatherForecast, date]]


def _weather_sets(seasons: Sequence[FieldSeason], cases: CropCases) -> _WeatherSets:
    """A forecast's members depend on the calendar year they are laid on (members count days
    from 1 January of the planting year): one set per distinct (forecast, planting year)."""
    of_case = np.zeros(len(cases.season), dtype=np.int64)
    keys: list[tuple[WeatherForecast, date]] = []
    numbers: dict[tuple[int, int], int] = {}
    for i, forecast in enumerate(cases.forecasts):
        if forecast is None:
            continue
        year = seasons[int(cases.season[i])].planted.year
        number = numbers.setdefault((id(forecast), year), len(keys) + 1)
        if number > len(keys):
            keys.append((forecast, date(year, 1, 1)))
        of_case[i] = number
    return _WeatherSets(of_case, keys)


def _run_sets(
    seasons: Sequence[FieldSeason],
    daily: DailyRows,
    groups: FloatArray,
    reads: IntArray,
    group_set: IntArray,
    sets: _WeatherSets,
    members: FloatArray,
    parameters: CropParameters = STANDARD_CROP,
) -> tuple[FloatArray, FloatArray]:
    """``_run`` over several sets of members at once. Why not one run per set: a run is a
    parallel region whose start costs milliseconds on a busy machine, and a set is one farm.
    The kernel reads a group's members at its calendar offset, so up to ``SETS_PER_RUN`` sets are
    laid end to end along the calendar and each group's offset moved onto its own set (no read
    crosses into the next set: reads stop at ``LAST_READ_DAY``)."""
    yields = np.empty((len(reads), members.shape[0]))
    starch = np.empty_like(yields)
    set_of_read = group_set[reads[:, 0]]
    climatology = member_climatology(members)
    for first in range(0, len(sets.keys) + 1, SETS_PER_RUN):
        last = min(first + SETS_PER_RUN, len(sets.keys) + 1)
        mine = np.flatnonzero((group_set >= first) & (group_set < last))
        rows = np.flatnonzero((set_of_read >= first) & (set_of_read < last))
        if not len(rows):
            continue
        laid = np.empty((members.shape[0], (last - first) * members.shape[1], members.shape[2]))
        each = laid.reshape(members.shape[0], last - first, *members.shape[1:])
        each[:] = members[:, None]
        for k in range(max(first, 1), last):
            forecast_members(members, *sets.keys[k - 1], climatology, out=each[:, k - first])
        local = np.searchsorted(mine, reads[rows, 0])
        yields[rows], starch[rows] = _run(
            seasons,
            daily,
            groups[mine],
            np.column_stack([local, reads[rows, 1]]),
            laid,
            (group_set[mine] - first) * members.shape[1],
            parameters,
        )
    return yields, starch


def member_climatology(members: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Mean and standard deviation of each member variable per calendar month, (12, 3) each:
    the weather the members stand for when nothing is known, which a forecast departs from."""
    days = np.datetime64(_MEMBER_EPOCH) + np.arange(members.shape[1])
    months = days.astype("datetime64[M]").astype(int) % 12
    mean = np.empty((12, members.shape[2]))
    sd = np.empty_like(mean)
    for month in range(12):
        values = members[:, months == month].reshape(-1, members.shape[2])
        mean[month], sd[month] = values.mean(axis=0), values.std(axis=0)
    return mean, sd


def forecast_members(
    members: FloatArray,
    forecast: WeatherForecast,
    year_start: date,
    climatology: tuple[FloatArray, FloatArray],
    out: FloatArray | None = None,
) -> FloatArray:
    """A copy of ``members`` (day 0 = ``year_start``) whose forecast days follow the forecast;
    ``out``: a copy already made, whose forecast days are overwritten.

    On each forecast day a member is the forecast's mean plus its spread times the member's own
    standardised anomaly, ``mean + spread * (member - clim_mean) / clim_sd``: the members then
    scatter around the forecast exactly as wide as the forecast is uncertain, and keep the
    generator's wet spells and its rain-cooled, cloudy wet days. Without a spread the forecast
    is raw: its mean is shrunk to climatology by the skill such forecasts have at that lead
    (``TROPICAL_SKILL``), its spread is what that skill leaves, so a lead with no skill gives
    the members back as they were. Rain and radiation are floored at 0."""
    clim_mean, clim_sd = climatology
    lead = np.arange(1, forecast.horizon + 1)
    days = np.datetime64(forecast.issued) + (lead - 1)
    index = (days - np.datetime64(year_start)).astype(np.int64)
    keep = (index >= 0) & (index < members.shape[1])
    month = days[keep].astype("datetime64[M]").astype(np.int64) % 12
    index = index[keep]
    clim, sd = clim_mean[month], clim_sd[month]
    mean = forecast.values[keep]
    if forecast.spread is not None:
        spread = forecast.spread[keep]
    else:
        rho = np.column_stack([s.correlation(lead[keep]) for s in TROPICAL_SKILL])
        mean = clim + rho * (mean - clim)
        spread = sd * np.sqrt(1 - rho**2)
    out = members.copy() if out is None else out
    anomaly = (members[:, index] - clim) / np.where(sd > 0, sd, 1.0)
    out[:, index] = mean + spread * anomaly
    out[:, index, 0] = np.maximum(out[:, index, 0], 0.0)
    out[:, index, 2] = np.maximum(out[:, index, 2], 0.0)
    return out


def _calibrate(
    seasons: Sequence[FieldSeason],
    daily: DailyRows,
    cases: CropCases,
    members: FloatArray,
    parameters: CropParameters = STANDARD_CROP,
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
    yields, _ = _run(seasons, daily, groups, reads, members[:1], parameters=parameters)
    curves = np.log(np.maximum(yields[:, 0], 0.01)).reshape(len(pairs), len(grid))
    estimates = np.array(
        [
            np.interp(np.log(y), np.sort(c), grid[np.argsort(c)])
            for y, c in zip(cases.prev_yield[usable], curves[pair_of_case], strict=True)
        ]
    )
    out[usable] = estimates
    return out


def assimilate(
    seasons: Sequence[FieldSeason],
    daily: DailyRows,
    cases: CropCases,
    calibrated: FloatArray,
    parameters: CropParameters = STANDARD_CROP,
) -> tuple[FloatArray, FloatArray]:
    """Posterior mean and standard deviation of each case's management factor, given the
    soil moisture its probes reported from ``MISFIT_START_DAY`` to the issue day.

    A grid-based Bayesian update of one parameter (sequential importance sampling with fixed
    particles: van Leeuwen 2009, Mon. Weather Rev. 137; the parameter half of the dual
    state-parameter estimation of Moradkhani et al. 2005, Water Resour. Res. 41, done here
    without an ensemble Kalman filter): the observed prefix is run once per particle
    (``ASSIMILATION_PARTICLES``, ``cropmodel.misfit``); the misfit SSE between the three
    probed layers and the probes (each probe's constant offset taken out: ``_misfits``) is
    interpolated between the particles onto ``POSTERIOR_GRID`` by the polynomial through them
    (the misfit is smooth in the factor; five particles recovered the factor as well as eight,
    0.030 against 0.028 mean absolute error at 200 days, at five eighths of the time) and
    weighted by the likelihood exp(-SSE / (2 sigma^2 kappa)) (``PROBE_SD_PCT``,
    ``DECORRELATION_DAYS``). The prior is flat over the simulator's range where the field
    has no usable previous season, else normal around the factor its previous harvest
    calibrated (``calibrated``, NaN where none) with ``CALIBRATED_PRIOR_SD``. With no probe
    value in the window the posterior is the prior."""
    if not len(cases.season):
        return np.empty(0), np.empty(0)
    # One posterior per distinct (season, issue day, prior): a field's 18 harvest dates share it.
    priors, prior_of_case = np.unique(np.nan_to_num(calibrated, nan=-1.0), return_inverse=True)
    keys, key_of_case = unique_rows(cases.season, cases.age, prior_of_case.ravel())
    centre = priors[keys[:, 2]]
    grid = np.array(POSTERIOR_GRID)
    log_prior = np.zeros((len(keys), len(grid)))
    prior = centre >= 0
    log_prior[prior] = -0.5 * ((grid - centre[prior, None]) / CALIBRATED_PRIOR_SD) ** 2
    sse = _misfits(seasons, daily, keys[:, 0], keys[:, 1], parameters)
    log_post = log_prior - sse / (2 * PROBE_SD_PCT**2 * DECORRELATION_DAYS)
    weight = np.exp(log_post - log_post.max(axis=1, keepdims=True))
    weight /= weight.sum(axis=1, keepdims=True)
    mean = weight @ grid
    sd = np.sqrt(np.maximum(weight @ grid**2 - mean**2, 0.0))
    return mean[key_of_case], sd[key_of_case]


def _misfits(
    seasons: Sequence[FieldSeason],
    daily: DailyRows,
    season: IntArray,
    age: IntArray,
    parameters: CropParameters = STANDARD_CROP,
) -> FloatArray:
    """(len(season), len(POSTERIOR_GRID)): the misfit (vol-%^2) of each (season, issue day)
    at every factor of the posterior grid, less its smallest, 0 where no probe reported in
    the window. One group per (season, particle), run to the season's latest issue day and
    read at each of its issue days: four issue days of one season cost one run."""
    out = np.zeros((len(season), len(POSTERIOR_GRID)))
    informed = age > MISFIT_START_DAY
    if not informed.any():
        return out
    pairs, pair_of_case = unique_rows(season[informed], age[informed])
    particles = np.array(ASSIMILATION_PARTICLES)
    used, pair_season = np.unique(pairs[:, 0], return_inverse=True)
    pair_season = pair_season.ravel()
    groups = np.column_stack(
        [
            np.repeat(used, len(particles)),
            np.repeat(np.array([seasons[i].days for i in used]), len(particles)),
            np.tile(particles, len(used)),
        ]
    )
    # Reads sorted by group: group = season's rank * particles + particle.
    group_of_read = (pair_season[:, None] * len(particles) + np.arange(len(particles))).ravel()
    days_of_read = np.repeat(pairs[:, 1], len(particles))
    order = np.lexsort((days_of_read, group_of_read))
    reads = np.column_stack([group_of_read[order], days_of_read[order]])
    batch = _groups(seasons, daily, groups, reads)
    reported = np.ones_like(daily.filled) if daily.observed is None else daily.observed
    squares, sums, count = cropmodel.misfit(
        batch,
        daily.filled,
        np.array(_WEATHER_COLUMNS, dtype=np.int64),
        reported,
        np.array(SOIL_COLUMNS, dtype=np.int64),
        MISFIT_START_DAY,
        parameters,
    )
    # Each probe's mean difference taken out, sum of (d - mean d)^2: a probe reading a few
    # points high, or a soil registered as the wrong class, shifts the level, and fitting the
    # level took the factor far off (3-month yield MAPE 42-50 % in those stress worlds of
    # bench/models.py against 12-19 % without the level); the drying, which the factor drives,
    # is kept.
    squares = squares - sums**2 / np.maximum(count, 1)
    node_sse = np.empty(len(reads))
    node_sse[order] = squares.sum(axis=1)
    node_count = np.empty(len(reads))
    node_count[order] = count.sum(axis=1)
    per_pair = node_sse.reshape(len(pairs), len(particles))
    seen = node_count.reshape(len(pairs), len(particles))[:, 0] > 0
    fine = per_pair @ _lagrange(particles, np.array(POSTERIOR_GRID)).T
    # Never below the best particle's misfit: a spline may overshoot between nodes.
    fine = np.maximum(fine, per_pair.min(axis=1, keepdims=True))
    fine = np.where(seen[:, None], fine - per_pair.min(axis=1, keepdims=True), 0.0)
    out[informed] = fine[pair_of_case.ravel()]
    return out


def _lagrange(nodes: FloatArray, at: FloatArray) -> FloatArray:
    """(len(at), len(nodes)): the Lagrange basis polynomials of ``nodes`` at ``at``, so that
    ``values @ basis.T`` is the polynomial through (nodes, values) at ``at``."""
    basis = np.ones((len(at), len(nodes)))
    for j, node in enumerate(nodes):
        for m, other in enumerate(nodes):
            if m != j:
                basis[:, j] *= (at - other) / (node - other)
    return basis


def _run(
    seasons: Sequence[FieldSeason],
    daily: DailyRows,
    groups: FloatArray,
    reads: IntArray,
    members: FloatArray,
    offset: IntArray | None = None,
    parameters: CropParameters = STANDARD_CROP,
) -> tuple[FloatArray, FloatArray]:
    """``groups``: rows (season index, observed days, management); ``reads``: rows (group,
    day), sorted by group; ``offset``: days each group's members start later in ``members``
    (``_run_sets``). Returns (yield, starch) per read and member."""
    batch = _groups(seasons, daily, groups, reads, offset)
    columns = np.array(_WEATHER_COLUMNS, dtype=np.int64)
    return cropmodel.simulate(batch, daily.filled, columns, members, parameters)


def _groups(
    seasons: Sequence[FieldSeason],
    daily: DailyRows,
    groups: FloatArray,
    reads: IntArray,
    offset: IntArray | None = None,
) -> cropmodel.Groups:
    """The crop model's groups for rows (season index, observed days, management) read on
    ``reads`` (group, day), sorted by group."""
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
    return cropmodel.Groups(
        first_row=daily.first_row[which],
        switch=groups[:, 1].astype(np.int64),
        management=groups[:, 2],
        calendar_start=start[group_season.ravel()].astype(np.int64)
        + (0 if offset is None else offset),
        soil=soil,
        variety=variety,
        theta0=_planting_soil_water(seasons, daily, which, soil),
        read_start=np.searchsorted(reads[:, 0], np.arange(len(groups) + 1)).astype(np.int64),
        read_days=reads[:, 1].astype(np.int64),
    )


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
