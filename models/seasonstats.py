"""A season's daily series summed up at an issue day: rain, dry spells, warmth, light, soil water
and how much of it was observed, compiled.

Why compiled: the forecast job asks this of 10,000 fields at once, and per-field numpy (thirty
small array operations a season, about 0.4 ms) was most of its time. Here every (season, issue
day) pair is one loop over its days, and the seasons travel as one concatenated array with
offsets (no padding to the longest season).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from agronomy.weather import ET0_MM_PER_MJ
from models.daily import RADIATION, RAIN, RH, SM10, SM30, SM60, TMEAN, FloatArray, IntArray

#: Columns of ``summarise``'s first result, in order.
STATISTICS = (
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
)
#: Soil water of the probed 0-80 cm in mm per %VWC at 10, 30 and 60 cm (20, 20, 40 cm layers).
STORAGE_MM_PER_PCT = (2.0, 2.0, 4.0)
#: A day (and the day before it) with less rain than this counts as dry for the drydown.
DRYDOWN_DRY_MM = 0.5
#: Below this much reference ET in a window, the drydown ratio is too noisy: NaN.
DRYDOWN_MIN_ET0_MM = 5.0


def summarise(
    filled: FloatArray,
    observed: FloatArray,
    offsets: IntArray,
    season: IntArray,
    age: IntArray,
    gdd_base_c: float,
    dry_day_mm: float,
    recent_days: int,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """For each query (``season[q]``, ``age[q]`` days after planting, at most the season's
    length): the ``STATISTICS`` over days [0, age) (shape (queries, 19)), and per daily variable
    the share of the season's days observed and of its last ``recent_days`` (each (queries,
    variables)). ``filled``/``observed``: every season's daily rows concatenated, season ``s``
    being rows ``offsets[s] : offsets[s + 1]``; ``observed`` is 1.0 where a value was measured.
    """
    return _summarise(
        np.ascontiguousarray(filled, dtype=np.float64),
        np.ascontiguousarray(observed, dtype=np.float64),
        offsets.astype(np.int64),
        season.astype(np.int64),
        age.astype(np.int64),
        float(gdd_base_c),
        float(dry_day_mm),
        int(recent_days),
        np.array(STORAGE_MM_PER_PCT),
        # Constants defined elsewhere travel as arguments: a cached compilation keeps the
        # globals it was compiled with, and only this file's changes invalidate it.
        ET0_MM_PER_MJ,
        np.array([RAIN, TMEAN, RH, RADIATION, SM10, SM30, SM60], dtype=np.int64),
    )


@njit(cache=True)
def _summarise(
    filled: FloatArray,
    observed: FloatArray,
    offsets: IntArray,
    season: IntArray,
    age: IntArray,
    gdd_base: float,
    dry_mm: float,
    recent_days: int,
    storage_mm: FloatArray,
    et0_per_mj: float,
    columns: IntArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    n, variables = age.shape[0], filled.shape[1]
    rain_c, tmean_c, rh_c, radiation_c = columns[0], columns[1], columns[2], columns[3]
    soil = columns[4:7]
    stats = np.full((n, 19), np.nan)
    whole = np.ones((n, variables))
    recent = np.ones((n, variables))
    for q in range(n):
        first, days = offsets[season[q]], age[q]
        rain_all = rain_30 = rain_90 = wet = tmean = gdd = radiation = rh_30 = 0.0
        sm_all = np.zeros(3)
        sm_30 = np.zeros(3)
        loss_all = loss_60 = et0_all = et0_60 = 0.0
        spell = spell_max = 0.0
        seen_all = np.zeros(variables)
        seen_recent = np.zeros(variables)
        previous_storage = 0.0
        for d in range(days):
            row = filled[first + d]
            seen = observed[first + d]
            rain = row[rain_c]
            in_30, in_60, in_90 = d >= days - 30, d >= days - 60, d >= days - 90
            rain_all += rain
            wet += 1.0 if rain >= dry_mm else 0.0
            tmean += row[tmean_c]
            gdd += max(row[tmean_c] - gdd_base, 0.0)
            radiation += row[radiation_c]
            spell = spell + 1.0 if rain < dry_mm else 0.0
            spell_max = max(spell_max, spell)
            storage = 0.0
            for j in range(3):
                sm_all[j] += row[soil[j]]
                storage += storage_mm[j] * row[soil[j]]
                if in_30:
                    sm_30[j] += row[soil[j]]
            if in_30:
                rain_30 += rain
                rh_30 += row[rh_c]
            if in_90:
                rain_90 += rain
            if d > 0:
                dry = rain < DRYDOWN_DRY_MM and filled[first + d - 1, rain_c] < DRYDOWN_DRY_MM
                sensed = seen[soil[0]] > 0 and seen[soil[1]] > 0 and seen[soil[2]] > 0
                if dry and sensed:
                    loss = previous_storage - storage
                    et0 = et0_per_mj * row[radiation_c]
                    loss_all += loss
                    et0_all += et0
                    if in_60:
                        loss_60 += loss
                        et0_60 += et0
            previous_storage = storage
            for j in range(variables):
                seen_all[j] += seen[j]
                if d >= days - recent_days:
                    seen_recent[j] += seen[j]
        s = stats[q]
        s[0], s[1], s[2], s[3] = rain_all, rain_30, rain_90, wet
        s[4], s[5] = spell_max, spell
        s[7], s[8] = gdd, radiation
        if days > 0:
            length_30 = min(days, 30)
            s[6] = tmean / days
            s[9] = rh_30 / length_30
            for j in range(3):
                s[10 + j] = sm_all[j] / days
                s[13 + j] = sm_30[j] / length_30
            for j in range(variables):
                whole[q, j] = seen_all[j] / days
                recent[q, j] = seen_recent[j] / min(days, recent_days)
            s[18] = whole[q].min()
        else:
            s[18] = 1.0
        if et0_all > DRYDOWN_MIN_ET0_MM:
            s[16] = loss_all / et0_all
        if et0_60 > DRYDOWN_MIN_ET0_MM:
            s[17] = loss_60 / et0_60
    return stats, whole, recent
