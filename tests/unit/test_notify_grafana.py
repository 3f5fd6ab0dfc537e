"""The Grafana side as code: every rule names a kind the notifier has words for, and the
provisioned policy sends every isanfarm rule to the webhook contact point of the notifier."""

from __future__ import annotations

import yaml

from dashboards import alerts, build
from notify.intake import GRAFANA_RULE_KINDS
from notify.messages import TEMPLATES
from registry.subscriptions import SUBSCRIBABLE_KINDS
from tests.paths import ROOT


def test_every_rule_carries_a_kind_the_notifier_renders_and_a_stated_threshold() -> None:
    for spec in alerts.specs():
        rule = alerts.rule_json(alerts.build_rule(spec))
        kind = rule["labels"]["kind"]
        assert kind in SUBSCRIBABLE_KINDS, spec.uid
        assert kind in TEMPLATES, spec.uid
        assert GRAFANA_RULE_KINDS[spec.uid] == kind
        float(rule["annotations"]["threshold"])


def test_the_policy_routes_every_isanfarm_rule_to_the_notifiers_webhook() -> None:
    text = (ROOT / "grafana" / build.NOTIFY_FILE).read_text(encoding="utf-8")
    provisioned = yaml.safe_load(text)
    [contact] = provisioned["contactPoints"]
    [receiver] = contact["receivers"]
    assert receiver["type"] == "webhook"
    assert receiver["settings"]["url"] == "${ISANFARM_NOTIFY_URL}"
    assert receiver["settings"]["httpMethod"] == "POST"
    [policy] = provisioned["policies"]
    assert policy["receiver"] == contact["name"]
    [route] = policy["routes"]
    assert route == {"receiver": contact["name"], "object_matchers": [["team", "=", "isanfarm"]]}
    labels = {alerts.rule_json(alerts.build_rule(s))["labels"]["team"] for s in alerts.specs()}
    assert labels == {"isanfarm"}


def test_compose_gives_grafana_the_notifiers_url() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    environment = compose["services"]["grafana"]["environment"]
    assert environment["ISANFARM_NOTIFY_URL"].endswith("/grafana/webhook}")
