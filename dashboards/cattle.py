"""The cattle barn dashboard: heat stress, climate, water, weights and days to market.

THI is computed in InfluxQL from ``air_temperature`` and ``relative_humidity`` per reading (a
subquery), then averaged. Water use is the cumulative meter's max minus min per Thai day, from
the daily rollups. Days to market reads ``cattle_forecast`` (forecasts issue); its tag ``herd``
is taken to be the barn's site id.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.models.dashboard import Dashboard

from agronomy.thi import THI_ALERT, THI_DANGER, THI_EMERGENCY, thi_formula
from agronomy.units import THAI_TIMEZONE_NAME
from dashboards.common import (
    BY_INTERVAL,
    DAILY,
    FARM,
    HERE,
    SITE,
    THAI_DAY,
    banded,
    bar_panel,
    line_panel,
    standard_variables,
    stat_panel,
    table_panel,
    tag_variable,
    thi_query,
    thresholds,
    unit_override,
)
from dashboards.influxql import Target
from isanfarm import storage
from isanfarm.contract import Sensor
from isanfarm.storage import rollup_field

UID = "isanfarm-cattle-barn"
TELEMETRY = f'"{storage.TELEMETRY}"'
FORECAST = f'"{storage.CATTLE_FORECAST}"'
#: The water meter's daily rollup: a day's use is its max - min.
WATER_MAX = rollup_field(Sensor.WATER_METER, "max")
WATER_MIN = rollup_field(Sensor.WATER_METER, "min")


def thi_bands() -> dashboard_builders.ThresholdsConfig:
    return thresholds(
        "green", (THI_ALERT, "yellow"), (THI_DANGER, "orange"), (THI_EMERGENCY, "red")
    )


def dashboard() -> Dashboard:
    builder = (
        dashboard_builders.Dashboard("คอกวัว / Cattle barn")
        .uid(UID)
        .tags(["isanfarm", "cattle"])
        .time("now-7d", "now")
        .timezone(THAI_TIMEZONE_NAME)
        .refresh("5m")
        .readonly()
        .description("Heat stress, water and weights for one Wagyu barn.")
    )
    for variable in standard_variables("คอก / Barn"):
        builder = builder.with_variable(variable)
    builder = builder.with_variable(
        tag_variable(
            "animal",
            "วัว / Animal",
            "animal",
            f"{FARM} AND {SITE}",
            include_all=True,
            multi=True,
        )
    )
    bands = (
        f"THI < {THI_ALERT:g} normal, {THI_ALERT:g}-{THI_DANGER - 1:g} alert, "
        f"{THI_DANGER:g}-{THI_EMERGENCY - 1:g} danger, ≥ {THI_EMERGENCY:g} emergency "
        "(Livestock Weather Safety Index)."
    )
    builder = (
        builder.with_panel(
            stat_panel(
                "ดัชนีความเครียดจากความร้อนตอนนี้ / THI now",
                Target(thi_query("time($__interval) fill(none)")),
                "none",
                thi_bands(),
                description=bands,
            )
        )
        .with_panel(
            stat_panel(
                "อุณหภูมิตอนนี้ / Temperature now",
                Target(
                    f'SELECT last("{Sensor.AIR_TEMPERATURE}") FROM {TELEMETRY} '
                    f"WHERE {FARM} AND {SITE} AND $timeFilter"
                ),
                "celsius",
                thresholds("text"),
            )
        )
        .with_panel(
            stat_panel(
                "น้ำวันนี้ / Water today (L)",
                Target(
                    'SELECT last("use") FROM '
                    f'(SELECT "{WATER_MAX}" - "{WATER_MIN}" AS "use" '
                    f"FROM {DAILY} WHERE {FARM} AND {SITE} AND $timeFilter)"
                ),
                "litre",
                thresholds("text"),
            )
        )
        .with_panel(
            stat_panel(
                "วันถึงน้ำหนักขาย (เร็วสุด) / Days to market, soonest animal",
                Target(
                    'SELECT min("days") FROM (SELECT last("days_to_target") AS "days" '
                    f'FROM {FORECAST} WHERE "farm" =~ /^$farm$/ AND "herd" =~ /^$site$/ '
                    'AND $timeFilter GROUP BY "animal")'
                ),
                "d",
                thresholds("text"),
            )
        )
        .with_panel(
            banded(
                line_panel(
                    "ดัชนีความเครียดจากความร้อน / Temperature-humidity index (THI)",
                    [
                        Target(
                            thi_query('time($__interval), "site" fill(none)'), alias="THI $tag_site"
                        )
                    ],
                    "none",
                    span=24,
                    description=f"{bands} THI = {thi_formula('T', 'RH')}.",
                ),
                thi_bands(),
            )
        )
        .with_panel(
            line_panel(
                "อุณหภูมิ / Air temperature (°C)",
                [
                    Target(
                        f'SELECT mean("{Sensor.AIR_TEMPERATURE}") AS "air" FROM {TELEMETRY} '
                        f"{HERE} {BY_INTERVAL}"
                    )
                ],
                "celsius",
            )
        )
        .with_panel(
            line_panel(
                "ความชื้นสัมพัทธ์ / Relative humidity (%)",
                [
                    Target(
                        f'SELECT mean("{Sensor.RELATIVE_HUMIDITY}") AS "RH" FROM {TELEMETRY} '
                        f"{HERE} {BY_INTERVAL}"
                    )
                ],
                "percent",
            )
        )
        .with_panel(
            bar_panel(
                "การใช้น้ำรายวัน / Water use per day (L)",
                [
                    Target(
                        f'SELECT sum("use") AS "water" FROM (SELECT "{WATER_MAX}" - '
                        f'"{WATER_MIN}" AS "use" FROM {DAILY} WHERE {FARM} AND {SITE} '
                        f"AND $timeFilter) WHERE $timeFilter GROUP BY time({THAI_DAY}) fill(none)"
                    )
                ],
                "litre",
                description="Cumulative water meter: max - min per Thai day (daily rollups).",
            )
        )
        .with_panel(
            line_panel(
                "น้ำหนักวัว / Animal weights, daily median of scale passes (kg)",
                [
                    Target(
                        f'SELECT median("{Sensor.ANIMAL_WEIGHT}") FROM {TELEMETRY} '
                        f"WHERE {FARM} AND {SITE} "
                        'AND "animal" =~ /^$animal$/ AND $timeFilter '
                        f'GROUP BY time({THAI_DAY}), "animal" fill(none)',
                        alias="$tag_animal",
                    )
                ],
                "masskg",
                description="The median of a day's walk-over passes rejects partial and double "
                "weighings.",
            )
        )
        .with_panel(
            table_panel(
                "วันถึงน้ำหนักขาย / Days to market by animal",
                Target(
                    'SELECT last("days_to_target") AS "days_to_target", "days_to_target_p10", '
                    '"days_to_target_p90", "weight_kg", "target_weight_kg", "daily_gain_kg", '
                    f'"market_date_ms" FROM {FORECAST} WHERE "farm" =~ /^$farm$/ '
                    'AND "herd" =~ /^$site$/ AND "animal" =~ /^$animal$/ AND $timeFilter '
                    'GROUP BY "animal"',
                    result_format="table",
                ),
                span=24,
                description="Latest forecast per animal, with its 10-90 % interval.",
                overrides=[("market_date_ms", unit_override("dateTimeAsIsoNoDateIfToday"))],
            )
        )
    )
    return builder.build()
