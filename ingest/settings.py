"""Settings of the ingest worker, from ``ISANFARM_`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from isanfarm.contract import TOPIC_PREFIX
from isanfarm.settings import ENV_CONFIG, InfluxSettings, MqttSettings


class IngestSettings(BaseSettings):
    model_config = ENV_CONFIG

    mqtt: MqttSettings = MqttSettings()
    influx: InfluxSettings = InfluxSettings()
    #: Everything under the contract's prefix by default, so a message sent to a wrong topic
    #: is kept as a reject instead of vanishing unseen; narrow it to one farm with
    #: ``isanfarm/v1/<farm_id>/#``.
    topic_filter: str = f"{TOPIC_PREFIX}/#"
    #: Fixed so the broker keeps this worker's session (and its unacknowledged messages).
    client_id: str = "isanfarm-ingest"
    #: Write to InfluxDB once this many messages wait...
    batch_size: int = Field(500, ge=1)
    #: ...or once the oldest has waited this long.
    batch_max_age_s: float = Field(1.0, gt=0)
    #: Messages the broker may send before we acknowledge (MQTT 5 Receive Maximum): the bound
    #: on ingest's memory when InfluxDB is slow or down.
    max_in_flight: int = Field(2000, ge=1, le=65535)
    #: Readings stamped further ahead of the receive time than this, or older than
    #: ``max_age_days``, are quarantined instead of stored: a device clock gone wrong.
    #: Generous on the past side, because a gateway may upload days of backlog.
    max_future_s: float = Field(600.0, gt=0)
    max_age_days: float = Field(90.0, gt=0)
    #: Seconds between publications of the platform clock on isanfarm/v1/time, from which
    #: devices without a real-time clock learn whether theirs is wrong (0: never).
    time_beacon_s: float = Field(10.0, ge=0)
    #: Several workers with the same group share the stream (MQTT 5 shared subscription
    #: ``$share/<group>/<topic_filter>``): each message goes to one of them. Each worker still
    #: needs its own ``client_id`` and ``worker_name``.
    share_group: str | None = None
    #: Recompute hourly and daily rollups of windows that received data, this often.
    rollup_every_s: float = Field(30.0, ge=0)
    #: At start, windows of this many past hours count as touched (a crash may have lost the
    #: marks of the last batches).
    rollup_startup_lookback_h: float = Field(48.0, ge=0)
    #: Retention (``isanfarm ingest setup-db``, InfluxDB 1.x): raw data kept this long in the
    #: default policy ``raw``; rollups kept indefinitely in ``rollup_retention_policy``.
    raw_retention_days: float = Field(730.0, gt=0)
    rollup_retention_policy: str = "rollups"
    #: Serve Prometheus metrics on this port (0: off).
    metrics_port: int = Field(0, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    #: After each write, tell each device which of its readings are stored, on
    #: ``isanfarm/v1/<farm_id>/<device_id>/receipt`` (QoS 1; docs/receipts.md). Off only for
    #: a broker whose ACL does not let ingest publish there yet.
    receipts: bool = True
    #: Name recorded with every reject, to tell workers apart.
    worker_name: str = "ingest-1"
