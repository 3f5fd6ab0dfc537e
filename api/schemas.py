"""Request and response shapes of the API. Units are in field names (``_rai``, ``_t_ha``,
``_pct``, ``_kg``) or stated in the description; times are ISO 8601 UTC."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from isanfarm.contract import ID_PATTERN, DeviceKind, Sensor
from isanfarm.storage import rollup_field

T = TypeVar("T")

#: The most points one telemetry answer holds (api.timeseries.MAX_RAW_POINTS).
MAX_TELEMETRY_POINTS = 10_000

Id = Annotated[str, Field(pattern=f"^{ID_PATTERN.pattern}$", examples=["korat-001"])]
#: Free text without NUL characters: PostgreSQL refuses them in any text, so one in a request
#: is a bad request (422), not a database error.
NO_NUL = r"^[^\x00]*$"


class Problem(BaseModel):
    """RFC 9457 problem details: the one shape of every 4xx/5xx body."""

    type: str = "about:blank"
    title: str = Field(examples=["Not found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["field 'korat-coop-f9' not found"])
    field: str | None = Field(
        None, description="the request part at fault, where one is", examples=["path.field_id"]
    )


class ServiceHealth(BaseModel):
    reachable: bool = Field(examples=[True])
    address: str = Field(examples=["http://127.0.0.1:8086"])


class Health(BaseModel):
    status: str = Field(
        description="'ok' when every dependency is reachable, else 'degraded'", examples=["ok"]
    )
    broker: ServiceHealth
    database: ServiceHealth
    registry: ServiceHealth


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="items matching the filters, over all pages", examples=[42])
    limit: int = Field(examples=[100])
    offset: int = Field(examples=[0])


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
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL, examples=["Somchai's farm"])
    district: str | None = Field(None, max_length=100, pattern=NO_NUL, examples=["Sikhio"])


class Farm(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: Id
    cooperative_id: Id
    name: str
    district: str | None


class FieldIn(BaseModel):
    id: Id
    farm_id: Id
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL, examples=["North plot"])
    area_rai: float = Field(gt=0, le=100_000, examples=[12.5], description="area in rai")
    variety: str = Field(min_length=1, max_length=50, pattern=NO_NUL, examples=["KU50"])
    planting_date: date
    soil: str = Field(min_length=1, max_length=50, pattern=NO_NUL, examples=["loamy_sand"])
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
    online: bool | None = Field(
        description="None when the device was never heard from", examples=[True]
    )
    last_seen: datetime | None = Field(examples=["2026-11-26T07:40:00Z"])
    outbox_depth: int | None = Field(
        description="readings waiting on the device's disk", examples=[0]
    )
    battery_v: float | None = Field(examples=[12.6])


class Device(BaseModel):
    id: Id
    farm_id: Id
    cooperative_id: Id
    kind: str = Field(examples=[DeviceKind.CASSAVA_FIELD])
    site: Id = Field(description="the field or herd the device stands in")
    status: DeviceStatus


class LatestReading(BaseModel):
    sensor: str = Field(examples=[Sensor.SOIL_MOISTURE_30CM])
    value: float = Field(examples=[14.2])
    unit: str = Field(examples=["%VWC"], description="unit fixed by the sensor catalogue")
    time: datetime = Field(description="device time of the reading, UTC")
    seq: int = Field(description="the device's message sequence number")
    animal_id: str | None = Field(None, description="for per-animal readings (walk-over scale)")


class DeviceLatest(BaseModel):
    device_id: str = Field(examples=["korat-coop-f01-node"])
    farm_id: str = Field(examples=["korat-coop-farm1"])
    readings: list[LatestReading] = Field(description="the newest value of every sensor seen")


class TelemetryPoint(BaseModel):
    time: datetime = Field(examples=["2026-11-26T00:00:00Z"])
    values: dict[str, float | None] = Field(
        description="raw: sensor names; hour/day: <sensor>_mean/_min/_max, rain_sum, readings",
        examples=[
            {
                rollup_field(Sensor.SOIL_MOISTURE_30CM, "mean"): 14.2,
                rollup_field(Sensor.RAIN, "sum"): 3.4,
                "readings": 6,
            }
        ],
    )
    animal_id: str | None = Field(None, examples=[None])


class Telemetry(BaseModel):
    site: Id
    resolution: str = Field(examples=["hour"])
    units: dict[str, str] = Field(description="unit of each sensor in the catalogue")
    points: list[TelemetryPoint] = Field(description="in time order")
    truncated: bool = Field(
        description=(
            f"true when more than {MAX_TELEMETRY_POINTS:,} points matched: `points` then holds "
            "the newest of them; ask for a shorter range (start) or a rollup for the rest"
        ),
        examples=[False],
    )


class CassavaForecast(BaseModel):
    harvest_date: date = Field(examples=["2027-02-15"])
    horizon_days: int = Field(description="days from the issue to the harvest date", examples=[81])
    yield_t_ha: float = Field(examples=[31.5])
    yield_t_ha_p10: float = Field(description="80% interval, lower end", examples=[25.2])
    yield_t_ha_p90: float = Field(description="80% interval, upper end", examples=[37.9])
    yield_t_rai: float = Field(description="fresh roots, tonnes per rai", examples=[5.04])
    starch_pct: float = Field(examples=[26.8])
    starch_pct_p10: float = Field(examples=[25.6])
    starch_pct_p90: float = Field(examples=[28.0])
    tonnes: float = Field(description="expected fresh roots from the whole field", examples=[126.0])
    revenue_thb: float = Field(
        description="expected revenue under the configured price rule", examples=[328_000.0]
    )


class FieldForecast(BaseModel):
    field_id: Id
    model_version: str
    issued_at: datetime
    candidates: list[CassavaForecast]


class WeekSummary(BaseModel):
    week_start: date = Field(description="Monday of the ISO week", examples=["2027-02-15"])
    tonnes: float = Field(examples=[1_240.5])
    mean_starch_pct: float = Field(description="tonnage-weighted", examples=[26.4])
    revenue_thb: float = Field(examples=[3_190_000.0])
    fields: int = Field(examples=[11])


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
    farm_id: Id | None = Field(description="none for a cooperative-wide alert")
    kind: str = Field(examples=["soil_dry"])
    subject: Id = Field(description="the field, herd or device concerned")
    message: str
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class CreatedKey(BaseModel):
    key: str = Field(description="shown once; store it now")


# ---- /health without a key (issue 17): whether each dependency answers, never where it is ----


class Reachable(BaseModel):
    reachable: bool = Field(examples=[True])


class Liveness(BaseModel):
    """What anyone may learn: up or not, and which dependency is away; no addresses."""

    status: str = Field(
        description="'ok' when every dependency is reachable, else 'degraded'", examples=["ok"]
    )
    broker: Reachable
    database: Reachable
    registry: Reachable


# --- API keys (api/routes/keys.py): the operator manages keys; a secret is shown only once. ---

KeyPrefix = Annotated[str, Field(pattern="^[0-9a-f]{8}$", examples=["3f9a0c1d"])]


class ApiKeyInfo(BaseModel):
    """A key as listed: never its secret, nor the secret's hash."""

    model_config = ConfigDict(from_attributes=True)

    prefix: KeyPrefix = Field(description="names the key; the key reads isf_<prefix>_<secret>")
    role: str = Field(examples=["read"])
    cooperative_id: Id | None = Field(description="none for an operator key")
    label: str = Field(examples=["Korat office laptop"])
    created_at: datetime
    last_used_at: datetime | None = Field(description="recorded to within a minute")
    expires_at: datetime | None = Field(description="none: never expires")
    revoked_at: datetime | None
    state: Literal["active", "revoked", "expired"] = Field(examples=["active"])


class ApiKeyIn(BaseModel):
    cooperative_id: Id | None = Field(None, description="omit for an operator key")
    role: Literal["read", "admin"] = Field("read", examples=["read"])
    label: str = Field(
        min_length=1, max_length=200, pattern=NO_NUL, examples=["Korat office laptop"]
    )
    expires_at: AwareDatetime | None = Field(
        None, description="ISO 8601 with an offset; omit for a key that never expires"
    )


class RotateKeyIn(BaseModel):
    grace_s: int = Field(
        86_400,
        ge=0,
        le=90 * 86_400,
        description="how long the old key keeps working, in seconds",
        examples=[86_400],
    )
    expires_at: AwareDatetime | None = Field(
        None,
        description="the new key's expiry; omit to give it as long a life as the old one had",
    )


class CreatedApiKey(BaseModel):
    key: str = Field(description="shown once; store it now", examples=["isf_3f9a0c1d_..."])
    info: ApiKeyInfo
