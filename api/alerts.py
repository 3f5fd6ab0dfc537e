"""Alert rules, evaluated against the latest data; each raises at most one open alert per
kind and subject, which stays until someone acknowledges it.

Thresholds: soil dry when the 30 cm probe reads below the dry threshold of the field's soil
(``agronomy.soilwater``: a little above its wilting point, the rule the dashboards use too);
heat stress from the "danger" category of the Livestock Weather Safety Index up
(``agronomy.thi``); a device is offline when not heard from for ``offline_after_s``; ingest
rejects when a farm's messages were rejected in the last hour.

Forecast coverage is not evaluated here: it needs the model's hindcasts of a cooperative's
recorded harvests, which ``isanfarm calibrate`` and ``isanfarm forecast --harvests`` compute
(``models.calibration``); they record it with ``record_forecast_coverage``, which also closes
the alert when coverage is back, since no person has to act on a condition that has passed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from agronomy.soilwater import dry_below_pct_for
from agronomy.thi import THI_DANGER, thi
from api.timeseries import device_statuses
from isanfarm import storage
from isanfarm.contract import Sensor
from isanfarm.influx import InfluxV1, series_rows
from registry import models

if TYPE_CHECKING:  # numpy, scipy and the crop model load only where calibration runs
    from models.calibration import CoverageCheck


@dataclass(frozen=True, slots=True)
class Finding:
    cooperative_id: str
    farm_id: str | None
    kind: str
    subject: str
    message: str


def evaluate(session: Session, influx: InfluxV1, offline_after_s: float) -> list[models.Alert]:
    """Raise the alerts that the data calls for and that are not already open."""
    open_keys = {
        (a.kind, a.subject)
        for a in session.scalars(select(models.Alert).where(models.Alert.acknowledged_at.is_(None)))
    }
    raised = []
    now = datetime.now(UTC)
    for finding in _findings(session, influx, offline_after_s):
        if (finding.kind, finding.subject) in open_keys:
            continue
        alert = models.Alert(**asdict(finding), raised_at=now)
        session.add(alert)
        raised.append(alert)
        open_keys.add((finding.kind, finding.subject))
    session.flush()
    return raised


def _findings(session: Session, influx: InfluxV1, offline_after_s: float) -> Iterator[Finding]:
    yield from _dry_fields(session, influx)
    yield from _hot_barns(session, influx)
    yield from _offline_devices(session, influx, offline_after_s)
    yield from _rejecting_farms(session, influx)


def _latest(influx: InfluxV1, farm_id: str, site: str, fields: list[str]) -> dict[str, float]:
    """The newest readings at a site from the registry's farm of it (``farm_id``): the farm
    tag comes from the broker-checked topic, ``site`` only from the payload."""
    columns = ", ".join(f'last("{f}") AS "{f}"' for f in fields)
    statement = (
        f'SELECT {columns} FROM "{storage.TELEMETRY}" '
        'WHERE "farm" = $farm AND "site" = $site AND time > now() - 6h'
    )
    params = {"farm": farm_id, "site": site}
    rows = [row for _, row in series_rows(influx.query(statement, params)[0])]
    return {f: rows[0][f] for f in fields if rows and rows[0].get(f) is not None}


def _dry_fields(session: Session, influx: InfluxV1) -> Iterator[Finding]:
    for field in session.scalars(select(models.Field)):
        latest = _latest(influx, field.farm_id, field.id, [Sensor.SOIL_MOISTURE_30CM])
        limit = dry_below_pct_for(field.soil)
        moisture = latest.get(Sensor.SOIL_MOISTURE_30CM)
        if moisture is not None and moisture < limit:
            yield Finding(
                field.cooperative_id,
                field.farm_id,
                models.SOIL_DRY,
                field.id,
                f"soil at 30 cm is {moisture:.1f}% VWC, below {limit:g}% for {field.soil}",
            )


def _hot_barns(session: Session, influx: InfluxV1) -> Iterator[Finding]:
    for herd in session.scalars(select(models.Herd)):
        climate = [Sensor.AIR_TEMPERATURE, Sensor.RELATIVE_HUMIDITY]
        latest = _latest(influx, herd.farm_id, herd.id, climate)
        if len(latest) == 2:
            index = thi(latest[Sensor.AIR_TEMPERATURE], latest[Sensor.RELATIVE_HUMIDITY])
            if index >= THI_DANGER:
                yield Finding(
                    herd.cooperative_id,
                    herd.farm_id,
                    models.HEAT_STRESS,
                    herd.id,
                    f"barn THI is {index:.0f} (danger from {THI_DANGER:.0f})",
                )


def _offline_devices(
    session: Session, influx: InfluxV1, offline_after_s: float
) -> Iterator[Finding]:
    devices = list(session.scalars(select(models.Device)))
    statuses = device_statuses(influx, {d.id: d.farm_id for d in devices})
    now_ms = time.time() * 1000
    for device in devices:
        status = statuses[device.id]
        silent = (
            status.last_seen_ms is None or now_ms - status.last_seen_ms > offline_after_s * 1000
        )
        if silent or status.state == "offline":
            yield Finding(
                device.cooperative_id,
                device.farm_id,
                models.DEVICE_OFFLINE,
                device.id,
                f"device {device.id} has not been heard from in {offline_after_s / 3600:.0f} h"
                if silent
                else f"device {device.id} went offline",
            )


def _rejecting_farms(session: Session, influx: InfluxV1) -> Iterator[Finding]:
    for farm in session.scalars(select(models.Farm)):
        statement = (
            f'SELECT count("payload_bytes") FROM "{storage.INGEST_REJECTS}" '
            f'WHERE time > now() - 1h AND "topic" =~ /^isanfarm\\/v1\\/{farm.id}\\//'
        )
        rows = [row for _, row in series_rows(influx.query(statement)[0])]
        count = int(rows[0]["count"]) if rows else 0
        if count:
            yield Finding(
                farm.cooperative_id,
                farm.id,
                models.INGEST_REJECTS,
                farm.id,
                f"{count} messages from farm {farm.id} were rejected in the last hour",
            )


#: Who closes a forecast-coverage alert whose coverage is back (``acknowledged_by``).
COVERAGE_BACK = "isanfarm: coverage back"


def record_forecast_coverage(
    session: Session, cooperative_id: str, checks: Sequence[CoverageCheck]
) -> str:
    """Raise the cooperative's ``forecast_coverage`` alert when a check fails (one open alert
    per cooperative, naming the worst target), close it when every check passes again.
    Returns what happened: "raised", "still open", "cleared" or "ok"."""
    failing = sorted((c for c in checks if c.alert), key=lambda c: c.p_value)
    open_alert = session.scalars(
        select(models.Alert).where(
            models.Alert.kind == models.FORECAST_COVERAGE,
            models.Alert.subject == cooperative_id,
            models.Alert.acknowledged_at.is_(None),
        )
    ).first()
    now = datetime.now(UTC)
    if failing and open_alert is None:
        finding = Finding(
            cooperative_id, None, models.FORECAST_COVERAGE, cooperative_id, failing[0].message()
        )
        session.add(models.Alert(**asdict(finding), raised_at=now))
        session.flush()
        return "raised"
    if failing:
        return "still open"
    if open_alert is not None:
        open_alert.acknowledged_at = now
        covered = ", ".join(f"{c.target} {c.covered} of {c.n}" for c in checks)
        open_alert.acknowledged_by = f"{COVERAGE_BACK} ({covered})"[:200]
        session.flush()
        return "cleared"
    return "ok"
