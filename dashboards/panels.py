"""Run a dashboard's panel queries the way Grafana would: variables filled, macros expanded.

No Grafana server runs where this project is built and tested, so this is how the dashboards
are shown to work: every panel's InfluxQL, taken from the generated JSON, is expanded here and
sent to a real InfluxDB (tests/integration/test_dashboards_queries.py, ``isanfarm grafana
preview``). Grafana-side steps (transformations, value mappings) are not reproduced.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dashboards.influxql import auto_interval, expand

#: Runs one InfluxQL statement, returns InfluxDB's ``results`` (isanfarm.influx.InfluxV1.query).
Runner = Callable[[str], list[dict[str, Any]]]

_DURATION = re.compile(r"(\d+)([mhdw])")
_DURATION_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


@dataclass(frozen=True, slots=True)
class PanelQuery:
    panel_id: int
    title: str
    panel_type: str
    ref_id: str
    statement: str
    result_format: str
    #: Fields the panel hides (``custom.hideFrom`` viz overrides) and, for a stat, the regex of
    #: the fields it shows: what a preview should leave out.
    hidden: frozenset[str] = frozenset()
    shown: str | None = None


@dataclass(frozen=True, slots=True)
class TimeRange:
    start_ms: int
    end_ms: int


def panel_range(
    panel: Mapping[str, Any], dashboard_range: TimeRange, now_ms: int | None = None
) -> TimeRange:
    """A panel's ``timeFrom`` ("7d") replaces the dashboard's range by the last 7 days up to
    now (``now_ms``, default the end of the dashboard's range), as Grafana does."""
    time_from = panel.get("timeFrom")
    if not time_from:
        return dashboard_range
    match = _DURATION.fullmatch(str(time_from))
    if not match:
        raise ValueError(f"panel {panel.get('title')!r}: cannot read timeFrom {time_from!r}")
    length = int(match.group(1)) * _DURATION_MS[match.group(2)]
    end = dashboard_range.end_ms if now_ms is None else now_ms
    return TimeRange(end - length, end)


def panel_queries(
    dashboard: Mapping[str, Any],
    variables: Mapping[str, str],
    time_range: TimeRange,
    now_ms: int | None = None,
) -> Iterator[PanelQuery]:
    """Every target of every panel, expanded for ``variables`` and ``time_range``."""
    for panel in dashboard.get("panels", []):
        window = panel_range(panel, time_range, now_ms)
        interval = panel.get("interval") or auto_interval(window.start_ms, window.end_ms)
        for target in panel.get("targets", []):
            yield PanelQuery(
                panel_id=panel["id"],
                title=panel["title"],
                panel_type=panel["type"],
                ref_id=target["refId"],
                statement=expand(
                    target["query"], variables, window.start_ms, window.end_ms, interval
                ),
                result_format=target.get("resultFormat", "time_series"),
                hidden=_hidden_fields(panel),
                shown=(panel.get("options") or {}).get("reduceOptions", {}).get("fields") or None,
            )


def _hidden_fields(panel: Mapping[str, Any]) -> frozenset[str]:
    hidden = set()
    for override in panel.get("fieldConfig", {}).get("overrides", []):
        matcher = override.get("matcher", {})
        for prop in override.get("properties", []):
            hides = prop.get("id") == "custom.hideFrom" and prop.get("value", {}).get("viz")
            if hides and matcher.get("id") == "byName":
                hidden.add(str(matcher.get("options")))
    return frozenset(hidden)


def variable_queries(
    dashboard: Mapping[str, Any], variables: Mapping[str, str], time_range: TimeRange
) -> Iterator[tuple[str, str]]:
    """(name, expanded query) of each query variable, filled with the other variables."""
    interval = auto_interval(time_range.start_ms, time_range.end_ms)
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            statement = expand(
                str(variable["query"]), variables, time_range.start_ms, time_range.end_ms, interval
            )
            yield variable["name"], statement


def has_values(results: list[dict[str, Any]]) -> bool:
    """True if any series of the result has a row with a non-null value besides time."""
    for result in results:
        for series in result.get("series", []):
            columns = series["columns"]
            for row in series["values"]:
                if any(v is not None for c, v in zip(columns, row, strict=True) if c != "time"):
                    return True
    return False
