"""Response shapes of the API (request shapes join them as endpoints that take bodies arrive)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Problem(BaseModel):
    """RFC 9457 problem details: the one shape of every 4xx/5xx body."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    field: str | None = Field(None, description="the request part at fault, where one is")


class ServiceHealth(BaseModel):
    reachable: bool
    address: str


class Health(BaseModel):
    status: str = Field(description="'ok' when every dependency is reachable, else 'degraded'")
    broker: ServiceHealth
    database: ServiceHealth


class LatestReading(BaseModel):
    sensor: str = Field(examples=["soil_moisture_30cm"])
    value: float = Field(examples=[14.2])
    unit: str = Field(examples=["%VWC"], description="unit fixed by the sensor catalogue")
    time: datetime = Field(description="device time of the reading, UTC")
    seq: int = Field(description="the device's message sequence number")
    animal_id: str | None = Field(None, description="for per-animal readings (walk-over scale)")


class DeviceLatest(BaseModel):
    device_id: str
    farm_id: str
    readings: list[LatestReading] = Field(description="the newest value of every sensor seen")
