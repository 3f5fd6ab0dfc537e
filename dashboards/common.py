"""What every isanfarm dashboard shares: template variables, bands, and panel shorthands.

Titles are bilingual, Thai first ("ความชื้นดิน / Soil moisture"): one dashboard serves the
farmer and the cooperative's staff, and Grafana has no per-user translation of titles.

Template variables. ``farm``, ``site`` (a field or a barn) and ``device`` are InfluxDB tags and
are listed with ``SHOW TAG VALUES``. ``cooperative`` is a custom variable whose value is a regex
over farm ids, which the farm variable filters on. Cooperatives live in the API's registry, not
in InfluxDB, so the committed dashboards offer only "all farms" (``.*``);
``isanfarm grafana push --registry URL`` adds one entry per cooperative
(``dashboards.cooperatives``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DataTransformerConfig,
    DynamicConfigValue,
    Threshold,
    ThresholdsMode,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from agronomy.soil import SOILS
from agronomy.soilwater import COMMONEST_SOIL, dry_below_pct
from agronomy.thi import thi_formula
from agronomy.units import THAI_UTC_OFFSET_HOURS
from dashboards.cooperatives import (
    ALL_FARMS_REGEX,
    ALL_FARMS_TEXT,
    custom_query,
    options,
)
from dashboards.cooperatives import (
    VARIABLE as COOPERATIVE,
)
from dashboards.influxql import Target, datasource
from isanfarm import storage
from isanfarm.contract import Sensor

#: One Thai day (UTC+7) in InfluxQL, as the daily rollups are windowed: ``GROUP BY time(1d, -7h)``.
THAI_DAY = f"1d, -{THAI_UTC_OFFSET_HOURS}h"
#: The daily and hourly rollups, qualified with their retention policy.
DAILY = f'"{storage.ROLLUP_POLICY}"."{storage.TELEMETRY_DAILY}"'
HOURLY = f'"{storage.ROLLUP_POLICY}"."{storage.TELEMETRY_HOURLY}"'

# Filters used by every farm-level query.
FARM = '"farm" =~ /^$farm$/'
SITE = '"site" =~ /^$site$/'
DEVICE = '"device" =~ /^$device$/'
#: The chosen farm and site in the dashboard's time range; and per-interval grouping.
HERE = f"WHERE {FARM} AND {SITE} AND $timeFilter"
BY_INTERVAL = "GROUP BY time($__interval) fill(none)"


@dataclass(frozen=True, slots=True)
class SoilBands:
    """Volumetric water (%VWC) bands for the soil-moisture panel and the dry-soil alert.

    An InfluxQL query cannot know a field's soil (it is in the registry, not in InfluxDB), so
    the bands are one soil's: the commonest upland soil around Korat,
    ``agronomy.soilwater.COMMONEST_SOIL`` (loamy sand). Dry is that soil's threshold from
    ``agronomy.soilwater``, the one the API's soil-dry alert applies per field; stressed up to
    the lower field capacity of DOMAIN.md's range (12-18 %); wet above its upper end (drainage,
    waterlogging risk). A sandy-loam field (FC 20-30, WP 8-14) is drawn against loamy-sand
    bands until per-field soil reaches the dashboards."""

    dry_below: float = dry_below_pct(SOILS[COMMONEST_SOIL])
    adequate_from: float = 12.0
    wet_above: float = 18.0


SOIL = SoilBands()


def thi_expression(
    temperature: str = f'"{Sensor.AIR_TEMPERATURE}"',
    humidity: str = f'"{Sensor.RELATIVE_HUMIDITY}"',
) -> str:
    """THI per reading in InfluxQL, written out from ``agronomy.thi`` (InfluxQL has no
    functions of our own, so the formula is spelled with the one definition's coefficients)."""
    return thi_formula(temperature, humidity)


#: Barn climate readings are the ones that carry the water meter: a field-level filter that
#: keeps cassava-field weather out of heat-stress views and alerts until the registry says
#: which site is a barn. A barn without a water meter is missed by it.
BARN_READINGS = f'"{Sensor.WATER_METER}" >= 0'


def thi_query(group_by: str) -> str:
    """THI per reading in a subquery (the index is not linear, so it is computed before any
    averaging), then aggregated by ``group_by``."""
    return (
        f'SELECT mean("thi") AS "THI" FROM (SELECT {thi_expression()} AS "thi" '
        f'FROM "{storage.TELEMETRY}" WHERE {FARM} AND {SITE} AND $timeFilter '
        'GROUP BY "farm", "site") '
        f"WHERE $timeFilter GROUP BY {group_by}"
    )


#: Override properties that keep a field out of a panel's drawing and legend (a helper column
#: a query returns beside the one shown).
HIDDEN = [
    DynamicConfigValue(
        id_val="custom.hideFrom", value={"legend": True, "tooltip": False, "viz": True}
    )
]


# --- template variables -------------------------------------------------------------------


def cooperative_variable() -> dashboard_builders.CustomVariable:
    everyone = VariableOption(selected=True, text=ALL_FARMS_TEXT, value=ALL_FARMS_REGEX)
    return (
        dashboard_builders.CustomVariable(COOPERATIVE)
        .label("สหกรณ์ / Cooperative")
        .description(
            "A regex over farm ids: all farms, or one cooperative's members. "
            "'isanfarm grafana push --registry URL' lists the registry's cooperatives here "
            "(docs/grafana.md)."
        )
        .values(custom_query(options([])))
        .current(everyone)
        .options([everyone])
    )


def tag_variable(
    name: str,
    label: str,
    key: str,
    where: str,
    measurement: str = storage.TELEMETRY,
    include_all: bool = False,
    multi: bool = False,
    sort: VariableSort = VariableSort.NATURAL_ASC,
) -> dashboard_builders.QueryVariable:
    query = f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "{key}"'
    if where:
        query += f" WHERE {where}"
    variable = (
        dashboard_builders.QueryVariable(name)
        .label(label)
        .datasource(datasource())
        .query(query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(sort)
        .multi(multi)
        .include_all(include_all)
    )
    if include_all:
        variable = variable.all_value(".*")
    return variable


def farm_variable(multi: bool = False) -> dashboard_builders.QueryVariable:
    return tag_variable(
        "farm", "ฟาร์ม / Farm", "farm", '"farm" =~ /$cooperative/', include_all=multi, multi=multi
    )


def site_variable(label: str) -> dashboard_builders.QueryVariable:
    return tag_variable("site", label, "site", FARM)


def device_variable() -> dashboard_builders.QueryVariable:
    return tag_variable(
        "device", "อุปกรณ์ / Device", "device", f"{FARM} AND {SITE}", include_all=True, multi=True
    )


def standard_variables(
    site_label: str,
) -> list[dashboard_builders.QueryVariable | dashboard_builders.CustomVariable]:
    return [cooperative_variable(), farm_variable(), site_variable(site_label), device_variable()]


def issued_variable(where: str) -> dashboard_builders.QueryVariable:
    """The forecast run to show (tag ``issued``, YYYY-MM-DD): newest first, so the newest is
    what a dashboard opens with."""
    return tag_variable(
        "issued",
        "ออกคาดการณ์ / Forecast issued",
        "issued",
        where,
        measurement=storage.CASSAVA_FORECAST,
        sort=VariableSort.ALPHABETICAL_DESC,
    )


#: Forecasts of the chosen run only.
ISSUED = "\"issued\" = '$issued'"
#: The candidate the forecast job recommends in each field's run (``storage.BEST_HARVEST``,
#: chosen by ``models.store.best_candidate``): dashboards read the mark, they do not choose.
BEST_HARVEST = f'"{storage.BEST_HARVEST}" = true'


# --- panels ---------------------------------------------------------------------------------


def thresholds(base: str, *levels: tuple[float, str]) -> dashboard_builders.ThresholdsConfig:
    """Absolute thresholds: ``base`` colour below the first level, then each level's colour."""
    return (
        dashboard_builders.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps(
            [Threshold(value=None, color=base)]
            + [Threshold(value=value, color=colour) for value, colour in levels]
        )
    )


def line_panel(
    title: str,
    targets: Sequence[Target],
    unit: str,
    span: int = 12,
    height: int = 8,
    description: str = "",
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .datasource(datasource())
        .span(span)
        .height(height)
        .unit(unit)
        .line_width(1)
        .fill_opacity(10)
        .show_points(common.VisibilityMode.NEVER)
        .span_nulls(3_600_000)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
    )
    if description:
        panel = panel.description(description)
    for target in targets:
        panel = panel.with_target(target)
    return panel


def banded(
    panel: timeseries.Panel, config: dashboard_builders.ThresholdsConfig
) -> timeseries.Panel:
    """Shade the panel's background by threshold bands (dry/wet, THI categories)."""
    return panel.thresholds(config).thresholds_style(
        common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.AREA)
    )


def bar_panel(
    title: str, targets: Sequence[Target], unit: str, span: int = 12, description: str = ""
) -> timeseries.Panel:
    return (
        line_panel(title, targets, unit, span, description=description)
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(80)
    )


def stat_panel(
    title: str,
    target: Target,
    unit: str,
    config: dashboard_builders.ThresholdsConfig,
    span: int = 6,
    description: str = "",
) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .datasource(datasource())
        .span(span)
        .height(5)
        .unit(unit)
        .with_target(target)
        .thresholds(config)
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    if description:
        panel = panel.description(description)
    return panel


def table_panel(
    title: str,
    target: Target,
    span: int = 12,
    height: int = 8,
    description: str = "",
    transformations: Sequence[DataTransformerConfig] = (),
    overrides: Sequence[tuple[str, list[DynamicConfigValue]]] = (),
) -> table.Panel:
    panel = (
        table.Panel()
        .title(title)
        .datasource(datasource())
        .span(span)
        .height(height)
        .with_target(target)
    )
    if description:
        panel = panel.description(description)
    for transformation in transformations:
        panel = panel.with_transformation(transformation)
    for name, properties in overrides:
        panel = panel.override_by_name(name, properties)
    return panel


def transformation(kind: str, **options: object) -> DataTransformerConfig:
    return DataTransformerConfig(id_val=kind, options=options)


def unit_override(unit: str) -> list[DynamicConfigValue]:
    return [DynamicConfigValue(id_val="unit", value=unit)]
