"""The cassava field dashboard: what a grower looks at for one field.

Soil water at three depths against dry/wet bands, rain per Thai day, temperatures, radiation,
and the yield and starch forecasts with their 10-90 % intervals. Forecast panels read
``cassava_forecast`` (isanfarm.storage), written by the forecast job (forecasts issue); its tag
``field`` holds the field's site id.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import Dashboard

from agronomy.units import RAI_PER_HA, THAI_TIMEZONE_NAME
from dashboards.common import (
    BEST_HARVEST,
    BY_INTERVAL,
    DAILY,
    FARM,
    HERE,
    ISSUED,
    SITE,
    SOIL,
    THAI_DAY,
    banded,
    bar_panel,
    issued_variable,
    line_panel,
    standard_variables,
    stat_panel,
    table_panel,
    thresholds,
    unit_override,
)
from dashboards.influxql import Target
from isanfarm import storage
from isanfarm.contract import Sensor
from isanfarm.storage import rollup_field
from models.daily import MJ_PER_W_M2_DAY

UID = "isanfarm-cassava-field"
TELEMETRY = f'"{storage.TELEMETRY}"'
FORECAST = f'"{storage.CASSAVA_FORECAST}"'
HARVEST = f'"{storage.CASSAVA_HARVEST}"'
FIELD_FILTER = f'{FARM} AND "field" =~ /^$site$/'
RAIN_SUM = rollup_field(Sensor.RAIN, "sum")
RADIATION_MEAN = rollup_field(Sensor.SOLAR_RADIATION, "mean")


def soil_bands() -> dashboard_builders.ThresholdsConfig:
    return thresholds(
        "red", (SOIL.dry_below, "orange"), (SOIL.adequate_from, "green"), (SOIL.wet_above, "blue")
    )


def _best_harvest(columns: str) -> str:
    """The chosen run's recommended candidate (the forecast job's mark): its time is the
    harvest date."""
    return f"SELECT {columns} FROM ({_forecast_rows(BEST_HARVEST)})"


def _from_rows(columns: str) -> str:
    return f"SELECT {columns} FROM ({_forecast_rows()})"


def _forecast_rows(only: str = "") -> str:
    """The chosen run's forecast for the field, one row per candidate harvest date, in t/rai;
    with ``only``, the candidates that meet that condition too."""
    per_rai = ", ".join(
        f'"yield_t_ha{suffix}" / {RAI_PER_HA} AS "yield_t_rai{suffix}"'
        for suffix in ("", "_p10", "_p90")
    )
    starch = '"starch_pct", "starch_pct_p10", "starch_pct_p90"'
    return (
        f'SELECT "revenue_thb", "tonnes", "horizon_days", {per_rai}, {starch} FROM {FORECAST} '
        f"WHERE {FIELD_FILTER} AND {ISSUED} AND $timeFilter{f' AND {only}' if only else ''}"
    )


def _only(field: str) -> common_builders.ReduceDataOptions:
    """A stat shows this field only (a query also returns the row's time)."""
    return (
        common_builders.ReduceDataOptions()
        .calcs(["lastNotNull"])
        .values(False)
        .fields(f"/^{field}$/")
    )


def dashboard() -> Dashboard:
    builder = (
        dashboard_builders.Dashboard("ไร่มันสำปะหลัง / Cassava field")
        .uid(UID)
        .tags(["isanfarm", "cassava"])
        .time("now-30d", "now+300d")
        .timezone(THAI_TIMEZONE_NAME)
        .refresh("5m")
        .readonly()
        .description(
            "Soil water, weather and forecasts for one cassava field. The time range runs into the "
            "future because forecasts are plotted at their candidate harvest dates; zoom to the "
            "past for sensor detail."
        )
    )
    for variable in standard_variables("แปลง / Field"):
        builder = builder.with_variable(variable)
    builder = builder.with_variable(issued_variable(FIELD_FILTER))
    builder = (
        builder.with_panel(
            stat_panel(
                "ความชื้นดินตอนนี้ 30 ซม. / Soil moisture now, 30 cm",
                Target(
                    f'SELECT last("{Sensor.SOIL_MOISTURE_30CM}") FROM {TELEMETRY} '
                    f"WHERE {FARM} AND {SITE} AND $timeFilter"
                ),
                "percent",
                soil_bands(),
                span=5,
            )
        )
        .with_panel(
            stat_panel(
                "ฝนรวมในช่วงนี้ / Rain in the period",
                Target(
                    f'SELECT sum("{RAIN_SUM}") FROM {DAILY} WHERE {FARM} AND {SITE} AND $timeFilter'
                ),
                "lengthmm",
                thresholds("text"),
                span=5,
            )
        )
        .with_panel(
            stat_panel(
                "ผลผลิตคาดการณ์ / Yield forecast (t/rai)",
                Target(_best_harvest('"yield_t_rai"')),
                "none",
                thresholds("text"),
                span=5,
                description="The chosen run, at the harvest date of highest expected revenue.",
            ).reduce_options(_only("yield_t_rai"))
        )
        .with_panel(
            stat_panel(
                "วันเก็บเกี่ยวที่ดีที่สุด / Best harvest date",
                Target(_best_harvest('"tonnes"')),
                "dateTimeAsLocalNoDateIfToday",
                thresholds("text"),
                span=5,
                description="The forecast job's recommendation: the candidate of highest "
                "expected revenue under the factory price rule.",
            ).reduce_options(_only("Time"))
        )
        .with_panel(
            stat_panel(
                "แป้งคาดการณ์ / Starch forecast (%)",
                Target(_best_harvest('"starch_pct"')),
                "percent",
                thresholds("red", (20.0, "orange"), (25.0, "green")),
                span=4,
                description="At the best harvest date; 25 % is the factories' price baseline.",
            ).reduce_options(_only("starch_pct"))
        )
        .with_panel(
            banded(
                line_panel(
                    "ความชื้นดิน 3 ระดับ / Soil moisture at 10, 30, 60 cm (%VWC)",
                    [
                        Target(
                            f'SELECT mean("{Sensor.SOIL_MOISTURE_10CM}") AS "10 cm", '
                            f'mean("{Sensor.SOIL_MOISTURE_30CM}") AS "30 cm", '
                            f'mean("{Sensor.SOIL_MOISTURE_60CM}") AS "60 cm" '
                            f"FROM {TELEMETRY} {HERE} {BY_INTERVAL}"
                        )
                    ],
                    "percent",
                    span=24,
                    description=(
                        f"Bands for loamy sand: red dry (< {SOIL.dry_below:g} %, wilting point), "
                        "orange stressed, green adequate "
                        f"({SOIL.adequate_from:g}-{SOIL.wet_above:g} %), "
                        "blue wet (above field capacity)."
                    ),
                ),
                soil_bands(),
            )
        )
        .with_panel(
            bar_panel(
                "ฝนรายวัน / Rain per day (mm)",
                [
                    Target(
                        f'SELECT sum("{RAIN_SUM}") AS "rain" FROM {DAILY} '
                        f"WHERE {FARM} AND {SITE} AND $timeFilter GROUP BY time({THAI_DAY}) fill(0)"
                    )
                ],
                "lengthmm",
                description="Thai days (from local midnight), from the daily rollups.",
            )
        )
        .with_panel(
            line_panel(
                "อุณหภูมิอากาศและดิน / Air and soil temperature (°C)",
                [
                    Target(
                        f'SELECT mean("{Sensor.AIR_TEMPERATURE}") AS "air", '
                        f'mean("{Sensor.SOIL_TEMPERATURE}") AS "soil" '
                        f"FROM {TELEMETRY} {HERE} {BY_INTERVAL}"
                    )
                ],
                "celsius",
            )
        )
        .with_panel(
            bar_panel(
                "รังสีดวงอาทิตย์ / Solar radiation per day (MJ/m²)",
                [
                    Target(
                        f'SELECT mean("{RADIATION_MEAN}") * {MJ_PER_W_M2_DAY} AS "radiation" '
                        f"FROM {DAILY} WHERE {FARM} AND {SITE} AND $timeFilter "
                        f"GROUP BY time({THAI_DAY}) fill(none)"
                    )
                ],
                "none",
                description="Daily mean irradiance (W/m²) times 86,400 s: MJ/m² per day "
                "(Korat: 15-22).",
            )
        )
        .with_panel(
            line_panel(
                "ความชื้นอากาศ / Relative humidity (%)",
                [
                    Target(
                        f'SELECT mean("{Sensor.RELATIVE_HUMIDITY}") AS "RH" FROM '
                        f"{TELEMETRY} WHERE {FARM} AND {SITE} AND $timeFilter "
                        "GROUP BY time($__interval) fill(none)"
                    )
                ],
                "percent",
            )
        )
        .with_panel(
            line_panel(
                "ผลผลิตคาดการณ์ตามวันเก็บเกี่ยว / Yield forecast by harvest date, 10-90 % (t/rai)",
                [Target(_from_rows('"yield_t_rai_p10", "yield_t_rai", "yield_t_rai_p90"'))],
                "none",
                description="The chosen forecast run ($issued): expected fresh-root yield if "
                "harvested on each candidate date, with its 10-90 % interval.",
            )
            .fill_below_to("yield_t_rai_p10")
            .show_points(common.VisibilityMode.ALWAYS)
        )
        .with_panel(
            line_panel(
                "แป้งคาดการณ์ตามวันเก็บเกี่ยว / Starch forecast by harvest date, 10-90 % (%)",
                [Target(_from_rows('"starch_pct_p10", "starch_pct", "starch_pct_p90"'))],
                "percent",
                description="25 % is the factories' price baseline.",
            ).show_points(common.VisibilityMode.ALWAYS)
        )
        .with_panel(
            table_panel(
                "คาดการณ์ตามวันเก็บเกี่ยว / Forecast by harvest date",
                Target(_forecast_rows(), result_format="table"),
                span=24,
                description="The chosen run, one row per candidate harvest date (Time).",
                overrides=[("revenue_thb", unit_override("currencyTHB"))],
            )
        )
        .with_panel(
            line_panel(
                "คาดการณ์แต่ละรอบเทียบผลจริง / Forecast runs vs actual (t/rai)",
                [
                    Target(
                        f'SELECT mean("yield_t_ha") / {RAI_PER_HA} FROM {FORECAST} '
                        f"WHERE {FIELD_FILTER} AND $timeFilter "
                        'GROUP BY time(1d), "issued" fill(none)',
                        alias="$tag_issued",
                    ),
                    Target(
                        f'SELECT "yield_t_ha" / {RAI_PER_HA} FROM {HARVEST} '
                        f"WHERE {FIELD_FILTER} AND $timeFilter",
                        alias="actual / ผลจริง",
                    ),
                ],
                "none",
                span=24,
                description=(
                    "Every forecast run's yield by harvest date, so runs can be compared as the "
                    "harvest nears, and the actual harvest where the cooperative's records "
                    "have been imported (`isanfarm forecast --harvests`)."
                ),
            ).show_points(common.VisibilityMode.ALWAYS)
        )
    )
    return builder.build()
