"""Registry tables (SQLAlchemy 2). Ids are contract ids (lower-case slugs), the same ones that
appear in MQTT topics and InfluxDB tags, so a row and its telemetry join by name."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from agronomy.units import RAI_PER_HA

ID = String(64)


class Base(DeclarativeBase):
    pass


class UtcDateTime(TypeDecorator[datetime]):
    """A point in time, stored in UTC and always read back aware, in UTC.

    PostgreSQL's ``timestamptz`` keeps the instant but answers in the session's time zone;
    SQLite keeps no time zone at all, so ``DateTime(timezone=True)`` reads back naive and an
    API answer would lose its ``Z``. Values are therefore converted to UTC on the way in (a
    naive one is refused: its zone is unknown) and marked UTC on the way out. Naive values an
    older SQLite registry holds were written from UTC times, so they read back right too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"{value.isoformat()} has no time zone: pass an aware datetime")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Cooperative(Base):
    __tablename__ = "cooperatives"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    province: Mapped[str] = mapped_column(String(100))


class Farm(Base):
    __tablename__ = "farms"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    cooperative_id: Mapped[str] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str | None] = mapped_column(String(100))


class Field(Base):
    __tablename__ = "fields"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    farm_id: Mapped[str] = mapped_column(ForeignKey("farms.id"), index=True)
    cooperative_id: Mapped[str] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    area_rai: Mapped[float] = mapped_column(Float)
    variety: Mapped[str] = mapped_column(String(50))
    planting_date: Mapped[date] = mapped_column(Date)
    soil: Mapped[str] = mapped_column(String(50))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)

    @property
    def area_ha(self) -> float:
        return round(self.area_rai / RAI_PER_HA, 4)


class Herd(Base):
    __tablename__ = "herds"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    farm_id: Mapped[str] = mapped_column(ForeignKey("farms.id"), index=True)
    cooperative_id: Mapped[str] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))


class Animal(Base):
    __tablename__ = "animals"

    id: Mapped[str] = mapped_column(ID, primary_key=True)  # the ear-tag id
    herd_id: Mapped[str] = mapped_column(ForeignKey("herds.id"), index=True)
    cooperative_id: Mapped[str] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    breed: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date] = mapped_column(Date)
    target_weight_kg: Mapped[float] = mapped_column(Float)


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(ID, primary_key=True)  # the device_id of its topics
    farm_id: Mapped[str] = mapped_column(ForeignKey("farms.id"), index=True)
    cooperative_id: Mapped[str] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))  # cassava_field or cattle_barn
    site: Mapped[str] = mapped_column(ID)  # the field or herd id it stands in
    credentials_ref: Mapped[str | None] = mapped_column(String(200))


class ApiKey(Base):
    """Only a hash of the secret is stored; ``prefix`` finds the row without scanning. A key
    works until it is revoked or its ``expires_at`` passes (``registry.keys``)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    #: None: an operator key for the whole platform.
    cooperative_id: Mapped[str | None] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    role: Mapped[str] = mapped_column(String(10))  # read or admin
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: None: never expires. Set at creation, or to the end of the grace period of a rotation.
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: Recorded at most once a minute per key (``registry.keys.USE_RECORDED_EVERY``).
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


#: Alert kinds (``api.alerts``): the names the API lists and filters them by.
SOIL_DRY = "soil_dry"
HEAT_STRESS = "heat_stress"
DEVICE_OFFLINE = "device_offline"
INGEST_REJECTS = "ingest_rejects"
FORECAST_COVERAGE = "forecast_coverage"
ALERT_KINDS = (SOIL_DRY, HEAT_STRESS, DEVICE_OFFLINE, INGEST_REJECTS, FORECAST_COVERAGE)


class Alert(Base):
    """An alert stays open until acknowledged (by a person, or by the rule that raised it when
    the condition has passed). ``farm_id`` is None for a cooperative-wide alert
    (``forecast_coverage``: the forecasts of the whole cooperative)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cooperative_id: Mapped[str] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    farm_id: Mapped[str | None] = mapped_column(ForeignKey("farms.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))  # one of ALERT_KINDS
    #: The field, herd or device concerned; the cooperative for a cooperative-wide alert.
    subject: Mapped[str] = mapped_column(ID)
    message: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))


#: Languages a subscriber reads (``notify.messages``): Thai by default.
LANGUAGES = ("th", "en")
#: Channels a subscription delivers on (``notify.notification.Channel``).
CHANNELS = ("line", "email")


class Subscription(Base):
    """Who receives a farm's alerts (``farm_id`` set), or a cooperative's for its staff
    (``farm_id`` None: every alert of the cooperative, the cooperative-wide ones included).

    ``kinds`` is a comma-separated list of alert kinds; empty means every kind. Quiet hours are
    Thai local times ``HH:MM`` (``quiet_start`` to ``quiet_end``, over midnight when the end
    is earlier); during them warnings wait and critical alerts still go. A still-firing alert
    is sent again after ``repeat_interval_s``, never more often."""

    __tablename__ = "notify_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cooperative_id: Mapped[str] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    farm_id: Mapped[str | None] = mapped_column(ForeignKey("farms.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))  # one of CHANNELS
    #: A LINE user id (``U`` + 32 hex digits) or an e-mail address.
    address: Mapped[str] = mapped_column(String(254))
    #: Who it is, for the people reading the list ("ลุงสมชาย", "extension officer").
    label: Mapped[str] = mapped_column(String(200))
    kinds: Mapped[str] = mapped_column(String(300), default="")
    language: Mapped[str] = mapped_column(String(5), default="th")
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    repeat_interval_s: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class LinkCode(Base):
    """A one-time code a cooperative hands a farmer, who sends it to the LINE Official
    Account: the webhook then subscribes his LINE user id to the code's farm (or, without a
    farm, to the cooperative as staff). Only a hash is stored; a code is used once and
    expires."""

    __tablename__ = "notify_link_codes"

    code_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    cooperative_id: Mapped[str] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    farm_id: Mapped[str | None] = mapped_column(ForeignKey("farms.id"), index=True)
    language: Mapped[str] = mapped_column(String(5), default="th")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: The LINE user id that used it.
    used_by: Mapped[str | None] = mapped_column(String(64))


class NotifySent(Base):
    """One alert state (and repeat round) routed to one subscription: routing skips what is
    here, so a restart or a second look at the same alert sends nothing twice, and a
    "resolved" goes only to those who were told it was firing."""

    __tablename__ = "notify_sent"
    __table_args__ = (
        UniqueConstraint("subscription_id", "alert_key", "state", "round", name="uq_notify_sent"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("notify_subscriptions.id", ondelete="CASCADE"), index=True
    )
    alert_key: Mapped[str] = mapped_column(String(200), index=True)
    state: Mapped[str] = mapped_column(String(10))  # firing or resolved
    round: Mapped[int] = mapped_column(Integer)
    #: The outbox key of the notification that carried it (grouped ones share one).
    notification_key: Mapped[str] = mapped_column(String(200))
    routed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: When it was due for delivery: now, or the end of the quiet hours it waited for. The
    #: next repeat of a firing alert is due a repeat interval after this.
    deliver_at: Mapped[datetime] = mapped_column(UtcDateTime())
