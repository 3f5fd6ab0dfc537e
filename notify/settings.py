"""Settings of ``isanfarm notify``, from ``ISANFARM_`` environment variables.

Secrets (the LINE channel's access token and secret, the SMTP password) come from the
environment or a secrets file outside git, never from a committed file.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings

from isanfarm.settings import ENV_CONFIG


class LineSettings(BaseModel):
    """The LINE Official Account's Messaging API channel (``ISANFARM_LINE_...``)."""

    #: Long-lived channel access token (LINE Developers console, Messaging API tab).
    channel_access_token: SecretStr | None = None
    #: Channel secret: the key of the ``x-line-signature`` HMAC on LINE's webhooks.
    channel_secret: SecretStr | None = None
    #: Where the push endpoint lives; a local stand-in in tests and the demo.
    api_base_url: str = "https://api.line.me"


class SmtpSettings(BaseModel):
    """The e-mail fallback (``ISANFARM_SMTP_...``); off while ``host`` is unset."""

    host: str | None = None
    port: int = Field(587, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = True
    sender: str = "isanfarm@localhost"


class NotifySettings(BaseSettings):
    model_config = ENV_CONFIG

    line: LineSettings = LineSettings()
    smtp: SmtpSettings = SmtpSettings()
    #: The registry: subscriptions, LINE links and the alert engine's alerts.
    database_url: str = "sqlite:///state/isanfarm.sqlite3"
    #: The durable notification outbox (SQLite): what is accepted survives a restart.
    outbox_path: Path = Path("state/notify-outbox.sqlite3")
    #: The service's HTTP listener: LINE's webhook and Grafana's webhook contact point.
    #: ``ISANFARM_NOTIFY_HOST``/``_PORT``, not ``ISANFARM_HOST``/``_PORT``: those are the API's,
    #: and both services may read one environment.
    notify_host: str = "127.0.0.1"
    notify_port: int = Field(8090, ge=1, le=65535)
    #: How often the registry's alert list is read for new and cleared alerts.
    poll_interval_s: float = Field(10.0, gt=0)
    #: If set, Grafana's webhook contact point must send ``Authorization: Bearer <token>``
    #: (``ISANFARM_GRAFANA_WEBHOOK_TOKEN``; the same value in Grafana's environment).
    grafana_webhook_token: SecretStr | None = None
