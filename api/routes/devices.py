"""Devices: where they stand, whether they are online, what they last reported."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from api.deps import InfluxDep, PrincipalDep, SessionDep, SettingsDep
from api.schemas import Device, DeviceLatest, DeviceStatus, Id, LatestReading, Page
from api.scope import NOT_FOUND, Limit, Offset, get_visible, list_visible
from api.timeseries import Status, device_statuses, latest_readings, ms_to_datetime
from isanfarm.contract import ID_PATTERN, SENSOR_CATALOGUE
from registry import models

router = APIRouter(prefix="/v1/devices", tags=["devices"])
DeviceId = Annotated[str, Path(pattern=f"^{ID_PATTERN.pattern}$", examples=["korat-f01-node"])]


@router.get("", response_model=Page[Device])
def list_devices(
    principal: PrincipalDep,
    session: SessionDep,
    influx: InfluxDep,
    settings: SettingsDep,
    farm_id: Annotated[Id | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[Device]:
    filters = [] if farm_id is None else [models.Device.farm_id == farm_id]
    items, total = list_visible(session, models.Device, principal, filters, limit, offset)
    statuses = device_statuses(influx, {d.id: d.farm_id for d in items})
    devices = [_device(d, statuses[d.id], settings.offline_after_s) for d in items]
    return Page(items=devices, total=total, limit=limit, offset=offset)


@router.get("/{device_id}", response_model=Device, responses=NOT_FOUND)
def get_device(
    device_id: DeviceId,
    principal: PrincipalDep,
    session: SessionDep,
    influx: InfluxDep,
    settings: SettingsDep,
) -> Device:
    device = get_visible(session, models.Device, device_id, principal)
    status = device_statuses(influx, {device.id: device.farm_id})[device.id]
    return _device(device, status, settings.offline_after_s)


@router.get("/{device_id}/latest", response_model=DeviceLatest, responses=NOT_FOUND)
def latest(
    device_id: DeviceId, principal: PrincipalDep, session: SessionDep, influx: InfluxDep
) -> DeviceLatest:
    """The newest stored value of every sensor the device has reported, with its unit."""
    device = get_visible(session, models.Device, device_id, principal)
    readings = [
        LatestReading(
            sensor=name,
            value=row["value"],
            unit=SENSOR_CATALOGUE[name].unit,
            time=ms_to_datetime(row["time"]),
            seq=row["seq"],
            animal_id=row["animal"],
        )
        for name, row in latest_readings(influx, device.farm_id, device.id)
    ]
    if not readings:
        raise HTTPException(404, f"no readings stored for device {device_id!r}")
    return DeviceLatest(device_id=device.id, farm_id=device.farm_id, readings=readings)


def _device(device: models.Device, status: Status, offline_after_s: float) -> Device:
    online = None
    if status.last_seen_ms is not None:
        recent = time.time() * 1000 - status.last_seen_ms <= offline_after_s * 1000
        online = status.state == "online" and recent
    return Device(
        id=device.id,
        farm_id=device.farm_id,
        cooperative_id=device.cooperative_id,
        kind=device.kind,
        site=device.site,
        status=DeviceStatus(
            online=online,
            last_seen=None if status.last_seen_ms is None else ms_to_datetime(status.last_seen_ms),
            outbox_depth=status.outbox_depth,
            battery_v=status.battery_v,
        ),
    )
