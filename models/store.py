"""InfluxDB reads (daily field data, scale passes, barn climate) and forecast point lines, named
by ``isanfarm.storage``. Ids reach InfluxQL only after the contract's id check (regexes take no
bound parameters), times as bound parameters."""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from agronomy.units import THAI_UTC_OFFSET_HOURS, thai_date, thai_midnight_ms
from isanfarm import lineprotocol, storage
from isanfarm.contract import SOIL_MOISTURE_SENSORS, Sensor
from isanfarm.influx import InfluxError, InfluxV1, ids_regex, series_rows
from models.daily import (
    DAILY_VARIABLES,
    MJ_PER_W_M2_DAY,
    RADIATION,
    RAIN,
    RH,
    TMEAN,
    FloatArray,
    empty_values,
)

log = logging.getLogger(__name__)
#: Forecasts are dated and stamped by Thai day (agronomy.units): the names the job reads them by.
local_day = thai_date
local_midnight_ms = thai_midnight_ms
#: Daily column -> (sensor, its aggregate over a day, scale to the column's unit).
_DAILY_SENSORS = {
    DAILY_VARIABLES[RAIN]: (Sensor.RAIN, "sum", 1.0),
    DAILY_VARIABLES[TMEAN]: (Sensor.AIR_TEMPERATURE, "mean", 1.0),
    DAILY_VARIABLES[RH]: (Sensor.RELATIVE_HUMIDITY, "mean", 1.0),
    DAILY_VARIABLES[RADIATION]: (Sensor.SOLAR_RADIATION, "mean", MJ_PER_W_M2_DAY),
    # The soil columns are named after their sensors (models.daily).
    **{sensor: (sensor, "mean", 1.0) for sensor in SOIL_MOISTURE_SENSORS},
}
#: Daily column -> (rollup field, scale): the daily rollups' names, or the raw aggregate's.
DAILY_SOURCES = {
    column: (storage.rollup_field(sensor, aggregate), scale)
    for column, (sensor, aggregate, scale) in _DAILY_SENSORS.items()
}
_RAW_AGGREGATES = ", ".join(
    f'{aggregate}("{sensor}") AS "{storage.rollup_field(sensor, aggregate)}"'
    for sensor, aggregate, _ in _DAILY_SENSORS.values()
)


def daily_values(
    influx: InfluxV1, owners: Mapping[str, str], start: date, end: date
) -> dict[str, FloatArray]:
    """Per site, daily values (rows: days from ``start`` to ``end`` excluded) from the daily
    rollups, days missing there from the raw telemetry aggregated by Thai day (rollups lag
    ingest by up to a recompute period; raw data expires). NaN where neither has a value.

    ``owners``: site -> the farm the registry says it belongs to. A device names its site
    itself, so only readings whose ``farm`` tag (from its topic, which the broker ties to its
    login) is that farm count: another farm's device cannot feed this field's forecast."""
    sites = list(owners)
    if not sites or end <= start:
        return {site: empty_values(0) for site in sites}
    regex = ids_regex(sites)
    params = {
        "start": datetime.fromtimestamp(local_midnight_ms(start) / 1000, UTC).isoformat(),
        "end": datetime.fromtimestamp(local_midnight_ms(end) / 1000, UTC).isoformat(),
    }
    fields = ", ".join(f'"{source}"' for source, _ in DAILY_SOURCES.values())
    rollup = (
        f'SELECT {fields} FROM "{storage.ROLLUP_POLICY}"."{storage.TELEMETRY_DAILY}" '
        f'WHERE "site" =~ {regex} AND time >= $start AND time < $end GROUP BY "site", "farm"'
    )
    raw = (
        f'SELECT {_RAW_AGGREGATES} FROM "{storage.TELEMETRY}" '
        f'WHERE "site" =~ {regex} AND time >= $start AND time < $end '
        f'GROUP BY time(1d, -{THAI_UTC_OFFSET_HOURS}h), "site", "farm"'
    )
    try:
        rollup_result = influx.query(rollup, params)[0]
    except InfluxError as exc:  # no `rollups` policy (ingest setup-db not run): raw only
        log.info("daily rollups unavailable, reading raw telemetry: %s", exc)
        rollup_result = {}
    raw_result = influx.query(raw, params)[0]
    days = (end - start).days
    out = {site: empty_values(days) for site in sites}
    filled = {site: np.zeros(days, dtype=bool) for site in sites}
    for result, is_rollup in ((rollup_result, True), (raw_result, False)):
        rows = _daily_rows(result, owners, start, days)
        for (site, offset), row in rows.items():
            if not is_rollup and filled[site][offset]:
                continue
            values = [_scaled(row, column) for column in DAILY_VARIABLES]
            if all(np.isnan(values)):
                continue
            out[site][offset] = values
            filled[site][offset] = True
    return out


def _daily_rows(
    result: dict[str, Any], owners: Mapping[str, str], start: date, days: int
) -> dict[tuple[str, int], dict[str, float]]:
    """Average the rows of several devices at one site and day."""
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for tags, row in _owned(series_rows(result), owners):
        offset = (local_day(int(row["time"]) + 1) - start).days
        if 0 <= offset < days:
            grouped[(tags["site"], offset)].append(row)
    out = {}
    for key, rows in grouped.items():
        merged = {}
        for source, _ in DAILY_SOURCES.values():
            values = [float(r[source]) for r in rows if r.get(source) is not None]
            merged[source] = float(np.mean(values)) if values else float("nan")
        out[key] = merged
    return out


def _scaled(row: dict[str, float], column: str) -> float:
    source, scale = DAILY_SOURCES[column]
    return row.get(source, float("nan")) * scale


def scale_passes(
    influx: InfluxV1, owners: Mapping[str, str], since: datetime
) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """(herd, animal) -> [(time ms, kg)] of walk-over scale passes since ``since``; ``owners``
    as for ``daily_values`` (herd -> farm)."""
    if not owners:
        return {}
    weight = Sensor.ANIMAL_WEIGHT
    statement = (
        f'SELECT "{weight}" FROM "{storage.TELEMETRY}" '
        f'WHERE "site" =~ {ids_regex(list(owners))} '
        f'AND time >= $since AND "{weight}" > 0 GROUP BY "site", "farm", "animal"'
    )
    out: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    result = influx.query(statement, {"since": since.isoformat()})[0]
    for tags, row in _owned(series_rows(result), owners):
        if tags.get("animal"):
            out[(tags["site"], tags["animal"])].append((int(row["time"]), float(row[weight])))
    return out


def barn_climate(
    influx: InfluxV1, owners: Mapping[str, str], since: datetime
) -> dict[str, list[tuple[float, float]]]:
    """Herd -> hourly (air temperature, relative humidity) means since ``since``; ``owners``
    as for ``daily_values`` (herd -> farm)."""
    if not owners:
        return {}
    statement = (
        f'SELECT mean("{Sensor.AIR_TEMPERATURE}") AS "t", '
        f'mean("{Sensor.RELATIVE_HUMIDITY}") AS "rh" '
        f'FROM "{storage.TELEMETRY}" WHERE "site" =~ {ids_regex(list(owners))} '
        'AND time >= $since GROUP BY time(1h), "site", "farm"'
    )
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    result = influx.query(statement, {"since": since.isoformat()})[0]
    for tags, row in _owned(series_rows(result), owners):
        if row.get("t") is not None and row.get("rh") is not None:
            out[tags["site"]].append((float(row["t"]), float(row["rh"])))
    return out


def _owned(
    rows: Iterable[tuple[dict[str, str], dict[str, Any]]], owners: Mapping[str, str]
) -> Iterator[tuple[dict[str, str], dict[str, Any]]]:
    """The rows of series whose site belongs, by its ``farm`` tag, to the farm in ``owners``."""
    for tags, row in rows:
        if owners.get(tags.get("site", "")) == tags.get("farm"):
            yield tags, row


def line(measurement: str, tags: dict[str, str], fields: dict[str, float | int], ms: int) -> str:
    """A forecast point at ``ms`` (millisecond precision), with the project's encoder
    (``isanfarm.lineprotocol``); a forecast must be made of finite numbers."""
    for key, value in fields.items():
        if not math.isfinite(value):
            raise ValueError(f"field {key!r} is {value}: forecasts must be finite numbers")
    return lineprotocol.line(measurement, tags.items(), dict(fields), ms)


#: The fields of a ``cassava_forecast`` point (isanfarm.storage), in the order
#: ``cassava_forecast_lines`` passes their values: the model's six outputs first, as predicted.
CASSAVA_FORECAST_FIELDS = lineprotocol.FieldLayout(
    {
        "yield_t_ha": float,
        "yield_t_ha_p10": float,
        "yield_t_ha_p90": float,
        "starch_pct": float,
        "starch_pct_p10": float,
        "starch_pct_p90": float,
        "tonnes": float,
        "revenue_thb": float,
        "area_ha": float,
        "horizon_days": int,
        "issued_at_ms": int,
        storage.BEST_HARVEST: bool,
    }
)


def best_candidate(revenues: Sequence[float]) -> int | None:
    """Which of a field's candidate harvest dates (in date order) to recommend: the one of
    highest expected revenue, the earliest of equals; None without candidates. The one place
    this is decided: the forecast job writes it as ``storage.BEST_HARVEST`` and the API and the
    dashboards read that mark."""
    if not revenues:
        return None
    return max(range(len(revenues)), key=revenues.__getitem__)


def cassava_forecast_lines(
    series: Sequence[tuple[Mapping[str, str], float, Sequence[date]]],
    issued: date,
    issued_at_ms: int,
    predicted: FloatArray,
    tonnes: FloatArray,
    revenue: FloatArray,
) -> list[str]:
    """``cassava_forecast`` lines for every field and candidate date. ``series``: per field
    its tags, its area (ha) and its candidate dates, in date order; ``predicted`` (rows: the
    fields' candidates in that order; columns: yield, its p10 and p90, starch, its p10 and
    p90), ``tonnes`` and ``revenue`` one row each per candidate. Each field's candidate of
    ``best_candidate`` is marked ``storage.BEST_HARVEST``. One ``Series`` per field: its key and
    the field keys are escaped once, not per point (the job writes some 18 points per field)."""
    numbers = np.column_stack([predicted, tonnes, revenue])
    if not np.isfinite(numbers).all():
        raise ValueError("a forecast must be made of finite numbers: retrain or pin another model")
    rows = numbers.tolist()
    if len(rows) != sum(len(dates) for _, _, dates in series):
        raise ValueError(f"{len(rows)} forecast rows for a different number of candidate dates")
    midnight: dict[date, int] = {}
    lines = []
    start = 0
    for tags, area_ha, dates in series:
        points = CASSAVA_FORECAST_FIELDS.series(storage.CASSAVA_FORECAST, tags.items())
        area = round(float(area_ha), 4)
        best = best_candidate([row[-1] for row in rows[start : start + len(dates)]])
        for offset, day in enumerate(dates):
            ms = midnight.get(day) or midnight.setdefault(day, local_midnight_ms(day))
            values = (
                *rows[start + offset],
                area,
                (day - issued).days,
                issued_at_ms,
                offset == best,
            )
            lines.append(points.line(values, ms))
        start += len(dates)
    return lines
