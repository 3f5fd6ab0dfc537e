"""Devices: what each one last reported."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from api.deps import InfluxDep
from api.schemas import DeviceLatest, LatestReading, Problem
from ingest.points import TELEMETRY_MEASUREMENT
from isanfarm.contract import ID_PATTERN, SENSOR_CATALOGUE
from isanfarm.influx import series_rows

router = APIRouter(prefix="/v1/devices", tags=["devices"])

DeviceId = Annotated[str, Path(pattern=f"^{ID_PATTERN.pattern}$", examples=["korat-f01-node"])]


@router.get(
    "/{device_id}/latest",
    response_model=DeviceLatest,
    responses={404: {"model": Problem, "description": "no readings stored for this device"}},
)
def latest(device_id: DeviceId, influx: InfluxDep) -> DeviceLatest:
    """The newest stored value of every sensor the device has reported, with its unit."""
    sensors = list(SENSOR_CATALOGUE)
    statement = "; ".join(
        f'SELECT last("{name}") AS "value", "seq", "farm", "animal" '
        f'FROM "{TELEMETRY_MEASUREMENT}" WHERE "device" = $device'
        for name in sensors
    )
    results = influx.query(statement, {"device": device_id})
    readings: list[LatestReading] = []
    farm_id = None
    for name, result in zip(sensors, results, strict=True):
        for _tags, row in series_rows(result):
            farm_id = row["farm"]
            readings.append(
                LatestReading(
                    sensor=name,
                    value=row["value"],
                    unit=SENSOR_CATALOGUE[name].unit,
                    time=datetime.fromtimestamp(row["time"] / 1000, tz=UTC),
                    seq=row["seq"],
                    animal_id=row["animal"],
                )
            )
    if farm_id is None:
        raise HTTPException(404, f"no readings stored for device {device_id!r}")
    return DeviceLatest(device_id=device_id, farm_id=farm_id, readings=readings)
