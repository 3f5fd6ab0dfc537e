"""Telemetry of a field or a barn (herd) over a time range, raw or rolled up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query

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
Start = Annotated[datetime | None, Query(description="ISO 8601; default: 7 days before end")]
End = Annotated[datetime | None, Query(description="ISO 8601; default: now")]
UNITS = {name: spec.unit for name, spec in SENSOR_CATALOGUE.items()}
TAGS = {"farm", "device", "site", "animal"}
#: InfluxDB keeps time as 64-bit nanoseconds since 1970: roughly 1677-09-21 to 2262-04-11.
EARLIEST = datetime(1678, 1, 1, tzinfo=UTC)
LATEST = datetime(2262, 1, 1, tzinfo=UTC)


@router.get("/fields/{field_id}/telemetry", response_model=Telemetry, responses=NOT_FOUND)
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


@router.get("/herds/{herd_id}/telemetry", response_model=Telemetry, responses=NOT_FOUND)
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
    end = _instant("end", end) if end else datetime.now(UTC)
    start = _instant("start", start) if start else max(end - timedelta(days=7), EARLIEST)
    if start >= end:
        raise HTTPException(422, "start: must be before end")
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
