"""Telemetry of a field or a barn (herd) over a time range, raw or rolled up."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BeforeValidator, WithJsonSchema

from agronomy.units import THAI_TIMEZONE
from api.deps import InfluxDep, PrincipalDep, SessionDep
from api.schemas import Telemetry, TelemetryPoint
from api.scope import NOT_FOUND, get_visible
from api.timeseries import ms_to_datetime, site_telemetry
from isanfarm.contract import ID_PATTERN, SENSOR_CATALOGUE
from registry import models

router = APIRouter(prefix="/v1", tags=["telemetry"])
SiteId = Annotated[str, Path(pattern=f"^{ID_PATTERN.pattern}$", examples=["korat-001-f1"])]
Resolution = Annotated[
    Literal["raw", "hour", "day"],
    Query(description="raw readings, or hourly / daily (Thai day) rollups"),
]
#: A time as ISO 8601 writes it, date and time of day, with a UTC offset or without one (then
#: UTC). Nothing else: pydantic alone would also take a number of seconds since 1970 ("0.5").
ISO_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?$"
ISO_EXAMPLE = "2026-11-01T00:00:00Z"
#: The same instant written in Thai time.
THAI_EXAMPLE = datetime(2026, 11, 1, tzinfo=UTC).astimezone(THAI_TIMEZONE).isoformat()


def _iso_time(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(ISO_TIME, value):
        return value
    raise ValueError(
        f"give an ISO 8601 time such as {ISO_EXAMPLE} or {THAI_EXAMPLE} (no offset means UTC)"
    )


#: Optional, but never null on the wire: the schema is the string's alone.
IsoTime = Annotated[
    datetime | None,
    BeforeValidator(_iso_time),
    WithJsonSchema({"type": "string", "pattern": ISO_TIME, "examples": [ISO_EXAMPLE]}),
]
TIME_HELP = "ISO 8601 date and time, e.g. 2026-11-01T00:00:00Z; no offset means UTC"
Start = Annotated[IsoTime, Query(description=f"{TIME_HELP}; default: 7 days before end")]
End = Annotated[IsoTime, Query(description=f"{TIME_HELP}; default: now")]
#: Every way a telemetry request's parameters can be refused.
INVALID: dict[int | str, dict[str, Any]] = {
    422: {
        "description": (
            "a parameter is invalid; `field` names it: a time not in ISO 8601, a time outside "
            "1678-01-01..2262-01-01 (what InfluxDB stores), or `start` not before `end`"
        )
    }
}
UNITS = {name: spec.unit for name, spec in SENSOR_CATALOGUE.items()}
TAGS = {"farm", "device", "site", "animal"}
#: InfluxDB keeps time as 64-bit nanoseconds since 1970: roughly 1677-09-21 to 2262-04-11.
EARLIEST = datetime(1678, 1, 1, tzinfo=UTC)
LATEST = datetime(2262, 1, 1, tzinfo=UTC)


@router.get(
    "/fields/{field_id}/telemetry", response_model=Telemetry, responses={**NOT_FOUND, **INVALID}
)
def field_telemetry(
    field_id: SiteId,
    principal: PrincipalDep,
    session: SessionDep,
    influx: InfluxDep,
    resolution: Resolution = "hour",
    start: Start = None,
    end: End = None,
) -> Telemetry:
    field = get_visible(session, models.Field, field_id, principal)
    return _telemetry(influx, field.farm_id, field.id, resolution, start, end)


@router.get(
    "/herds/{herd_id}/telemetry", response_model=Telemetry, responses={**NOT_FOUND, **INVALID}
)
def barn_telemetry(
    herd_id: SiteId,
    principal: PrincipalDep,
    session: SessionDep,
    influx: InfluxDep,
    resolution: Resolution = "hour",
    start: Start = None,
    end: End = None,
) -> Telemetry:
    herd = get_visible(session, models.Herd, herd_id, principal)
    return _telemetry(influx, herd.farm_id, herd.id, resolution, start, end)


def _telemetry(
    influx: InfluxDep,
    farm_id: str,
    site: str,
    resolution: str,
    start: datetime | None,
    end: datetime | None,
) -> Telemetry:
    end = _instant("query.end", end) if end else datetime.now(UTC)
    start = _instant("query.start", start) if start else max(end - timedelta(days=7), EARLIEST)
    if start >= end:
        raise HTTPException(422, "query.start: must be before end")
    found = site_telemetry(influx, farm_id, site, start, end, resolution)
    points = []
    for _, row in found.rows:
        animal = row.get("animal")
        values = {
            k: v
            for k, v in row.items()
            if k not in TAGS and k not in ("time", "seq", "received_ms") and not isinstance(v, str)
        }
        points.append(
            TelemetryPoint(time=ms_to_datetime(row["time"]), values=values, animal_id=animal)
        )
    return Telemetry(
        site=site, resolution=resolution, units=UNITS, points=points, truncated=found.truncated
    )


def _instant(parameter: str, moment: datetime) -> datetime:
    """``moment`` in UTC (a naive one taken as UTC), refused with a 422 naming ``parameter``
    outside the years InfluxDB can store (64-bit nanoseconds around 1970)."""
    try:
        utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # an offset that takes it before year 1 or after 9999
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise HTTPException(
            422,
            f"{parameter}: {moment.isoformat()} is outside the stored time range; give a time "
            f"from {EARLIEST.date()} to before {LATEST.date()}",
        )
    return utc
