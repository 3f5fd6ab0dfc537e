"""Settings of the API server, from ``ISANFARM_`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from isanfarm.settings import ENV_CONFIG, InfluxSettings, MqttSettings


class ApiSettings(BaseSettings):
    model_config = ENV_CONFIG

    mqtt: MqttSettings = MqttSettings()
    influx: InfluxSettings = InfluxSettings()
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    #: How long /health waits for the broker to accept a TCP connection.
    probe_timeout_s: float = Field(2.0, gt=0)
