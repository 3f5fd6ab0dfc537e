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
    #: Seconds for the connection and each command; a server slower than that is retried later.
    timeout_s: float = Field(30.0, gt=0)


class DeliverySettings(BaseModel):
    """How the deliverer retries, gives up and saves LINE's monthly quota
    (``ISANFARM_DELIVERY_...``)."""

    #: First retry after about this long; each further one waits twice as long, up to the cap.
    backoff_base_s: float = Field(1.0, gt=0)
    #: The longest wait between two attempts: also how late a message may arrive after LINE
    #: or the mail server comes back from an outage nobody told us the end of.
    backoff_max_s: float = Field(60.0, gt=0)
    #: While a channel fails, its oldest waiting notification is tried at least this often
    #: (one request), so the end of an outage is seen within this long, not within the
    #: backoff cap.
    probe_interval_s: float = Field(2.0, gt=0)
    #: A notification still undelivered this long after it was accepted goes to the dead
    #: letters with its last error: a day-old alert is news to nobody.
    give_up_after_s: float = Field(86_400.0, gt=0)
    #: Notifications to different people sent at once (one person's go one after another).
    concurrency: int = Field(4, ge=1)
    #: Seconds for one request to LINE's API (connect, send, answer).
    request_timeout_s: float = Field(10.0, gt=0)
    #: The Official Account's monthly message allowance, for when LINE's quota endpoint cannot
    #: be read (it is read every ``quota_refresh_s`` and wins when it answers). None: unknown.
    monthly_quota: int | None = Field(None, ge=0)
    quota_refresh_s: float = Field(600.0, gt=0)
    #: Digest mode below this many messages left this month: warnings to one person wait up
    #: to ``digest_window_s`` and go as one message listing their titles; critical ones never.
    digest_below: int = Field(50, ge=0)
    digest_window_s: float = Field(900.0, ge=0)


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
    delivery: DeliverySettings = DeliverySettings()
