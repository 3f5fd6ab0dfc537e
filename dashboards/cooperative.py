"""The cooperative dashboard: expected deliveries, harvest dates per field, current alerts.

Per field, the recommended harvest date is the forecast row the forecast job marked
(``storage.BEST_HARVEST``: the candidate of highest expected revenue). Weekly deliveries are
that row's tonnes (yield x area) grouped by harvest week, done by Grafana transformations
(``formatTime`` to an ISO week, then ``groupBy``): InfluxQL cannot group by a field's value.
The starch per week is a plain mean over fields, not weighted by tonnes.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.models.dashboard import (
    Dashboard,
    DynamicConfigValue,
)

from agronomy.thi import THI_ALERT, THI_DANGER, THI_EMERGENCY
from agronomy.units import RAI_PER_HA, THAI_TIMEZONE_NAME
from dashboards.common import (
    BARN_READINGS,
    BEST_HARVEST,
    FARM,
    ISSUED,
    SOIL,
    cooperative_variable,
    farm_variable,
    issued_variable,
    table_panel,
    thi_expression,
    thresholds,
    transformation,
    unit_override,
)
from dashboards.influxql import Target, datasource
from isanfarm import storage
from isanfarm.contract import Sensor

UID = "isanfarm-cooperative"
TELEMETRY = f'"{storage.TELEMETRY}"'
#: The "now" tables look this far back for each site's newest reading.
NOW_WINDOW = "1d"

#: Per field, the chosen run's recommended candidate (the forecast job's mark): its time is
#: the harvest date.
_BEST_HARVEST = (
    'SELECT "revenue_thb", "tonnes", "area_ha", '
    f'"yield_t_ha" / {RAI_PER_HA} AS "yield_t_rai", "starch_pct", "starch_pct_p10", '
    f'"starch_pct_p90" FROM "{storage.CASSAVA_FORECAST}" WHERE {FARM} AND {ISSUED} '
    f'AND {BEST_HARVEST} AND $timeFilter GROUP BY "farm", "field"'
)


def deliveries_panel() -> barchart.Panel:
    weekly = [
        transformation("formatTime", timeField="Time", outputFormat="GGGG-[W]WW", useTimezone=True),
        transformation(
            "groupBy",
            fields={
                "Time": {"operation": "groupby", "aggregations": []},
                "tonnes": {"operation": "aggregate", "aggregations": ["sum"]},
                "starch_pct": {"operation": "aggregate", "aggregations": ["mean"]},
            },
        ),
    ]
    panel = (
        barchart.Panel()
        .title("ผลผลิตที่จะส่งรายสัปดาห์ / Expected deliveries per week (t, starch %)")
        .description(
            "Per field, the recommended harvest date (highest expected revenue) of the chosen run; "
            "its tonnes summed per ISO week, starch the unweighted mean over fields. The weekly "
            "grouping is done by Grafana transformations (formatTime, groupBy)."
        )
        .datasource(datasource())
        .span(24)
        .height(9)
        .with_target(Target(_BEST_HARVEST, result_format="table"))
        .x_field("Time")
        .unit("none")
    )
    for step in weekly:
        panel = panel.with_transformation(step)
    return panel


def dashboard() -> Dashboard:
    builder = (
        dashboard_builders.Dashboard("สหกรณ์ / Cooperative")
        .uid(UID)
        .tags(["isanfarm", "cooperative"])
        .time("now-7d", "now+365d")
        .timezone(THAI_TIMEZONE_NAME)
        .refresh("15m")
        .readonly()
        .description("Deliveries, harvest dates and alerts across the cooperative's farms.")
        .with_variable(cooperative_variable())
        .with_variable(farm_variable(multi=True))
        .with_variable(issued_variable(FARM))
    )
    builder = (
        builder.with_panel(deliveries_panel())
        .with_panel(
            table_panel(
                "แปลงตามวันเก็บเกี่ยวที่แนะนำ / Fields by recommended harvest date",
                Target(_BEST_HARVEST, result_format="table"),
                span=24,
                height=9,
                description="Time is the recommended harvest date; area in ha.",
                transformations=[transformation("sortBy", sort=[{"field": "Time", "desc": False}])],
                overrides=[
                    ("revenue_thb", unit_override("currencyTHB")),
                    ("tonnes", unit_override("masst")),
                ],
            )
        )
        .with_panel(
            dashboard_builders.Panel()
            .type("alertlist")
            .title("การแจ้งเตือน / Alerts firing")
            .description(
                "Grafana's own alert rules (soil dry, heat stress, device silent, stale "
                "forecasts), grafana/provisioning/alerting."
            )
            .span(8)
            .height(9)
            .options(
                {
                    "viewMode": "list",
                    "groupMode": "default",
                    "maxItems": 20,
                    "sortOrder": 1,
                    "stateFilter": {"firing": True, "pending": True, "noData": True, "error": True},
                    "alertInstanceLabelFilter": "",
                    "dashboardAlerts": False,
                    "showInstances": True,
                }
            )
        )
        .with_panel(
            table_panel(
                "ความชื้นดินตอนนี้ / Soil moisture now, 30 cm (%VWC)",
                Target(
                    f'SELECT last("{Sensor.SOIL_MOISTURE_30CM}") AS "soil_30cm" FROM {TELEMETRY} '
                    f'WHERE {FARM} AND $timeFilter GROUP BY "farm", "site"',
                    result_format="table",
                ),
                span=8,
                height=9,
                overrides=[
                    (
                        "soil_30cm",
                        [
                            *unit_override("percent"),
                            _coloured_cells(),
                            _thresholds_property(
                                "red",
                                (SOIL.dry_below, "orange"),
                                (SOIL.adequate_from, "green"),
                                (SOIL.wet_above, "blue"),
                            ),
                        ],
                    )
                ],
            ).time_from(NOW_WINDOW)
        )
        .with_panel(
            table_panel(
                "ความเครียดจากความร้อนตอนนี้ / Heat stress now by barn (THI)",
                Target(
                    f'SELECT last("thi") AS "THI" FROM (SELECT {thi_expression()} AS "thi" '
                    f"FROM {TELEMETRY} WHERE {FARM} AND {BARN_READINGS} AND $timeFilter "
                    'GROUP BY "farm", "site") '
                    'GROUP BY "farm", "site"',
                    result_format="table",
                ),
                span=8,
                height=9,
                overrides=[
                    (
                        "THI",
                        [
                            _coloured_cells(),
                            _thresholds_property(
                                "green",
                                (THI_ALERT, "yellow"),
                                (THI_DANGER, "orange"),
                                (THI_EMERGENCY, "red"),
                            ),
                        ],
                    )
                ],
            ).time_from(NOW_WINDOW)
        )
        .with_panel(
            table_panel(
                "ข้อความที่ถูกปฏิเสธ / Rejected messages by rule",
                Target(
                    f'SELECT count("payload_bytes") AS "rejects" FROM "{storage.INGEST_REJECTS}" '
                    'WHERE $timeFilter GROUP BY "rule"',
                    result_format="table",
                ),
                span=24,
                height=6,
                description="Platform-wide: a rejected message has no trusted farm.",
            ).time_from("7d")
        )
    )
    return builder.build()


def _coloured_cells() -> DynamicConfigValue:
    return DynamicConfigValue(
        id_val="custom.cellOptions", value={"type": "color-background", "mode": "basic"}
    )


def _thresholds_property(base: str, *levels: tuple[float, str]) -> DynamicConfigValue:
    return DynamicConfigValue(id_val="thresholds", value=thresholds(base, *levels).build())
