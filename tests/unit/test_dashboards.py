"""Dashboards and alert rules as code: committed files match the code, decode through the
grafana-foundation-sdk's schema types without losing anything, use only the provisioned
datasource, and keep panel titles unique."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import alerting
from grafana_foundation_sdk.models.dashboard import (
    Dashboard,
    DashboardCursorSync,
    ThresholdsMode,
    VariableRefresh,
    VariableSort,
    VariableType,
)

from dashboards import alerts, build, influxql
from dashboards.panels import TimeRange, panel_queries
from tests.paths import ROOT

GRAFANA = ROOT / "grafana"
DASHBOARDS = build.load_dashboards(GRAFANA)


def provisioned_uids() -> set[str]:
    text = (GRAFANA / "provisioning/datasources/isanfarm.yaml").read_text(encoding="utf-8")
    return {source["uid"] for source in yaml.safe_load(text)["datasources"]}


def lost_on_round_trip(original: Any, decoded: Any, path: str = "") -> Iterator[str]:
    """Paths whose value the SDK's types dropped or changed (added defaults are fine)."""
    if isinstance(original, dict) and isinstance(decoded, dict):
        for key, value in original.items():
            if key not in decoded:
                yield f"{path}/{key} (unknown to the schema)"
            else:
                yield from lost_on_round_trip(value, decoded[key], f"{path}/{key}")
    elif isinstance(original, list) and isinstance(decoded, list) and len(original) == len(decoded):
        for index, (left, right) in enumerate(zip(original, decoded, strict=True)):
            yield from lost_on_round_trip(left, right, f"{path}[{index}]")
    elif original != decoded:
        yield f"{path}: {original!r} became {decoded!r}"


def datasource_refs(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if isinstance(node.get("datasource"), dict):
            yield node["datasource"]
        for value in node.values():
            yield from datasource_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from datasource_refs(value)


def test_committed_files_match_the_code() -> None:
    stale = build.stale(GRAFANA)
    assert not stale, f"run `isanfarm grafana build`: out of date: {stale}"


def test_build_writes_what_check_expects(tmp_path: Path) -> None:
    build.write(tmp_path)
    assert build.stale(tmp_path) == []
    (tmp_path / "dashboards/cassava-field.json").write_text("{}")
    assert build.stale(tmp_path) == [tmp_path / "dashboards/cassava-field.json"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_decodes_through_the_sdk_schema_types(name: str) -> None:
    register_default_plugins()
    influxql.register()
    original = DASHBOARDS[name]
    decoded = json.loads(json.dumps(Dashboard.from_json(original), cls=JSONEncoder))
    assert list(lost_on_round_trip(original, decoded)) == []
    DashboardCursorSync(original["graphTooltip"])
    known_panels = set(cogruntime.Runtime().panelcfg_variants) | {"alertlist"}
    for panel in original["panels"]:
        assert panel["type"] in known_panels, panel["title"]
        thresholds = panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds")
        if thresholds:
            ThresholdsMode(thresholds["mode"])
            assert thresholds["steps"][0]["value"] is None
        for target in panel.get("targets", []):
            assert isinstance(
                cogruntime.dataquery_from_json(target, "influxdb"), influxql.InfluxQLQuery
            )
    for variable in original["templating"]["list"]:
        VariableType(variable["type"])
        if variable["type"] == "query":
            VariableRefresh(variable["refresh"])
            VariableSort(variable["sort"])


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_datasource_is_the_provisioned_one(name: str) -> None:
    refs = list(datasource_refs(DASHBOARDS[name]))
    assert refs
    assert {ref["uid"] for ref in refs} <= provisioned_uids()
    assert {ref["type"] for ref in refs} == {"influxdb"}


def test_alert_rules_use_the_provisioned_datasource_and_decode_through_the_sdk() -> None:
    text = (GRAFANA / build.ALERTS_FILE).read_text(encoding="utf-8")
    groups = yaml.safe_load(text)["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert {rule["uid"] for rule in rules} == {spec.uid for spec in alerts.specs()}
    for rule in rules:
        sources = {query["datasourceUid"] for query in rule["data"]}
        assert sources <= provisioned_uids() | {alerts.EXPRESSIONS_UID}
        assert rule["condition"] in {query["refId"] for query in rule["data"]}
        full = {**rule, "folderUID": alerts.FOLDER, "ruleGroup": alerts.GROUP, "orgID": 1}
        decoded = json.loads(json.dumps(alerting.Rule.from_json(full), cls=JSONEncoder))
        assert list(lost_on_round_trip(full, decoded)) == []


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panel_titles_and_ids_are_unique(name: str) -> None:
    panels = DASHBOARDS[name]["panels"]
    titles = [panel["title"] for panel in panels]
    assert len(titles) == len(set(titles))
    assert [panel["id"] for panel in panels] == list(range(1, len(panels) + 1))


def test_dashboard_uids_are_unique_and_titles_bilingual() -> None:
    uids = [dashboard["uid"] for dashboard in DASHBOARDS.values()]
    assert len(uids) == len(set(uids)) == len(build.DASHBOARDS)
    for dashboard in DASHBOARDS.values():
        for title in [dashboard["title"], *(p["title"] for p in dashboard["panels"])]:
            thai, _, english = title.partition(" / ")
            assert any("\u0e00" <= c <= "\u0e7f" for c in thai), title
            assert english.isascii() or english, title


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_queries_use_only_the_dashboards_variables(name: str) -> None:
    dashboard = DASHBOARDS[name]
    defined = {variable["name"] for variable in dashboard["templating"]["list"]}
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert influxql.query_variables(target["query"]) <= defined, panel["title"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert influxql.query_variables(variable["query"]) <= defined - {variable["name"]}


def test_expand_fills_variables_and_grafana_macros() -> None:
    query = 'SELECT mean("x") FROM "t" WHERE "farm" =~ /^$farm$/ AND ${site} AND $timeFilter '
    query += "GROUP BY time($__interval) LIMIT [[n]] -- $__to"
    expanded = influxql.expand(query, {"farm": "korat-1", "site": "s", "n": "5"}, 1000, 2000, "10m")
    assert expanded == (
        'SELECT mean("x") FROM "t" WHERE "farm" =~ /^korat-1$/ AND s AND '
        "time >= 1000ms and time <= 2000ms GROUP BY time(10m) LIMIT 5 -- 2000"
    )
    with pytest.raises(influxql.UnknownVariableError, match=r"\$farmm"):
        influxql.expand("WHERE $farmm", {"farm": "a"}, 0, 1, "1m")


def test_auto_interval_keeps_about_300_points() -> None:
    assert influxql.auto_interval(0, 7 * 86_400_000) == "1h"
    assert influxql.auto_interval(0, 86_400_000) == "5m"


def test_a_panel_time_override_moves_the_start() -> None:
    dashboard = DASHBOARDS["cooperative"]
    window = TimeRange(0, 400 * 86_400_000)
    variables = {"cooperative": ".*", "farm": "f", "issued": "2026-01-01"}
    now = 30 * 86_400_000
    queries = list(panel_queries(dashboard, variables, window, now_ms=now))
    # "Now" tables (timeFrom 1d) look back one day from now, not from the range's end.
    assert any(f"time >= {29 * 86_400_000}ms and time <= {now}ms" in q.statement for q in queries)
    assert any(f"time <= {400 * 86_400_000}ms" in q.statement for q in queries)
