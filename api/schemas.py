"""Request and response shapes of the API. Units are in field names (``_rai``, ``_t_ha``,
``_pct``, ``_kg``) or stated in the description; times are ISO 8601 UTC."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from isanfarm.contract import ID_PATTERN

T = TypeVar("T")

Id = Annotated[str, Field(pattern=f"^{ID_PATTERN.pattern}$", examples=["korat-001"])]


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
    registry: ServiceHealth


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="items matching the filters, over all pages")
    limit: int
    offset: int


class Cooperative(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: Id
    name: str = Field(examples=["Korat Tapioca Cooperative"])
    province: str = Field(examples=["Nakhon Ratchasima"])


class FarmIn(BaseModel):
    id: Id
    cooperative_id: Id | None = Field(
        None, description="needed with an operator key; a cooperative's key creates its own"
    )
    name: str = Field(min_length=1, max_length=200, examples=["Somchai's farm"])
    district: str | None = Field(None, max_length=100, examples=["Sikhio"])


class Farm(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: Id
    cooperative_id: Id
    name: str
    district: str | None


class FieldIn(BaseModel):
    id: Id
    farm_id: Id
    name: str = Field(min_length=1, max_length=200, examples=["North plot"])
    area_rai: float = Field(gt=0, le=100_000, examples=[12.5], description="area in rai")
    variety: str = Field(min_length=1, max_length=50, examples=["KU50"])
    planting_date: date
    soil: str = Field(min_length=1, max_length=50, examples=["loamy_sand"])
    latitude: float | None = Field(None, ge=-90, le=90, examples=[14.97])
    longitude: float | None = Field(None, ge=-180, le=180, examples=[102.1])


class FieldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: Id
    farm_id: Id
    cooperative_id: Id
    name: str
    area_rai: float
    area_ha: float = Field(description="area in hectares (1 ha = 6.25 rai)")
    variety: str
    planting_date: date
    soil: str
    latitude: float | None
    longitude: float | None


class Herd(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: Id
    farm_id: Id
    cooperative_id: Id
    name: str


class Animal(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: Id = Field(description="ear-tag id")
    herd_id: Id
    cooperative_id: Id
    breed: str = Field(examples=["Wagyu x Brahman"])
    birth_date: date
    target_weight_kg: float


class DeviceStatus(BaseModel):
    online: bool | None = Field(description="None when the device was never heard from")
    last_seen: datetime | None
    outbox_depth: int | None = Field(description="readings waiting on the device's disk")
    battery_v: float | None


class Device(BaseModel):
    id: Id
    farm_id: Id
    cooperative_id: Id
    kind: str = Field(examples=["cassava_field"])
    site: Id = Field(description="the field or herd the device stands in")
    status: DeviceStatus


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


class TelemetryPoint(BaseModel):
    time: datetime
    values: dict[str, float | None] = Field(
        description="raw: sensor names; hour/day: <sensor>_mean/_min/_max, rain_sum, readings"
    )
    animal_id: str | None = None


class Telemetry(BaseModel):
    site: Id
    resolution: str = Field(examples=["hour"])
    units: dict[str, str] = Field(description="unit of each sensor in the catalogue")
    points: list[TelemetryPoint]


class CassavaForecast(BaseModel):
    harvest_date: date
    horizon_days: int = Field(description="days from the issue to the harvest date")
    yield_t_ha: float
    yield_t_ha_p10: float
    yield_t_ha_p90: float
    yield_t_rai: float = Field(description="fresh roots, tonnes per rai")
    starch_pct: float
    starch_pct_p10: float
    starch_pct_p90: float
    tonnes: float = Field(description="expected fresh roots from the whole field")
    revenue_thb: float = Field(description="expected revenue under the configured price rule")


class FieldForecast(BaseModel):
    field_id: Id
    model_version: str
    issued_at: datetime
    candidates: list[CassavaForecast]


class WeekSummary(BaseModel):
    week_start: date = Field(description="Monday of the ISO week")
    tonnes: float
    mean_starch_pct: float = Field(description="tonnage-weighted")
    revenue_thb: float
    fields: int


class CooperativeSummary(BaseModel):
    cooperative_id: Id
    weeks: list[WeekSummary] = Field(description="by each field's recommended harvest date")


class HarvestWindow(BaseModel):
    field_id: Id
    farm_id: Id
    recommended_date: date = Field(description="the candidate with the highest revenue")
    window_start: date = Field(description="first candidate within 5% of the best revenue")
    window_end: date
    tonnes: float
    starch_pct: float
    revenue_thb: float


class AnimalForecast(BaseModel):
    animal_id: Id
    weight_kg: float
    target_weight_kg: float
    daily_gain_kg: float
    days_to_target: float
    days_to_target_p10: float
    days_to_target_p90: float
    market_date: date
    heat_stress_risk: float = Field(ge=0, le=1)
    model_version: str
    issued_at: datetime


class Alert(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    cooperative_id: Id
    farm_id: Id
    kind: str = Field(examples=["soil_dry"])
    subject: Id = Field(description="the field, herd or device concerned")
    message: str
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class CreatedKey(BaseModel):
    key: str = Field(description="shown once; store it now")
