"""The simulator's cassava crop and soil water, compiled, for thousands of runs at once.

Why a second copy of the crop model: the forecaster runs it as a process-based feature (the
water-limited yield a field's own weather and soil support, and the field's yield gap
calibrated from its previous harvest) for tens of thousands of (field, weather member) runs per
job. ``agronomy.crop`` and ``agronomy.soil`` step one field in pure Python (about 5 ms a
season), which is right for a live sensor node and far too slow here; numpy over runs was
measured at 0.34 µs per run-day, still 8 s for 10,000 fields. This module is the same
arithmetic, day by day and run by run, compiled with numba; ``tests/unit/test_cropmodel.py``
holds it to the scalar simulator to 1e-9 on the same weather, so the two cannot drift apart:
change one, and that test says so.

A *group* is one field season run on its observed days up to ``switch`` (days after planting),
then continued once per weather member from that shared state, the unknown rest of the season
being each member's trace. Differences from ``agronomy.field.run_season``, on purpose: a run
starts on the planting day from the soil water the probes measured that day (the simulator
spins up 60 days of bare soil from an arbitrary start), and its weather is rain, mean
temperature and radiation only (all the crop and soil use).

``misfit`` runs the observed days only, once per candidate management factor, and sums how far
the modelled water of the probed layers is from the probes: the likelihood of a grid-based
Bayesian update of the factor (``models.cropfeatures.assimilate``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from agronomy import soil as s
from agronomy.crop import PAR_SHARE, STANDARD_CROP, CropParameters
from agronomy.field import STORAGE_ROOT_DEPTH_MM
from agronomy.weather import ET0_MM_PER_MJ
from models.daily import FloatArray, IntArray

#: Columns of observed and member weather.
WEATHER_COLUMNS = ("rain_mm", "tmean_c", "radiation_mj")
_N_LAYERS = len(s.LAYER_MM)
_PROBED_LAYERS = s.PROBED_LAYERS
# Crop state slots in the kernel's state vector.
(
    _TSUM,
    _LEAF,
    _STEM,
    _STARCH,
    _OTHER,
    _DEPTH,
    _DMC,
    _SHED,
    _FLUSH,
    _WET,
    _SINK,
) = range(11)
_CROP_SLOTS = 11


@dataclass(frozen=True, slots=True)
class Groups:
    """Per group (arrays of one length): the row of ``observed`` holding its planting day
    (its season's days follow), the day its observed weather ends, its management factor, the
    calendar offset of its planting day into the member traces (days from 1 January of the
    planting year), soil (field capacity, wilting point, saturation, drainage per day: any
    hydraulics, not only the named soils'), variety
    (radiation use factor, starch share, dry-soil root dry-matter content), soil water of the
    four layers on the planting day (0..1), and the days after planting read off each
    (``read_days[read_start[g] : read_start[g + 1]]``)."""

    first_row: np.ndarray
    switch: np.ndarray
    management: FloatArray
    calendar_start: np.ndarray
    soil: FloatArray  # (groups, 4)
    variety: FloatArray  # (groups, 3)
    theta0: FloatArray  # (groups, 4)
    read_start: np.ndarray  # (groups + 1,)
    read_days: np.ndarray


def simulate(
    groups: Groups,
    observed: FloatArray,
    columns: IntArray,
    members: FloatArray,
    parameters: CropParameters = STANDARD_CROP,
) -> tuple[FloatArray, FloatArray]:
    """(fresh yield t/ha, starch %) at the end of each read-off day, shape (reads, members).
    ``read_days`` must be sorted within each group. ``observed``: daily rows of every season,
    concatenated (no copy is made of them), whose ``columns`` are rain, mean temperature and
    radiation; ``members``: (members, calendar days, 3) in ``WEATHER_COLUMNS`` order. A group
    whose read-off days all fall before its switch never uses the members: each column then
    holds the same value. ``parameters``: the crop's physiology (the forecaster's is always
    the standard crop; the kernel takes any, so that it stays the simulator's model)."""
    # The compiled loop does not check its indexes: a read past a member's trace is refused
    # here rather than read from whatever memory follows it.
    if len(groups.read_days):
        group_of_read = np.repeat(np.arange(len(groups.first_row)), np.diff(groups.read_start))
        last_day = int((groups.calendar_start[group_of_read] + groups.read_days).max())
        if last_day >= members.shape[1]:
            raise ValueError(
                f"a read {last_day} days into the weather members, which cover "
                f"{members.shape[1]}: read harvest days earlier or generate longer members"
            )
    return _simulate(
        np.ascontiguousarray(observed, dtype=np.float64),
        columns.astype(np.int64),
        np.ascontiguousarray(members, dtype=np.float64),
        groups.first_row.astype(np.int64),
        groups.switch.astype(np.int64),
        groups.management.astype(np.float64),
        groups.calendar_start.astype(np.int64),
        np.ascontiguousarray(groups.soil, dtype=np.float64),
        np.ascontiguousarray(groups.variety, dtype=np.float64),
        np.ascontiguousarray(groups.theta0, dtype=np.float64),
        groups.read_start.astype(np.int64),
        groups.read_days.astype(np.int64),
        _constants(parameters),
    )


def misfit(
    groups: Groups,
    observed: FloatArray,
    columns: IntArray,
    reported: FloatArray,
    probes: IntArray,
    start_day: int,
    parameters: CropParameters = STANDARD_CROP,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per read-off day and probed layer, shape (reads, 3): the sum of squared differences
    (volume-%^2), the sum of differences (model minus probe) and the number of values: the
    modelled water of the three probed layers against the probes, over the days from
    ``start_day`` (days after planting) up to the read-off day (excluded: the issue day's
    misfit covers the days observed before it), on the days a probe really reported
    (``reported[row, probes[j]] > 0``; a value filled from the climatology is no evidence).

    Only the observed prefix is run, never a member, up to the group's last read-off day (at
    most ``switch``): the parameter-estimation half of a particle filter, whose particles are
    the groups' management factors (``models.cropfeatures``). ``columns``: rain, mean
    temperature, radiation in ``observed``; ``probes``: the 10, 30 and 60 cm columns; the
    groups' ``calendar_start`` is not used. ``read_days`` must be sorted within each group.
    The sums of differences let a caller take out a constant offset per probe."""
    if len(probes) != _PROBED_LAYERS:
        raise ValueError(
            f"probes: {len(probes)} columns given, the model has {_PROBED_LAYERS} probed "
            "layers (10, 30, 60 cm): pass one column each"
        )
    if reported.shape != observed.shape:
        raise ValueError(
            f"reported: shape {reported.shape}, observed {observed.shape}: pass one flag per "
            "value of observed"
        )
    return _misfit(
        np.ascontiguousarray(observed, dtype=np.float64),
        np.ascontiguousarray(reported, dtype=np.float64),
        columns.astype(np.int64),
        probes.astype(np.int64),
        groups.first_row.astype(np.int64),
        groups.switch.astype(np.int64),
        groups.management.astype(np.float64),
        np.ascontiguousarray(groups.soil, dtype=np.float64),
        np.ascontiguousarray(groups.variety, dtype=np.float64),
        np.ascontiguousarray(groups.theta0, dtype=np.float64),
        groups.read_start.astype(np.int64),
        groups.read_days.astype(np.int64),
        int(start_day),
        _constants(parameters),
    )


@njit(cache=True, parallel=True)
def _misfit(
    observed: FloatArray,
    reported: FloatArray,
    columns: IntArray,
    probes: IntArray,
    first_row: IntArray,
    switch: IntArray,
    management: FloatArray,
    soil: FloatArray,
    variety: FloatArray,
    theta0: FloatArray,
    read_start: IntArray,
    read_days: IntArray,
    start_day: int,
    k: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    sse = np.zeros((read_days.shape[0], _PROBED_LAYERS))
    bias = np.zeros_like(sse)
    count = np.zeros_like(sse)
    rain, tmean, radiation = columns[0], columns[1], columns[2]
    for g in prange(first_row.shape[0]):
        first, last = read_start[g], read_start[g + 1]
        if first == last:
            continue
        crop = np.zeros(_CROP_SLOTS)
        theta = np.zeros(_N_LAYERS)
        scratch = np.zeros((3, _N_LAYERS))
        scratch[2] = -1.0
        soil_g, variety_g, factor = soil[g], variety[g], management[g]
        _start(crop, theta, variety_g, theta0[g], k)
        base = first_row[g]
        horizon = min(switch[g], read_days[last - 1])
        squares = np.zeros(_PROBED_LAYERS)
        sums = np.zeros(_PROBED_LAYERS)
        n = np.zeros(_PROBED_LAYERS)
        pending = first
        for day in range(horizon):
            while pending < last and read_days[pending] <= day:
                sse[pending], bias[pending], count[pending] = squares, sums, n
                pending += 1
            row = base + day
            _day(
                crop,
                theta,
                scratch,
                observed[row, rain],
                observed[row, tmean],
                observed[row, radiation],
                day,
                soil_g,
                variety_g,
                factor,
                k,
            )
            if day < start_day:
                continue
            for j in range(_PROBED_LAYERS):
                if reported[row, probes[j]] > 0:
                    d = 100.0 * theta[j] - observed[row, probes[j]]
                    squares[j] += d * d
                    sums[j] += d
                    n[j] += 1.0
        while pending < last:
            sse[pending], bias[pending], count[pending] = squares, sums, n
            pending += 1
    return sse, bias, count


# The kernel's constants travel as one argument (``_constants(parameters)``), not as
# compiled-in globals, so a cached compilation can never keep an old value of a simulator
# constant, and a non-standard crop runs through the same compiled code.
_ET0_PER_MJ = 0
_EXTINCTION = 1
_PAR_SHARE = 2
_RUE = 3
_SLA = 4
_T_BASE = 5
_T_OPT_LOW = 6
_T_OPT_HIGH = 7
_T_MAX = 8
_TSUM_EMERGENCE = 9
_TSUM_BULKING = 10
_TSUM_MATURE = 11
_STAKE_LEAF = 12
_YOUNG_LEAF = 13
_YOUNG_STEM = 14
_MATURE_LEAF = 15
_MATURE_STEM = 16
_LEAF_DEATH_BASE = 17
_LEAF_DEATH_DROUGHT = 18
_LAI_SHED = 19
_LAI_REGROWN = 20
_REMOBILISE_PER_DAY = 21
_REMOBILISE_MAX = 22
_REMOBILISE_EFFICIENCY = 23
_WETNESS_FOR_REGROWTH = 24
_DMC_WET_DROP = 25
_DMC_TAU = 26
_ROOT_GROWTH = 27
_ROOT_MAX = 28
_KC_BARE = 29
_KC_FULL = 30
_DEPLETION = 31
_AIR_DRY = 32
_UPTAKE_SCALE = 33
_COMPENSATION = 34
_STORAGE_ROOT_DEPTH = 35
_LAI_KEPT = 36
_WATER_EXPONENT = 37
_TSUM_SINK_SET = 38
_SINK_LOSS = 39
_SINK_MIN = 40
_LAYER_FIRST = 41  # then the other layers' thicknesses


def _constants(p: CropParameters) -> FloatArray:
    young, mature = p.partition(young=True), p.partition(young=False)
    return np.array(
        [
            ET0_MM_PER_MJ,
            p.extinction,
            PAR_SHARE,
            p.rue_g_per_mj,
            p.sla_m2_per_g,
            p.t_base_c,
            p.t_opt_low_c,
            p.t_opt_high_c,
            p.t_max_c,
            p.tsum_emergence,
            p.tsum_bulking,
            p.tsum_mature,
            p.stake_leaf_g,
            young[0],
            young[1],
            mature[0],
            mature[1],
            p.leaf_death_base,
            p.leaf_death_drought,
            p.lai_shed,
            p.lai_regrown,
            p.remobilise_per_day,
            p.remobilise_max,
            p.remobilise_efficiency,
            p.wetness_for_regrowth,
            p.dmc_wet_drop,
            p.dmc_tau_days,
            p.root_growth_mm_per_day,
            p.root_max_mm,
            p.kc_bare,
            p.kc_full,
            p.depletion_fraction,
            s.AIR_DRY_SHARE,
            p.root_uptake_scale_mm,
            p.uptake_compensation,
            STORAGE_ROOT_DEPTH_MM,
            p.lai_kept,
            p.water_growth_exponent,
            p.tsum_sink_set,
            p.sink_loss_per_day,
            p.sink_min,
            *s.LAYER_MM,
        ]
    )


@njit(cache=True, parallel=True)
def _simulate(
    observed: FloatArray,
    columns: IntArray,
    members: FloatArray,
    first_row: IntArray,
    switch: IntArray,
    management: FloatArray,
    calendar_start: IntArray,
    soil: FloatArray,
    variety: FloatArray,
    theta0: FloatArray,
    read_start: IntArray,
    read_days: IntArray,
    k: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    n_members = members.shape[0]
    out_yield = np.zeros((read_days.shape[0], n_members))
    out_starch = np.zeros((read_days.shape[0], n_members))
    # Groups are independent (each writes its own rows): spread over the cores.
    rain, tmean, radiation = columns[0], columns[1], columns[2]
    for g in prange(first_row.shape[0]):
        first, last = read_start[g], read_start[g + 1]
        if first == last:
            continue
        crop = np.zeros(_CROP_SLOTS)
        theta = np.zeros(_N_LAYERS)
        saved_crop = np.zeros(_CROP_SLOTS)
        saved_theta = np.zeros(_N_LAYERS)
        # Uptake weights, and (row 2) the root reach per layer they were computed for: none.
        scratch = np.zeros((3, _N_LAYERS))
        scratch[2] = -1.0
        horizon = 0
        for r in range(first, last):
            horizon = max(horizon, read_days[r] + 1)
        prefix = min(switch[g], horizon)
        pending = first  # the next read (a group's reads are sorted by day)
        _start(crop, theta, variety[g], theta0[g], k)
        base = first_row[g]
        for day in range(prefix):
            _day(
                crop,
                theta,
                scratch,
                observed[base + day, rain],
                observed[base + day, tmean],
                observed[base + day, radiation],
                day,
                soil[g],
                variety[g],
                management[g],
                k,
            )
            while pending < last and read_days[pending] == day:
                y, st = _outputs(crop)
                for m in range(n_members):
                    out_yield[pending, m] = y
                    out_starch[pending, m] = st
                pending += 1
        if prefix >= horizon:
            continue
        saved_crop[:] = crop
        saved_theta[:] = theta
        for m in range(n_members):
            crop[:] = saved_crop
            theta[:] = saved_theta
            trace = members[m]
            next_read = pending
            for day in range(prefix, horizon):
                w = calendar_start[g] + day
                _day(
                    crop,
                    theta,
                    scratch,
                    trace[w, 0],
                    trace[w, 1],
                    trace[w, 2],
                    day,
                    soil[g],
                    variety[g],
                    management[g],
                    k,
                )
                while next_read < last and read_days[next_read] == day:
                    out_yield[next_read, m], out_starch[next_read, m] = _outputs(crop)
                    next_read += 1
    return out_yield, out_starch


# The day's helpers are not inlined (numba's ``inline="always"``): inlining took a fifth off
# the kernel's CPU time but doubled the first compilation (17 -> 38 s with an empty cache on
# a quiet two-core AMD EPYC), and the whole forecast of 2,000 fields was the same within
# noise either way (1.0-1.4 s).
@njit(cache=True)
def _start(
    crop: FloatArray, theta: FloatArray, variety: FloatArray, theta0: FloatArray, k: FloatArray
) -> None:
    crop[:] = 0.0
    crop[_DMC] = variety[2] - k[_DMC_WET_DROP] / 2
    crop[_SINK] = 1.0
    theta[:] = theta0


@njit(cache=True)
def _outputs(crop: FloatArray) -> tuple[float, float]:
    root = crop[_STARCH] + crop[_OTHER]
    fresh = root * 0.01 / crop[_DMC]
    starch = 100 * crop[_DMC] * crop[_STARCH] / root if root > 0 else 0.0
    return fresh, starch


@njit(cache=True)
def _day(
    crop: FloatArray,
    theta: FloatArray,
    scratch: FloatArray,
    rain: float,
    tmean: float,
    radiation: float,
    day: int,
    soil: FloatArray,
    variety: FloatArray,
    management: float,
    k: FloatArray,
) -> None:
    """One day of ``FieldModel.step_day``: soil (infiltration, evaporation, uptake), then the
    crop; the constant vector ``k`` is ``_constants()`` (indexes commented)."""
    fc, wp, sat, drain = soil[0], soil[1], soil[2], min(1.0, soil[3])
    layers = k[_LAYER_FIRST : _LAYER_FIRST + _N_LAYERS]
    et0 = k[_ET0_PER_MJ] * radiation
    # The crop's cover as the day starts: the soil and the crop (``_crop_day``) share it.
    cover = 1 - math.exp(-k[_EXTINCTION] * crop[_LEAF] * k[_SLA])
    if day == 0:  # planted at the end of day 0: bare soil until then
        evaporation, transpiration, roots = et0 * k[_KC_BARE], 0.0, 0.0
    else:
        evaporation = et0 * k[_KC_BARE] * (1 - cover)
        transpiration = et0 * k[_KC_FULL] * cover
        roots = crop[_DEPTH]
    # infiltration and drainage, layer by layer
    inflow = rain
    for i in range(_N_LAYERS):
        thickness = layers[i]
        water = theta[i] * thickness + inflow
        drained = max(0.0, water - fc * thickness) * drain
        overflow = max(0.0, water - drained - sat * thickness)
        inflow = drained + overflow
        theta[i] = (water - inflow) / thickness
    # soil evaporation from the top layer
    floor = k[_AIR_DRY] * wp
    wetness_top = (theta[0] - floor) / (fc - floor)
    taken = evaporation * min(1.0, max(0.0, wetness_top))
    theta[0] = max(floor, theta[0] - taken / layers[0])
    # uptake
    factor = 1.0
    if transpiration > 0 and roots > 0:
        weights, stress, reached = scratch[0], scratch[1], scratch[2]
        top = 0.0
        for i in range(_N_LAYERS):
            thickness = layers[i]
            reach = min(thickness, max(0.0, roots - top))
            # A layer's weight changes only while the root tip is in it: one exp a day.
            if reach != reached[i]:
                weights[i] = reach * math.exp(-(top + reach / 2) / k[_UPTAKE_SCALE])
                reached[i] = reach
            top += thickness
        for i in range(_N_LAYERS):
            fraction = (theta[i] - wp) / (fc - wp)
            stress[i] = weights[i] * min(1.0, max(0.0, fraction / (1 - k[_DEPLETION])))
        index = stress.sum() / weights.sum()
        if index <= 0:
            factor = 0.0
        else:
            wanted = transpiration * min(1.0, index / k[_COMPENSATION])
            total = stress.sum()
            supplied = 0.0
            for i in range(_N_LAYERS):
                thickness = layers[i]
                available = max(0.0, (theta[i] - wp) * thickness)
                got = min(available, wanted * stress[i] / total)
                theta[i] -= got / thickness
                supplied += got
            factor = supplied / transpiration
    water_factor = factor if transpiration > 0 else 1.0
    # storage-root wetness: SoilWater.root_zone_wetness(STORAGE_ROOT_DEPTH_MM)
    water, capacity, top = 0.0, 0.0, 0.0
    for i in range(_N_LAYERS):
        reach = layers[i] if i == 0 else min(layers[i], max(0.0, k[_STORAGE_ROOT_DEPTH] - top))
        water += (theta[i] - wp) * reach
        capacity += (fc - wp) * reach
        top += layers[i]
    wetness = min(1.0, max(0.0, water / capacity))
    _crop_day(crop, tmean, radiation, water_factor, wetness, cover, variety, management, k)


@njit(cache=True)
def _crop_day(
    crop: FloatArray,
    tmean: float,
    radiation: float,
    water_factor: float,
    wetness: float,
    cover: float,
    variety: FloatArray,
    management: float,
    k: FloatArray,
) -> None:
    """``CassavaCrop.step``; ``cover``: the canopy's as the day started."""
    crop[_TSUM] += max(0.0, tmean - k[_T_BASE])
    target = variety[2] - k[_DMC_WET_DROP] * wetness
    crop[_DMC] += (target - crop[_DMC]) / k[_DMC_TAU]
    crop[_WET] += (wetness - crop[_WET]) / 7
    if crop[_TSUM] < k[_TSUM_EMERGENCE]:
        return
    if crop[_LEAF] == 0 and crop[_STEM] == 0:
        crop[_LEAF] = k[_STAKE_LEAF]
        cover = 1 - math.exp(-k[_EXTINCTION] * crop[_LEAF] * k[_SLA])
    crop[_DEPTH] = min(k[_ROOT_MAX], crop[_DEPTH] + k[_ROOT_GROWTH])
    if crop[_TSUM] < k[_TSUM_EMERGENCE] + k[_TSUM_SINK_SET]:
        crop[_SINK] = max(k[_SINK_MIN], crop[_SINK] - k[_SINK_LOSS] * (1 - water_factor))
    intercepted = k[_PAR_SHARE] * radiation * cover
    # 1 ** x is 1: skip the power on unstressed days (most of the rainy season)
    stomata = water_factor ** k[_WATER_EXPONENT] if water_factor < 1.0 else 1.0
    growth = k[_RUE] * variety[0] * management * intercepted * _temperature(tmean, k) * stomata
    if crop[_SHED] > 0 and crop[_WET] >= k[_WETNESS_FOR_REGROWTH]:
        leaf, stem = k[_YOUNG_LEAF], k[_YOUNG_STEM]
    else:
        stage = (crop[_TSUM] - k[_TSUM_EMERGENCE] - k[_TSUM_BULKING]) / (
            k[_TSUM_MATURE] - k[_TSUM_BULKING]
        )
        stage = min(1.0, max(0.0, stage))
        leaf = k[_YOUNG_LEAF] + (k[_MATURE_LEAF] - k[_YOUNG_LEAF]) * stage
        stem = k[_YOUNG_STEM] + (k[_MATURE_STEM] - k[_YOUNG_STEM]) * stage
    root = 1 - leaf - stem
    stem, root = stem + root * (1 - crop[_SINK]), root * crop[_SINK]
    crop[_LEAF] += leaf * growth
    crop[_STEM] += stem * growth
    crop[_STARCH] += root * growth * variety[1]
    crop[_OTHER] += root * growth * (1 - variety[1])
    kept = k[_LAI_KEPT] / k[_SLA]
    crop[_LEAF] -= crop[_LEAF] * k[_LEAF_DEATH_BASE] + k[_LEAF_DEATH_DROUGHT] * (
        1 - water_factor
    ) * max(0.0, crop[_LEAF] - kept)
    # regrowth after a drought shed the canopy
    lai = crop[_LEAF] * k[_SLA]
    bulking = crop[_TSUM] > k[_TSUM_EMERGENCE] + k[_TSUM_BULKING]
    if bulking and lai < k[_LAI_SHED] and crop[_SHED] == 0:
        crop[_SHED] = 1.0
        crop[_FLUSH] = crop[_STARCH] * k[_REMOBILISE_MAX]
    if crop[_SHED] == 0 or crop[_WET] < k[_WETNESS_FOR_REGROWTH]:
        return
    needed_leaf = (k[_LAI_REGROWN] - lai) / k[_SLA]
    if needed_leaf <= 0:
        crop[_SHED] = 0.0
        return
    draw = min(
        crop[_STARCH] * k[_REMOBILISE_PER_DAY],
        2 * needed_leaf / k[_REMOBILISE_EFFICIENCY],
        crop[_FLUSH],
    )
    crop[_FLUSH] -= draw
    crop[_STARCH] -= draw
    crop[_LEAF] += draw * k[_REMOBILISE_EFFICIENCY] / 2
    crop[_STEM] += draw * k[_REMOBILISE_EFFICIENCY] / 2


@njit(cache=True)
def _temperature(tmean: float, k: FloatArray) -> float:
    base, low, high, top = k[_T_BASE], k[_T_OPT_LOW], k[_T_OPT_HIGH], k[_T_MAX]
    if tmean <= base or tmean >= top:
        return 0.0
    if tmean < low:
        return float((tmean - base) / (low - base))
    if tmean > high:
        return float((top - tmean) / (top - high))
    return 1.0
