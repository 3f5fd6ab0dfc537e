"""Grafana unified-alerting rules, as a provisioning file (grafana/provisioning/alerting/).

Each rule is the usual three steps: A, an InfluxQL query per series (farm, site or device);
B, a Reduce expression to one number per series; C, a Threshold on B. Rules are built with the
SDK's alerting types and written in Grafana's file-provisioning shape (folder, group and org on
the group, not on each rule). Every rule carries ``team: isanfarm``, a ``severity`` and the
alert ``kind`` (the registry's names, which ``isanfarm notify`` renders), and annotates its
threshold in the unit the message shows. ``notification_provisioning`` is the contact point
that sends them to ``isanfarm notify`` (Grafana's webhook) and the policy routing them there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from grafana_foundation_sdk.builders import alerting, expr
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.alerting import RelativeTimeRange, Rule

from agronomy.thi import THI_DANGER
from dashboards.common import BARN_READINGS, SOIL, thi_expression
from dashboards.influxql import DATASOURCE_UID, Target
from isanfarm import storage
from isanfarm.contract import Sensor
from registry import models
from registry.subscriptions import FORECAST_STALE

FOLDER = "isanfarm"
GROUP = "isanfarm"
INTERVAL = "1m"
EXPRESSIONS_UID = "__expr__"
#: Soil must stay below the dry band this many hours before the alert fires.
SOIL_DRY_HOURS = 12
#: A forecast job runs at least daily; none for this long means it is stuck.
FORECAST_STALE_HOURS = 36
#: How far back a device counts as part of the fleet for the silence alert.
FLEET_LOOKBACK_HOURS = 48

Comparison = Literal["lt", "gt", "gte", "lte"]
Reducer = Literal["max", "min", "mean", "last"]
NoData = Literal["Alerting", "NoData", "OK"]


@dataclass(frozen=True, slots=True)
class RuleSpec:
    uid: str
    title: str
    query: str
    range_s: int
    reducer: Reducer
    comparison: Comparison
    threshold: float
    summary: str
    severity: str
    no_data: NoData = "OK"
    pending: str = "0s"
    #: If set, the rule compares B with this query's latest value (the "now" of the data):
    #: R is the query, S its last value, C = $S - $B, and the threshold applies to C.
    reference: str | None = None
    #: The alert kind (``registry.models.ALERT_KINDS`` or ``forecast_stale``).
    kind: str = ""
    #: The threshold as the farmer's message states it (%, THI, hours); None: ``threshold``.
    stated_threshold: float | None = None


def specs() -> list[RuleSpec]:
    telemetry = f'"{storage.TELEMETRY}"'
    return [
        RuleSpec(
            uid="isanfarm-soil-dry",
            title=f"ดินแห้ง / Soil dry for {SOIL_DRY_HOURS} h",
            query=(
                f'SELECT mean("{Sensor.SOIL_MOISTURE_30CM}") FROM {telemetry} WHERE $timeFilter '
                'GROUP BY time(1h), "farm", "site" fill(none)'
            ),
            range_s=SOIL_DRY_HOURS * 3600,
            reducer="max",
            comparison="lt",
            threshold=SOIL.dry_below,
            summary=(
                "Soil at 30 cm on {{ $labels.farm }}/{{ $labels.site }} has been below "
                f"{SOIL.dry_below:g} %VWC (wilting point, loamy sand) for {SOIL_DRY_HOURS} h."
            ),
            severity="warning",
            kind=models.SOIL_DRY,
        ),
        RuleSpec(
            uid="isanfarm-thi-danger",
            title="ความเครียดจากความร้อนอันตราย / THI danger",
            query=(
                f'SELECT mean("thi") FROM (SELECT {thi_expression()} AS "thi" FROM {telemetry} '
                f'WHERE $timeFilter AND {BARN_READINGS} GROUP BY "farm", "site") '
                'WHERE $timeFilter GROUP BY time(10m), "farm", "site" fill(none)'
            ),
            range_s=3600,
            reducer="mean",
            comparison="gte",
            threshold=THI_DANGER,
            summary=(
                "Barn {{ $labels.farm }}/{{ $labels.site }}: THI averaged "
                '{{ $values.B.Value | printf "%.0f" }} over the last hour '
                f"(danger from {THI_DANGER:g}): shade, water, fans."
            ),
            severity="critical",
            kind=models.HEAT_STRESS,
        ),
        RuleSpec(
            uid="isanfarm-device-silent",
            title="อุปกรณ์เงียบ / Device silent for 1 h",
            query=(
                f'SELECT moving_average(count("seq"), 6) * 6 FROM {telemetry} WHERE $timeFilter '
                'GROUP BY time(10m), "farm", "device" fill(0)'
            ),
            range_s=FLEET_LOOKBACK_HOURS * 3600,
            reducer="last",
            comparison="lt",
            threshold=1,
            summary=(
                "No reading from {{ $labels.farm }}/{{ $labels.device }} for an hour: power, "
                "link or gateway (its outbox keeps readings until the link returns)."
            ),
            severity="warning",
            kind=models.DEVICE_OFFLINE,
            stated_threshold=1,  # hour
        ),
        _cassava_stale_rule(),
        _stale_rule("cattle", storage.CATTLE_FORECAST, "days_to_target"),
    ]


def _cassava_stale_rule() -> RuleSpec:
    """Cassava forecasts are stored at their candidate harvest dates (in the future), so their
    age is their ``issued_at_ms`` field; InfluxQL has no now() as a value, so it is compared
    with the newest telemetry's receive time (if telemetry stops too, the device alerts fire)."""
    return RuleSpec(
        uid="isanfarm-cassava-forecast-stale",
        title="คาดการณ์ไม่อัปเดต / Cassava forecasts stale",
        query=(
            f'SELECT max("issued_at_ms") FROM "{storage.CASSAVA_FORECAST}" '
            "WHERE time >= now() - 60d AND time <= now() + 730d"
        ),
        reference=f'SELECT max("received_ms") FROM "{storage.TELEMETRY}" WHERE $timeFilter',
        range_s=6 * 3600,
        reducer="last",
        comparison="gt",
        threshold=FORECAST_STALE_HOURS * 3_600_000,
        summary=(
            f"The newest cassava forecast was issued more than {FORECAST_STALE_HOURS} h before "
            "the newest reading: is the forecast job running?"
        ),
        severity="warning",
        no_data="Alerting",
        kind=FORECAST_STALE,
        stated_threshold=FORECAST_STALE_HOURS,
    )


def _stale_rule(kind: str, measurement: str, field: str) -> RuleSpec:
    return RuleSpec(
        uid=f"isanfarm-{kind}-forecast-stale",
        title=f"คาดการณ์ไม่อัปเดต / {kind.capitalize()} forecasts stale",
        query=f'SELECT count("{field}") FROM "{measurement}" WHERE $timeFilter',
        range_s=FORECAST_STALE_HOURS * 3600,
        reducer="last",
        comparison="lt",
        threshold=1,
        summary=(
            f"No {kind} forecast written for {FORECAST_STALE_HOURS} h: is the forecast job running?"
        ),
        severity="warning",
        # No forecast at all is exactly what this rule is for.
        no_data="Alerting",
        kind=FORECAST_STALE,
        stated_threshold=FORECAST_STALE_HOURS,
    )


def build_rule(spec: RuleSpec) -> Rule:
    window = RelativeTimeRange(from_val=spec.range_s, to=0)
    query = (
        alerting.Query("A")
        .datasource_uid(DATASOURCE_UID)
        .relative_time_range(window)
        .model(Target(spec.query))
    )
    reduce = (
        expr.TypeReduce()
        .ref_id("B")
        .expression("A")
        .reducer(spec.reducer)
        .settings(expr.ExprTypeReduceSettings().mode("dropNN"))
    )
    rule = (
        alerting.Rule(spec.title)
        .uid(spec.uid)
        .folder_uid(FOLDER)
        .rule_group(GROUP)
        .org_id(1)
        .with_query(query)
        .with_query(_expression("B", reduce))
    )
    compared = "B"
    if spec.reference is not None:
        reference = (
            alerting.Query("R")
            .datasource_uid(DATASOURCE_UID)
            .relative_time_range(window)
            .model(Target(spec.reference, ref_id="R"))
        )
        latest = expr.TypeReduce().ref_id("S").expression("R").reducer("last")
        age = expr.TypeMath().ref_id("C").expression("$S - $B")
        rule = rule.with_query(reference).with_query(
            _expression("S", latest.settings(expr.ExprTypeReduceSettings().mode("dropNN")))
        )
        rule = rule.with_query(_expression("C", age))
        compared = "C"
    condition = "D" if spec.reference is not None else "C"
    evaluator = expr.ExprTypeThresholdConditionsEvaluator().type(spec.comparison)
    threshold = (
        expr.TypeThreshold()
        .ref_id(condition)
        .expression(compared)
        .conditions(
            [expr.ExprTypeThresholdConditions().evaluator(evaluator.params([spec.threshold]))]
        )
    )
    return (
        rule.with_query(_expression(condition, threshold))
        .condition(condition)
        .no_data_state(spec.no_data)
        .exec_err_state("Error")
        .for_val(spec.pending)
        .labels({"team": "isanfarm", "severity": spec.severity, "kind": spec.kind})
        .annotations({"summary": spec.summary, "threshold": f"{_stated(spec):g}"})
        .build()
    )


def _stated(spec: RuleSpec) -> float:
    return spec.threshold if spec.stated_threshold is None else spec.stated_threshold


def _expression(
    ref_id: str, model: expr.TypeReduce | expr.TypeThreshold | expr.TypeMath
) -> alerting.Query:
    return (
        alerting.Query(ref_id)
        .datasource_uid(EXPRESSIONS_UID)
        .relative_time_range(RelativeTimeRange(from_val=0, to=0))
        .model(model)
    )


def rule_json(rule: Rule) -> dict[str, Any]:
    encoded: dict[str, Any] = json.loads(json.dumps(rule, cls=JSONEncoder))
    return encoded


def provisioning() -> dict[str, Any]:
    """The alerting provisioning file's content (apiVersion 1)."""
    rules = []
    for spec in specs():
        rule = rule_json(build_rule(spec))
        for group_level in ("folderUID", "orgID", "ruleGroup"):
            rule.pop(group_level)
        rules.append(rule)
    return {
        "apiVersion": 1,
        "groups": [
            {"orgId": 1, "name": GROUP, "folder": FOLDER, "interval": INTERVAL, "rules": rules}
        ],
    }


#: The contact point's name, and where ``isanfarm notify`` listens for Grafana (its
#: ``/grafana/webhook``): Grafana reads both variables from its environment when it loads the
#: provisioning file (docker-compose.yml sets them; the token is optional).
CONTACT_POINT = "isanfarm-notify"
NOTIFY_URL_VARIABLE = "ISANFARM_NOTIFY_URL"
NOTIFY_TOKEN_VARIABLE = "ISANFARM_GRAFANA_WEBHOOK_TOKEN"


def notification_provisioning() -> dict[str, Any]:
    """The contact point (Grafana's webhook to ``isanfarm notify``) and the notification policy
    sending every isanfarm rule to it, grouped per rule and farm. ``isanfarm notify`` repeats
    still-firing alerts at each subscriber's own interval and ignores Grafana's repeats of
    what it already sent, so Grafana's own repeat interval only needs to be shorter."""
    webhook = {
        "uid": "isanfarm-notify-webhook",
        "type": "webhook",
        "settings": {
            "url": f"${{{NOTIFY_URL_VARIABLE}}}",
            "httpMethod": "POST",
            "authorization_scheme": "Bearer",
            "authorization_credentials": f"${{{NOTIFY_TOKEN_VARIABLE}}}",
        },
        "disableResolveMessage": False,
    }
    return {
        "apiVersion": 1,
        "contactPoints": [{"orgId": 1, "name": CONTACT_POINT, "receivers": [webhook]}],
        "policies": [
            {
                "orgId": 1,
                "receiver": CONTACT_POINT,
                "group_by": ["alertname", "farm"],
                "group_wait": "30s",
                "group_interval": "5m",
                "repeat_interval": "1h",
                "routes": [
                    {
                        "receiver": CONTACT_POINT,
                        "object_matchers": [["team", "=", "isanfarm"]],
                    }
                ],
            }
        ],
    }
