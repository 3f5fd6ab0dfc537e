"""Intake: the alert engine's sentences read back as numbers, and Grafana's documented webhook
JSON as AlertEvents."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from agronomy.soilwater import dry_below_pct_for
from agronomy.thi import THI_DANGER
from api import alerts as engine
from models.calibration import CoverageCheck
from notify.alert import AlertState, Severity
from notify.intake import GrafanaPayloadError, grafana_events, values_from_message
from registry import models


class _Rows:
    """Just enough of a Session for a rule that lists rows."""

    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    def scalars(self, _query: object) -> list[Any]:
        return self.rows


def test_the_soil_and_heat_rules_sentences_give_value_and_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Held to ``api.alerts``: if a rule's sentence changes, the numbers must still be read."""
    field = SimpleNamespace(id="f1", farm_id="farm", cooperative_id="c", soil="loamy_sand")
    monkeypatch.setattr(engine, "_latest", lambda *a: {"soil_moisture_30cm": 6.04})
    [dry] = engine._dry_fields(_Rows([field]), None)  # type: ignore[arg-type]
    assert values_from_message(models.SOIL_DRY, dry.message) == {
        "value": 6.0,
        "threshold": dry_below_pct_for("loamy_sand"),
    }
    herd = SimpleNamespace(id="h1", farm_id="farm", cooperative_id="c")
    monkeypatch.setattr(
        engine, "_latest", lambda *a: {"air_temperature": 38.0, "relative_humidity": 70.0}
    )
    [hot] = engine._hot_barns(_Rows([herd]), None)  # type: ignore[arg-type]
    values = values_from_message(models.HEAT_STRESS, hot.message)
    assert values["threshold"] == round(THI_DANGER)
    assert float(values["value"]) > THI_DANGER


def test_offline_rejects_and_coverage_sentences_give_their_numbers() -> None:
    offline = "device d1 has not been heard from in 2 h"
    assert values_from_message(models.DEVICE_OFFLINE, offline) == {"threshold": 2.0}
    assert values_from_message(models.DEVICE_OFFLINE, "device d1 went offline") == {}
    rejects = "7 messages from farm f1 were rejected in the last hour"
    assert values_from_message(models.INGEST_REJECTS, rejects) == {"value": 7.0}
    coverage = CoverageCheck("yield_t_ha", covered=5, n=12, fewest_accepted=8, p_value=0.01)
    assert values_from_message(models.FORECAST_COVERAGE, coverage.message()) == {
        "value": 5.0,
        "threshold": 12.0,
    }


#: Grafana's documented webhook body (docs: alerting, webhook notifier), with the labels and
#: annotations the isanfarm rules carry.
GRAFANA_BODY: dict[str, Any] = {
    "receiver": "isanfarm-notify",
    "status": "firing",
    "orgId": 1,
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "ดินแห้ง / Soil dry for 12 h",
                "farm": "korat-001",
                "site": "korat-001-f1",
                "kind": "soil_dry",
                "severity": "warning",
                "team": "isanfarm",
                "grafana_folder": "isanfarm",
            },
            "annotations": {"summary": "Soil at 30 cm ...", "threshold": "8"},
            "startsAt": "2026-12-03T14:05:03.157076+07:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://grafana:3000/alerting/grafana/isanfarm-soil-dry/view",
            "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "http://grafana:3000/alerting/silence/new",
            "dashboardURL": "",
            "panelURL": "",
            "values": {"B": 7.24, "C": 1},
        },
        {
            "status": "resolved",
            "labels": {
                "alertname": "คาดการณ์ไม่อัปเดต / Cattle forecasts stale",
                "kind": "forecast_stale",
                "severity": "warning",
                "team": "isanfarm",
            },
            "annotations": {"summary": "No cattle forecast written for 36 h", "threshold": "36"},
            "startsAt": "2026-12-02T01:00:00Z",
            "endsAt": "2026-12-03T02:30:00.123456789Z",
            "generatorURL": "",
            "fingerprint": "bc97ff14869b13e3",
            "silenceURL": "",
            "dashboardURL": "",
            "panelURL": "",
            "values": {"B": 0, "C": 1},
        },
    ],
    "groupLabels": {"alertname": "ดินแห้ง / Soil dry for 12 h"},
    "commonLabels": {"team": "isanfarm"},
    "commonAnnotations": {},
    "externalURL": "http://grafana:3000/",
    "version": "1",
    "groupKey": '{}/{team="isanfarm"}:{alertname="ดินแห้ง / Soil dry for 12 h"}',
    "truncatedAlerts": 0,
    "title": "[FIRING:1] ดินแห้ง / Soil dry for 12 h",
    "state": "alerting",
    "message": "**Firing** ...",
}


def test_grafana_webhook_json_becomes_alert_events() -> None:
    events = grafana_events(GRAFANA_BODY, {"korat-001": "korat"}.get, lambda: ["korat", "udon"])
    soil, *stale = events
    started = datetime(2026, 12, 3, 7, 5, 3, 157076, tzinfo=UTC)
    assert soil.key == f"grafana:c6eadffa33fcdf37:{int(started.timestamp())}"
    assert (soil.state, soil.kind, soil.severity) == (
        AlertState.FIRING,
        "soil_dry",
        Severity.WARNING,
    )
    assert (soil.cooperative_id, soil.farm_id, soil.subject) == (
        "korat",
        "korat-001",
        "korat-001-f1",
    )
    assert soil.since == started
    assert soil.values == {"threshold": 8.0, "value": 7.24}
    # No farm label: every cooperative's staff hear of it, each under a key of its own.
    assert [(e.cooperative_id, e.farm_id, e.state) for e in stale] == [
        ("korat", None, AlertState.RESOLVED),
        ("udon", None, AlertState.RESOLVED),
    ]
    assert stale[0].values == {
        "threshold": 36.0,
        "resolved_at": datetime(2026, 12, 3, 2, 30, 0, 123456, tzinfo=UTC).timestamp(),
    }
    assert stale[0].key != stale[1].key


def test_grafana_alerts_of_unknown_farms_are_dropped_and_bad_bodies_refused() -> None:
    assert grafana_events({"alerts": GRAFANA_BODY["alerts"][:1]}, lambda f: None, list) == []
    with pytest.raises(GrafanaPayloadError, match="'alerts'"):
        grafana_events({"receiver": "x"}, lambda f: "c", list)
    broken = copy.deepcopy(GRAFANA_BODY)
    broken["alerts"][0]["startsAt"] = "yesterday"
    with pytest.raises(GrafanaPayloadError, match="startsAt"):
        grafana_events(broken, lambda f: "c", list)


def test_grafana_rules_without_the_kind_label_are_known_by_their_uid() -> None:
    body = copy.deepcopy(GRAFANA_BODY)
    labels = body["alerts"][0]["labels"]
    del labels["kind"]
    labels["__alert_rule_uid__"] = "isanfarm-thi-danger"
    labels["severity"] = "critical"
    [event] = grafana_events({"alerts": body["alerts"][:1]}, lambda f: "korat", list)
    assert (event.kind, event.severity) == ("heat_stress", Severity.CRITICAL)


def test_grafanas_own_documented_example_is_read_too() -> None:
    """The example body of Grafana's webhook notifier documentation, as it stands: a rule that
    is none of isanfarm's, without a farm, goes to every cooperative's staff under its name."""
    alert = {
        "status": "firing",
        "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
        "annotations": {
            "description": "The system has high memory usage",
            "runbook_url": "https://myrunbook.com/runbook/1234",
            "summary": "This alert was triggered for zone us-1",
        },
        "startsAt": "2021-10-12T09:51:03.157076+02:00",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "https://play.grafana.org/alerting/1afz29v7z/edit",
        "fingerprint": "c6eadffa33fcdf37",
        "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana",
        "dashboardURL": "",
        "panelURL": "",
        "values": {"B": 44.23943737541908, "C": 1},
    }
    body = {"receiver": "My Super Webhook", "status": "firing", "orgId": 1, "alerts": [alert]}
    [event] = grafana_events(body, lambda farm: None, lambda: ["korat"])
    assert (event.kind, event.cooperative_id, event.farm_id, event.subject) == (
        "High memory usage",
        "korat",
        None,
        "korat",
    )
    assert event.message == "This alert was triggered for zone us-1"
    assert event.since == datetime(2021, 10, 12, 7, 51, 3, 157076, tzinfo=UTC)
    assert event.values == {}
