"""Settings of the API server, from ``ISANFARM_`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from isanfarm.settings import ENV_CONFIG, InfluxSettings, MqttSettings


class ApiSettings(BaseSettings):
    model_config = ENV_CONFIG

    mqtt: MqttSettings = MqttSettings()
    influx: InfluxSettings = InfluxSettings()
    #: The registry: SQLite by default, PostgreSQL in production
    #: (``postgresql+psycopg://user:password@host/db``).
    database_url: str = "sqlite:///state/isanfarm.sqlite3"
    #: Upgrade the registry's schema when the API starts. Turn it off where several API
    #: processes share one database (two upgrading at once can collide): run
    #: ``isanfarm registry migrate`` once before them, and they refuse an outdated schema.
    migrate_on_start: bool = True
    #: How long a request waits on the registry's PostgreSQL (ignored for SQLite) before it
    #: fails with a 503: to open a connection, for one statement (enforced by the server),
    #: and for a free pooled connection. Keep them short: every registry query is small.
    registry_connect_timeout_s: float = Field(2.0, gt=0)
    registry_statement_timeout_s: float = Field(3.0, gt=0)
    registry_pool_timeout_s: float = Field(3.0, gt=0)
    #: Forecasts are remembered this long per set of fields (the forecast job runs daily);
    #: 0 reads InfluxDB on every request.
    forecast_cache_s: float = Field(60.0, ge=0)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    #: The largest request body accepted, in bytes; a larger one is refused with a 413 before
    #: it is read. The biggest body the API takes (a farm or a field) is well under 1 kB.
    max_body_bytes: int = Field(65_536, ge=1)
    #: How long /health waits for the broker to accept a TCP connection.
    probe_timeout_s: float = Field(2.0, gt=0)
    #: A device not heard from for this long is offline.
    offline_after_s: float = Field(3600.0, gt=0)
