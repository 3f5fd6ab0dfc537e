"""One field's season as daily values: the single shape training and serving data share.

Training builds it from simulated seasons (``agronomy.field``), serving from InfluxDB's daily
rollups (``models.store``), a cooperative's history from a CSV import. Missing days and dead
sensors are NaN here; ``models.features`` decides what to do with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from agronomy.crop import variety as find_variety
from agronomy.field import FieldDay
from agronomy.soil import SOILS
from isanfarm.contract import SOIL_MOISTURE_SENSORS

#: Daily variables, in column order. Units: mm, degC, %, MJ/m2/day, %VWC.
DAILY_VARIABLES = ("rain_mm", "tmean_c", "rh_pct", "radiation_mj", *SOIL_MOISTURE_SENSORS)
RAIN, TMEAN, RH, RADIATION, SM10, SM30, SM60 = range(len(DAILY_VARIABLES))
SOIL_COLUMNS = (SM10, SM30, SM60)
#: A daily mean of global irradiance in W/m2 times this is the day's MJ/m2.
MJ_PER_W_M2_DAY = 0.0864

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class FieldSeason:
    """Daily values (rows: days from planting; columns: DAILY_VARIABLES; NaN: not observed)
    and the field's metadata. ``values`` may be shorter than the season: it ends where the
    data ends (yesterday, at serving)."""

    field_id: str
    farm_id: str
    variety: str
    soil: str
    planted: date
    area_ha: float
    values: FloatArray

    @property
    def days(self) -> int:
        return int(self.values.shape[0])

    def day(self, offset: int) -> date:
        return self.planted + timedelta(days=offset)


def normalise_variety(name: str) -> str:
    """ "ku50", "Kasetsart 50", "Rayong 72" -> the catalogue name; unknown names unchanged."""
    try:
        return find_variety(name).name
    except ValueError:
        return name


def normalise_soil(name: str) -> str:
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    return key if key in SOILS else name


def from_simulation(
    field_id: str,
    farm_id: str,
    variety: str,
    soil: str,
    planted: date,
    days: Sequence[FieldDay],
    area_ha: float = 1.0,
) -> FieldSeason:
    """A simulated season: weather as a station measures it, soil moisture as the probes."""
    values = np.empty((len(days), len(DAILY_VARIABLES)))
    for i, d in enumerate(days):
        w = d.weather
        values[i, :4] = (w.rain_mm, w.tmean_c, w.rh_mean_pct, w.radiation_mj)
        values[i, 4:] = d.soil_moisture_pct
    return FieldSeason(field_id, farm_id, variety, soil, planted, area_ha, values)


def empty_values(days: int) -> FloatArray:
    return np.full((max(days, 0), len(DAILY_VARIABLES)), np.nan)


def unique_rows(*columns: npt.ArrayLike) -> tuple[IntArray, IntArray]:
    """``np.unique`` of the rows of integer ``columns`` (sorted as it sorts them) and each
    row's index among them. Why not ``np.unique(axis=0)``: the forecast job asks this of
    180,000 rows several times, and packing each row into one integer first is several times
    faster than sorting rows."""
    ints = [np.asarray(c, dtype=np.int64) for c in columns]
    if not len(ints[0]):
        return np.empty((0, len(ints)), dtype=np.int64), np.empty(0, dtype=np.int64)
    lows = [int(c.min()) for c in ints]
    spans = [int(c.max()) - low + 1 for c, low in zip(ints, lows, strict=True)]
    if np.prod([float(s) for s in spans]) >= 2.0**62:  # would overflow: sort the rows
        rows, inverse = np.unique(np.column_stack(ints), axis=0, return_inverse=True)
        return rows, inverse.ravel()
    key = np.zeros(len(ints[0]), dtype=np.int64)
    for column, low, span in zip(ints, lows, spans, strict=True):
        key = key * span + (column - low)
    distinct, inverse = np.unique(key, return_inverse=True)
    decoded = []
    for low, span in zip(reversed(lows), reversed(spans), strict=True):
        decoded.append(distinct % span + low)
        distinct = distinct // span
    return np.column_stack(decoded[::-1]), inverse.ravel()
