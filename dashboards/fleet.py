"""The fleet dashboard: is every device alive, charged, caught up and on time?

Reads ``device_status`` (heartbeats and Last Wills, stored at receive time), ``telemetry``
(battery, receive times), ``telemetry_quarantine`` (untrusted clocks) and ``ingest_rejects``.

Ingest lag: InfluxQL cannot subtract a point's time from a field, so the "receive lag" panel
takes ``received_ms`` per reading and Grafana's ``calculateField`` transformation subtracts the
reading's time. Ingest's own lag histogram is a Prometheus metric (docs/ingest.md), not in
InfluxDB. The upload lag (oldest reading still on the device) comes from the heartbeat.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import statetimeline
from grafana_foundation_sdk.models.dashboard import Dashboard, ValueMap, ValueMappingResult

from agronomy.units import THAI_TIMEZONE_NAME
from dashboards.common import (
    DEVICE,
    FARM,
    bar_panel,
    cooperative_variable,
    farm_variable,
    line_panel,
    table_panel,
    tag_variable,
    transformation,
    unit_override,
)
from dashboards.influxql import Target, datasource
from isanfarm import storage
from isanfarm.contract import Sensor

UID = "isanfarm-fleet"
STATUS = f'"{storage.DEVICE_STATUS}"'
TELEMETRY = f'"{storage.TELEMETRY}"'
WHERE = f"{FARM} AND {DEVICE} AND $timeFilter"


def _state_timeline() -> statetimeline.Panel:
    colours = {
        "online": ValueMappingResult(text="ออนไลน์ / online", color="green", index=0),
        "offline": ValueMappingResult(text="ออฟไลน์ / offline", color="red", index=1),
    }
    return (
        statetimeline.Panel()
        .title("ออนไลน์/ออฟไลน์ / Online and offline")
        .description("Retained status: online heartbeats, offline from the Last Will.")
        .datasource(datasource())
        .span(24)
        .height(8)
        .with_target(
            Target(
                f'SELECT last("state") FROM {STATUS} WHERE {WHERE} '
                'GROUP BY time($__interval), "device" fill(previous)',
                alias="$tag_device",
            )
        )
        .mappings([ValueMap(options=colours)])
    )


def dashboard() -> Dashboard:
    device = tag_variable(
        "device",
        "อุปกรณ์ / Device",
        "device",
        FARM,
        measurement=storage.DEVICE_STATUS,
        include_all=True,
        multi=True,
    )
    builder = (
        dashboard_builders.Dashboard("อุปกรณ์ภาคสนาม / Device fleet")
        .uid(UID)
        .tags(["isanfarm", "fleet"])
        .time("now-24h", "now")
        .timezone(THAI_TIMEZONE_NAME)
        .refresh("1m")
        .readonly()
        .description("Device health, last seen, battery, backlog, clocks and ingest rejects.")
        .with_variable(cooperative_variable())
        .with_variable(farm_variable(multi=True))
        .with_variable(device)
    )
    builder = (
        builder.with_panel(
            table_panel(
                "อุปกรณ์และเวลาที่เห็นล่าสุด / Devices, last seen",
                Target(
                    'SELECT last("state") AS "state", "outbox_depth", "oldest_unsent_age_s", '
                    '"clock_suspect", "dropped", "driver_errors", "uptime_s" '
                    f'FROM {STATUS} WHERE {WHERE} GROUP BY "farm", "device"',
                    result_format="table",
                ),
                span=24,
                height=8,
                description="Time is the last status message received (heartbeat every minute).",
                overrides=[
                    ("Time", unit_override("dateTimeFromNow")),
                    ("oldest_unsent_age_s", unit_override("s")),
                    ("uptime_s", unit_override("s")),
                ],
            )
        )
        .with_panel(_state_timeline())
        .with_panel(
            line_panel(
                "แบตเตอรี่ / Battery voltage (V)",
                [
                    Target(
                        f'SELECT mean("{Sensor.BATTERY_VOLTAGE}") FROM {TELEMETRY} WHERE {WHERE} '
                        'GROUP BY time($__interval), "device" fill(none)',
                        alias="$tag_device",
                    )
                ],
                "volt",
            )
        )
        .with_panel(
            line_panel(
                "ข้อมูลค้างส่งในเครื่อง / Outbox depth (readings not yet delivered)",
                [
                    Target(
                        f'SELECT max("outbox_depth") FROM {STATUS} WHERE {WHERE} '
                        'GROUP BY time($__interval), "device" fill(none)',
                        alias="$tag_device",
                    )
                ],
                "none",
            )
        )
        .with_panel(
            line_panel(
                "ความล่าช้าการส่ง / Upload lag: oldest unsent reading (s)",
                [
                    Target(
                        f'SELECT max("oldest_unsent_age_s") FROM {STATUS} WHERE {WHERE} '
                        'GROUP BY time($__interval), "device" fill(none)',
                        alias="$tag_device",
                    )
                ],
                "s",
            )
        )
        .with_panel(
            line_panel(
                "ความล่าช้ารับข้อมูล / Receive lag: received - device time (ms)",
                [
                    Target(
                        f'SELECT "received_ms" FROM {TELEMETRY} WHERE {WHERE} '
                        'AND "animal" = \'\' GROUP BY "device"',
                        alias="$tag_device",
                    )
                ],
                "ms",
                description="Per reading; large after an outage while the backlog drains. "
                "Computed by a Grafana transformation (received_ms - Time).",
            ).with_transformation(
                transformation(
                    "calculateField",
                    mode="binary",
                    alias="lag",
                    binary={"left": "received_ms", "operator": "-", "right": "Time"},
                    replaceFields=True,
                )
            )
        )
        .with_panel(
            bar_panel(
                "นาฬิกาผิด / Clock health: quarantined readings by reason",
                [
                    Target(
                        f'SELECT count("device_ts") FROM "{storage.QUARANTINE}" WHERE {WHERE} '
                        'GROUP BY time($__interval), "reason" fill(none)',
                        alias="$tag_reason",
                    )
                ],
                "none",
                description="Readings whose device clock was not trusted (docs/contract.md).",
            )
        )
        .with_panel(
            bar_panel(
                "ข้อความที่ถูกปฏิเสธ / Ingest rejects by rule",
                [
                    Target(
                        f'SELECT count("payload_bytes") FROM "{storage.INGEST_REJECTS}" '
                        'WHERE $timeFilter GROUP BY time($__interval), "rule" fill(none)',
                        alias="$tag_rule",
                    )
                ],
                "none",
                span=24,
                description="Platform-wide (a rejected message has no trusted farm); "
                "`isanfarm ingest deadletters` shows them.",
            )
        )
    )
    return builder.build()
