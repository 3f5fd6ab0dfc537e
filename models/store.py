"""InfluxDB reads (daily field data, scale passes, barn climate) and forecast point lines, named
by ``isanfarm.storage``. Ids reach InfluxQL only after the contract's id check (regexes take no
bound parameters), times as bound parameters."""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from agronomy.units import THAI_UTC_OFFSET_HOURS, thai_date, thai_midnight_ms
from isanfarm import lineprotocol, storage
from isanfarm.influx import InfluxError, InfluxV1, ids_regex, series_rows
from models.daily import DAILY_VARIABLES, MJ_PER_W_M2_DAY, FloatArray, empty_values

log = logging.getLogger(__name__)
#: Forecasts are dated and stamped by Thai day (agronomy.units): the names the job reads them by.
local_day = thai_date
local_midnight_ms = thai_midnight_ms
#: Daily column -> (rollup field, scale): the daily rollups' names, or the raw aggregate's.
DAILY_SOURCES = {
    "rain_mm": ("rain_sum", 1.0),
    "tmean_c": ("air_temperature_mean", 1.0),
    "rh_pct": ("relative_humidity_mean", 1.0),
    "radiation_mj": ("solar_radiation_mean", MJ_PER_W_M2_DAY),
    "soil_moisture_10cm": ("soil_moisture_10cm_mean", 1.0),
    "soil_moisture_30cm": ("soil_moisture_30cm_mean", 1.0),
    "soil_moisture_60cm": ("soil_moisture_60cm_mean", 1.0),
}
_RAW_AGGREGATES = ", ".join(
    ['sum("rain") AS "rain_sum"']
    + [
        f'mean("{name}") AS "{name}_mean"'
        for name in (
            "air_temperature",
            "relative_humidity",
            "solar_radiation",
            "soil_moisture_10cm",
            "soil_moisture_30cm",
            "soil_moisture_60cm",
        )
    ]
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
    statement = (
        f'SELECT "animal_weight" FROM "{storage.TELEMETRY}" '
        f'WHERE "site" =~ {ids_regex(list(owners))} '
        'AND time >= $since AND "animal_weight" > 0 GROUP BY "site", "farm", "animal"'
    )
    out: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    result = influx.query(statement, {"since": since.isoformat()})[0]
    for tags, row in _owned(series_rows(result), owners):
        if tags.get("animal"):
            out[(tags["site"], tags["animal"])].append(
                (int(row["time"]), float(row["animal_weight"]))
            )
    return out


def barn_climate(
    influx: InfluxV1, owners: Mapping[str, str], since: datetime
) -> dict[str, list[tuple[float, float]]]:
    """Herd -> hourly (air temperature, relative humidity) means since ``since``; ``owners``
    as for ``daily_values`` (herd -> farm)."""
    if not owners:
        return {}
    statement = (
        'SELECT mean("air_temperature") AS "t", mean("relative_humidity") AS "rh" '
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
