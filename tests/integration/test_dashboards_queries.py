"""Every dashboard panel's query returns data from a real InfluxDB after a simulated run.

No Grafana server runs here, so this is the test that the dashboards work: simulated devices
behind real edge agents publish to a real Mosquitto, real ingest stores the readings in a real
InfluxDB set up by ``ingest.admin.setup_database`` (retention policies ``raw`` and
``rollups``), the rollups are recomputed, and then each panel's InfluxQL, read from the
committed grafana/dashboards/*.json, is expanded as Grafana would (template variables filled,
``$timeFilter`` and ``$__interval`` substituted) and executed.

The forecast measurements (``cassava_forecast``, ``cattle_forecast``) and the actual harvests
(``cassava_harvest``) come from the forecast job and a cooperative's records, so this test
writes a few such points itself, following the tags and fields described in
isanfarm/storage.py. It also publishes one out-of-range message and one with a suspect clock,
so the fleet panels for rejects and quarantine have something to count. Grafana-side
transformations and value mappings are not exercised.

With ``ISANFARM_PREVIEW_OUT=docs/img`` set, it also writes the preview PNGs committed there.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from dashboards import alerts, build
from dashboards.influxql import expand
from dashboards.panels import (
    TimeRange,
    has_values,
    panel_queries,
    variable_queries,
)
from ingest.admin import recompute_rollups, setup_database
from ingest.settings import IngestSettings
from isanfarm import contract, storage
from isanfarm.influx import InfluxV1
from models.store import best_candidate
from tests.helpers import ROOT, count_points, run_simulated_farm, wait_for
from tests.integration.conftest import RunningWorker
from tooling.services import LocalMosquitto
from tooling.simulate import SimulatedFleet

pytestmark = pytest.mark.integration

READINGS_PER_DEVICE = 60
DAY_MS = 86_400_000
BANGKOK = timezone(timedelta(hours=7))


def simulate(port: int, farm_id: str, state_dir: Path) -> tuple[SimulatedFleet, int]:
    # Twelve hours ago: the run (10 h of readings) ends before now, within the "now" panels'
    # one-day look-back.
    start = (int(time.time() * 1000) - DAY_MS // 2) // 600_000 * 600_000
    fleet = run_simulated_farm(port, farm_id, state_dir, start, 30_000, READINGS_PER_DEVICE)
    return fleet, start


def publish_bad_messages(publisher: mqtt.Client, farm_id: str, start_ms: int) -> None:
    """One reading out of range (a reject) and one from a device that distrusts its clock."""
    topic = contract.telemetry_topic(farm_id, "field-01-node")
    too_wet = {"schema": 1, "device_id": "field-01-node", "seq": 10**9, "ts": start_ms}
    too_wet["readings"] = {"soil_moisture_30cm": 142.0}
    suspect = {**too_wet, "seq": 10**9 + 1, "clock_suspect": True}
    suspect["readings"] = {"soil_moisture_30cm": 14.0}
    for body in (too_wet, suspect):
        publisher.publish(topic, json.dumps(body), qos=1).wait_for_publish(10)


def forecast_lines(farm_id: str, now_ms: int) -> list[str]:
    """Two days of forecast runs as the forecast job will write them (isanfarm/storage.py):
    cassava at each candidate harvest date (Thai midnight), tagged with the run's date, the
    job's choice marked; cattle at the issue time."""
    lines = []
    for issue in range(2):
        issued_ms = now_ms - (1 - issue) * DAY_MS - 3_600_000
        issued = datetime.fromtimestamp(issued_ms / 1000, tz=BANGKOK).strftime("%Y-%m-%d")
        revenues = [95000.0 + 1000 * candidate * (2 - candidate) for candidate in range(4)]
        for candidate in range(4):
            day = (now_ms // DAY_MS + 30 + 7 * candidate) * DAY_MS - 7 * 3_600_000
            best = str(candidate == best_candidate(revenues)).lower()
            yield_t_ha = 21.0 + candidate + issue * 0.5
            fields = (
                f"issued_at_ms={issued_ms}i,horizon_days={(day - issued_ms) // DAY_MS}i,"
                f"yield_t_ha={yield_t_ha},yield_t_ha_p10={yield_t_ha - 3},"
                f"yield_t_ha_p90={yield_t_ha + 3},starch_pct={27.0 - candidate * 0.8},"
                "starch_pct_p10=24.8,starch_pct_p90=28.1,area_ha=1.6,"
                f"tonnes={yield_t_ha * 1.6},"
                f"revenue_thb={revenues[candidate]},{storage.BEST_HARVEST}={best}"
            )
            lines.append(
                f"{storage.CASSAVA_FORECAST},farm={farm_id},field=field-01,variety=ku50,"
                f"model_version=test,issued={issued} {fields} {day * 1_000_000}"
            )
        if issue == 0:  # an actual harvest on the first candidate date, from the records
            lines.append(
                f"{storage.CASSAVA_HARVEST},farm={farm_id},field=field-01 "
                f"yield_t_ha=22.4,starch_pct=26.5,season_days=300i "
                f"{((now_ms // DAY_MS + 30) * DAY_MS - 7 * 3_600_000) * 1_000_000}"
            )
        for number in range(2):
            lines.append(
                f"{storage.CATTLE_FORECAST},farm={farm_id},herd=barn-01,animal=wagyu-{number:03d},"
                f"model_version=test weight_kg={610.0 + number * 20},target_weight_kg=750.0,"
                f"daily_gain_kg=0.8,days_to_target={175 - number * 25}i,"
                f"days_to_target_p10={150 - number * 25}i,days_to_target_p90={200 - number * 25}i,"
                f"market_date_ms={now_ms + 175 * DAY_MS}i,heat_stress_risk=0.3 "
                f"{issued_ms * 1_000_000}"
            )
    return lines


def dashboard_variables(name: str, farm_id: str) -> dict[str, str]:
    site = {"cassava-field": "field-01", "cattle-barn": "barn-01"}.get(name, ".*")
    issued = datetime.now(BANGKOK).strftime("%Y-%m-%d")
    return {
        "cooperative": ".*",
        "farm": farm_id,
        "site": site,
        "device": ".*",
        "animal": ".*",
        "issued": issued,
    }


def test_every_panel_query_returns_data_after_a_simulated_run(
    mosquitto: LocalMosquitto,
    influx: InfluxV1,
    ingest_settings: IngestSettings,
    start_ingest: Callable[..., RunningWorker],
    publisher: mqtt.Client,
    unique_id: str,
    tmp_path: Path,
) -> None:
    setup_database(influx, ingest_settings)
    start_ingest(rollup_every_s=0)
    fleet, start_ms = simulate(mosquitto.port, unique_id, tmp_path)
    publish_bad_messages(publisher, unique_id, start_ms)
    published = sum(agent.stats.taken for agent in fleet.agents)
    wait_for(lambda: count_points(influx, "telemetry", "seq") >= published, "all points stored")
    wait_for(lambda: count_points(influx, storage.QUARANTINE, "seq") == 1, "the quarantined one")
    wait_for(lambda: count_points(influx, storage.INGEST_REJECTS, "payload_bytes") == 1, "reject")
    now_ms = int(time.time() * 1000) + 60_000
    influx.write(forecast_lines(unique_id, now_ms))
    recompute_rollups(
        influx, ingest_settings, *(_utc(ms) for ms in (start_ms - DAY_MS, now_ms + DAY_MS))
    )

    # From a day before the run (a daily rollup point sits at the start of its Thai day, before
    # the run's first reading) into the future, where cassava forecasts sit at harvest dates.
    window = TimeRange(start_ms - DAY_MS, now_ms + 300 * DAY_MS)
    empty: list[str] = []
    dashboards = build.load_dashboards(ROOT / "grafana")
    assert set(dashboards) == set(build.DASHBOARDS)
    for name, dashboard in dashboards.items():
        variables = dashboard_variables(name, unique_id)
        for variable, statement in variable_queries(dashboard, variables, window):
            values = _column(influx.query(statement), "value")
            if variables[variable] != ".*":
                assert variables[variable] in values, (name, variable, statement, values)
            assert values, (name, variable, statement)
        for query in panel_queries(dashboard, variables, window, now_ms):
            if not has_values(influx.query(query.statement)):
                empty.append(f"{name}: {query.title} [{query.ref_id}]: {query.statement}")
    assert not empty, "panels without data:\n" + "\n".join(empty)

    for spec in alerts.specs():
        for rule_query in filter(None, (spec.query, spec.reference)):
            statement = expand(rule_query, {}, now_ms - spec.range_s * 1000, now_ms, "1m")
            # The soil and THI rules look back less far than the simulated past: widen them.
            wide = expand(rule_query, {}, window.start_ms, now_ms, "1m")
            assert has_values(influx.query(statement)) or has_values(influx.query(wide)), spec.uid

    if out := os.environ.get("ISANFARM_PREVIEW_OUT"):
        from dashboards.preview import render_all

        render_all(dashboards, influx.query, unique_id, window, Path(out), now_ms=now_ms)


def _column(results: list[dict[str, Any]], column: str) -> list[Any]:
    rows: list[Any] = []
    for series in results[0].get("series", []):
        index = series["columns"].index(column)
        rows.extend(row[index] for row in series["values"])
    return rows


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
