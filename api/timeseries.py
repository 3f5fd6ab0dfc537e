"""The API's reads from InfluxDB, one function per question. Ids reach InfluxQL as bound
parameters, or (in regexes and SHOW statements, which take none) only after the contract's id
check, whose alphabet has nothing to escape.

Every read of a device's, field's or barn's data also matches the ``farm`` tag of the farm the
registry puts it on: that tag comes from the MQTT topic, which the broker's ACL ties to the
device's login, whereas ``site`` and the device id are whatever the payload says. Without it, a
device on another cooperative's farm could write into this farm's fields and alerts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from agronomy.units import THAI_TIMEZONE
from api.schemas import MAX_TELEMETRY_POINTS
from isanfarm import storage
from isanfarm.contract import SENSOR_CATALOGUE, Sensor
from isanfarm.influx import InfluxV1, ids_regex, series_rows

RESOLUTIONS = {
    "raw": storage.TELEMETRY,
    "hour": storage.TELEMETRY_HOURLY,
    "day": storage.TELEMETRY_DAILY,
}
MAX_RAW_POINTS = MAX_TELEMETRY_POINTS

Rows = list[tuple[dict[str, str], dict[str, Any]]]


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True, slots=True)
class Status:
    state: str | None
    last_seen_ms: int | None
    outbox_depth: int | None
    battery_v: float | None


def device_statuses(influx: InfluxV1, farm_of: Mapping[str, str]) -> dict[str, Status]:
    """The newest status heartbeat and battery reading of each device, ``farm_of`` mapping
    its id to the farm the registry puts it on: a device of the same id heard on another
    farm's topics is someone else's and is not looked at."""
    if not farm_of:
        return {}
    devices = ids_regex(list(farm_of))
    farms = ids_regex(sorted(set(farm_of.values())))
    status_q = (
        f'SELECT "state", "outbox_depth" FROM "{storage.DEVICE_STATUS}" '
        f'WHERE "device" =~ {devices} AND "farm" =~ {farms} '
        'GROUP BY "device", "farm" ORDER BY time DESC LIMIT 1'
    )
    battery_q = (
        f'SELECT last("{Sensor.BATTERY_VOLTAGE}") AS "battery" FROM "{storage.TELEMETRY}" '
        f'WHERE "device" =~ {devices} AND "farm" =~ {farms} GROUP BY "device", "farm"'
    )
    status_result, battery_result = influx.query(f"{status_q}; {battery_q}")
    statuses = _on_their_farm(series_rows(status_result), farm_of)
    batteries = _on_their_farm(series_rows(battery_result), farm_of)
    return {
        device: _status(statuses.get(device, {}), batteries.get(device, {}).get("battery"))
        for device in farm_of
    }


def _on_their_farm(
    rows: Iterable[tuple[dict[str, str], dict[str, Any]]], farm_of: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Each device's row from its own farm, the other farms' rows of the same id left out."""
    return {
        tags["device"]: row for tags, row in rows if farm_of.get(tags["device"]) == tags["farm"]
    }


def _status(row: dict[str, Any], battery_v: float | None) -> Status:
    depth = row.get("outbox_depth")
    return Status(
        state=row.get("state"),
        last_seen_ms=row.get("time"),
        outbox_depth=None if depth is None else int(depth),
        battery_v=battery_v,
    )


def latest_readings(
    influx: InfluxV1, farm_id: str, device_id: str
) -> list[tuple[str, dict[str, Any]]]:
    """(sensor, row with time, value, seq, farm, animal) for every sensor the device reported
    from its own farm (``farm_id``, the registry's)."""
    sensors = list(SENSOR_CATALOGUE)
    statement = "; ".join(
        f'SELECT last("{name}") AS "value", "seq", "farm", "animal" '
        f'FROM "{storage.TELEMETRY}" WHERE "farm" = $farm AND "device" = $device'
        for name in sensors
    )
    results = influx.query(statement, {"farm": farm_id, "device": device_id})
    return [
        (name, row)
        for name, result in zip(sensors, results, strict=True)
        for _, row in series_rows(result)
    ]


@dataclass(frozen=True, slots=True)
class SitePoints:
    rows: Rows
    #: More points matched than MAX_RAW_POINTS: ``rows`` holds the newest of them.
    truncated: bool


def site_telemetry(
    influx: InfluxV1, farm_id: str, site: str, start: datetime, end: datetime, resolution: str
) -> SitePoints:
    """A site's points in time order, at most MAX_RAW_POINTS: the newest ones when more match,
    since a dashboard asking for "the last week" wants the latest readings, not the first."""
    measurement = RESOLUTIONS[resolution]
    source = (
        f'"{measurement}"' if resolution == "raw" else f'"{storage.ROLLUP_POLICY}"."{measurement}"'
    )
    statement = (
        f'SELECT * FROM {source} WHERE "farm" = $farm AND "site" = $site '
        f"AND time >= $start AND time < $end ORDER BY time DESC LIMIT {MAX_RAW_POINTS + 1}"
    )
    params = {"farm": farm_id, "site": site, "start": start.isoformat(), "end": end.isoformat()}
    newest_first = list(series_rows(influx.query(statement, params)[0]))
    return SitePoints(
        rows=newest_first[:MAX_RAW_POINTS][::-1], truncated=len(newest_first) > MAX_RAW_POINTS
    )


#: Only forecast runs issued in the last this many days are looked at: the newest run is what
#: matters, and bounding the search keeps a lookup as fast after years of daily runs as on the
#: first day (a field with no run in this window simply has no current forecast).
ISSUE_LOOKBACK_DAYS = 14


def newest_cassava_forecasts(
    influx: InfluxV1, field_ids: Sequence[str], today: date | None = None
) -> dict[str, Rows]:
    """Every candidate harvest date of each field's newest forecast run, in date order (only
    the newest run of its day, see ``_newest_run``).

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
        runs: dict[str, Rows] = {}
        for tags, row in series_rows(influx.query(statement, {"issued": day})[0]):
            runs.setdefault(tags["field"], []).append((tags, row))
        found.update({field: _newest_run(rows) for field, rows in runs.items()})
    return found


def _newest_run(rows: Rows) -> Rows:
    """The points of the newest of a field's runs on one day, in date order. Two runs the same
    day (another model version pinned, or a run by hand after the daily job) share the
    ``issued`` tag; each run's points carry the run's ``issued_at_ms``, so that tells them
    apart, and a rerun that dropped a candidate date leaves no stale point behind."""
    newest = max(int(row["issued_at_ms"]) for _, row in rows)
    kept = [(tags, row) for tags, row in rows if int(row["issued_at_ms"]) == newest]
    return sorted(kept, key=lambda tags_row: int(tags_row[1]["time"]))


def cattle_forecasts(influx: InfluxV1, herd_id: str) -> Rows:
    """The newest forecast of each animal, whichever model version made it: the query gives
    the newest per animal and version, and two versions run (a model change, a pin) would
    otherwise list each animal twice."""
    statement = (
        f'SELECT * FROM "{storage.CATTLE_FORECAST}" WHERE "herd" = $herd '
        'GROUP BY "animal", "model_version" ORDER BY time DESC LIMIT 1'
    )
    newest: dict[str, tuple[dict[str, str], dict[str, Any]]] = {}
    for tags, row in series_rows(influx.query(statement, {"herd": herd_id})[0]):
        known = newest.get(tags["animal"])
        if known is None or row["time"] > known[1]["time"]:
            newest[tags["animal"]] = (tags, row)
    return [newest[animal] for animal in sorted(newest)]


def local_today() -> date:
    """Today in Thailand."""
    return datetime.now(THAI_TIMEZONE).date()
