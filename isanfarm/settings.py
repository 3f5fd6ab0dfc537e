"""Connection settings shared by the server-side components (ingest, API, demo).

Each component has one pydantic-settings class of its own (``ingest.settings``,
``api.settings``) that nests these, so ``ISANFARM_MQTT_HOST`` or ``ISANFARM_INFLUX_URL`` mean
the same thing to every component. Not imported by the edge agent: it has no pydantic.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import SettingsConfigDict

#: ``ISANFARM_MQTT_HOST`` -> mqtt.host; the split stops after the section name so that
#: ``ISANFARM_MQTT_CLIENT_ID`` lands in mqtt.client_id.
ENV_CONFIG = SettingsConfigDict(
    env_prefix="ISANFARM_",
    env_nested_delimiter="_",
    env_nested_max_split=1,
    extra="ignore",
)


class MqttSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    keepalive_s: int = Field(30, ge=5)


class InfluxSettings(BaseModel):
    """InfluxDB reached through its v1 HTTP API (/write, /query).

    That API is the one every InfluxDB generation serves: 1.x natively, 2.x and 3.x through
    their v1 compatibility endpoints (database mapped to a bucket, ``token`` sent as
    ``Authorization: Token ...``). Debian's InfluxDB 1.6 has no v2 API at all.
    """

    url: str = "http://127.0.0.1:8086"
    database: str = "isanfarm"
    token: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: float = Field(10.0, gt=0)
