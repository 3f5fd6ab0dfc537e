"""The API's reads from InfluxDB, one function per question. Ids reach InfluxQL as bound
parameters, or (in regexes and SHOW statements, which take none) only after the contract's id
check, whose alphabet has nothing to escape."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from isanfarm import storage
from isanfarm.contract import SENSOR_CATALOGUE
from isanfarm.influx import InfluxV1, ids_regex, series_rows

ICT = timedelta(hours=7)
RESOLUTIONS = {
    "raw": storage.TELEMETRY,
    "hour": storage.TELEMETRY_HOURLY,
    "day": storage.TELEMETRY_DAILY,
}
MAX_RAW_POINTS = 10_000


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True, slots=True)
class Status:
    state: str | None
    last_seen_ms: int | None
    outbox_depth: int | None
    battery_v: float | None


def device_statuses(influx: InfluxV1, device_ids: Sequence[str]) -> dict[str, Status]:
    """The newest status heartbeat and battery reading of each device."""
    if not device_ids:
        return {}
    regex = ids_regex(device_ids)
    status_q = (
        f'SELECT "state", "outbox_depth" FROM "{storage.DEVICE_STATUS}" '
        f'WHERE "device" =~ {regex} GROUP BY "device" ORDER BY time DESC LIMIT 1'
    )
    battery_q = (
        f'SELECT last("battery_voltage") AS "battery" FROM "{storage.TELEMETRY}" '
        f'WHERE "device" =~ {regex} GROUP BY "device"'
    )
    status_result, battery_result = influx.query(f"{status_q}; {battery_q}")
    statuses = {tags["device"]: row for tags, row in series_rows(status_result)}
    batteries = {tags["device"]: row["battery"] for tags, row in series_rows(battery_result)}
    out = {}
    for device in device_ids:
        row = statuses.get(device, {})
        depth = row.get("outbox_depth")
        out[device] = Status(
            state=row.get("state"),
            last_seen_ms=row.get("time"),
            outbox_depth=None if depth is None else int(depth),
            battery_v=batteries.get(device),
        )
    return out


def latest_readings(influx: InfluxV1, device_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(sensor, row with time, value, seq, farm, animal) for every sensor the device reported."""
    sensors = list(SENSOR_CATALOGUE)
    statement = "; ".join(
        f'SELECT last("{name}") AS "value", "seq", "farm", "animal" '
        f'FROM "{storage.TELEMETRY}" WHERE "device" = $device'
        for name in sensors
    )
    results = influx.query(statement, {"device": device_id})
    return [
        (name, row)
        for name, result in zip(sensors, results, strict=True)
        for _, row in series_rows(result)
    ]


def site_telemetry(
    influx: InfluxV1, site: str, start: datetime, end: datetime, resolution: str
) -> list[tuple[dict[str, str], dict[str, Any]]]:
    measurement = RESOLUTIONS[resolution]
    source = (
        f'"{measurement}"' if resolution == "raw" else f'"{storage.ROLLUP_POLICY}"."{measurement}"'
    )
    statement = (
        f'SELECT * FROM {source} WHERE "site" = $site AND time >= $start AND time < $end '
        f"ORDER BY time ASC LIMIT {MAX_RAW_POINTS}"
    )
    params = {"site": site, "start": start.isoformat(), "end": end.isoformat()}
    return list(series_rows(influx.query(statement, params)[0]))


#: Only forecast runs issued in the last this many days are looked at: the newest run is what
#: matters, and bounding the search keeps a lookup as fast after years of daily runs as on the
#: first day (a field with no run in this window simply has no current forecast).
ISSUE_LOOKBACK_DAYS = 14

Rows = list[tuple[dict[str, str], dict[str, Any]]]


def newest_cassava_forecasts(
    influx: InfluxV1, field_ids: Sequence[str], today: date | None = None
) -> dict[str, Rows]:
    """Every candidate harvest date of each field's newest forecast run, in date order.

    The run days come from the tag index (cheap); then one query per run day, newest first,
    for the fields still without a forecast. A daily job covers every field in one run, so
    this is usually two queries whatever the number of fields or the length of the history."""
    if not field_ids:
        return {}
    today = today or local_today()
    recent = "|".join(
        (today - timedelta(days=n)).isoformat() for n in range(ISSUE_LOOKBACK_DAYS + 1)
    )
    days_statement = (
        f'SHOW TAG VALUES FROM "{storage.CASSAVA_FORECAST}" WITH KEY = "issued" '
        f'WHERE "field" =~ {ids_regex(field_ids)} AND "issued" =~ /^({recent})$/'
    )
    days = sorted(
        {row["value"] for _, row in series_rows(influx.query(days_statement)[0])}, reverse=True
    )
    found: dict[str, Rows] = {}
    for day in days:
        missing = [f for f in field_ids if f not in found]
        if not missing:
            break
        statement = (
            f'SELECT * FROM "{storage.CASSAVA_FORECAST}" WHERE "field" =~ {ids_regex(missing)} '
            f'AND "issued" = $issued GROUP BY "field", "model_version" ORDER BY time ASC'
        )
        for tags, row in series_rows(influx.query(statement, {"issued": day})[0]):
            found.setdefault(tags["field"], []).append((tags, row))
    return found


def cattle_forecasts(influx: InfluxV1, herd_id: str) -> Rows:
    statement = (
        f'SELECT * FROM "{storage.CATTLE_FORECAST}" WHERE "herd" = $herd '
        'GROUP BY "animal", "model_version" ORDER BY time DESC LIMIT 1'
    )
    return list(series_rows(influx.query(statement, {"herd": herd_id})[0]))


def local_today() -> date:
    """Today in Thailand."""
    return (datetime.now(UTC) + ICT).date()


def local_date(ms: int) -> date:
    """The Thai calendar day of a UTC instant."""
    return (ms_to_datetime(ms) + ICT).date()
