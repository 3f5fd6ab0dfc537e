"""Alerts in: the project's own alert engine (the registry's ``alerts`` table) and Grafana's
webhook contact point, both turned into ``AlertEvent``s.

The registry keeps an alert open until it is acknowledged, by a person or by the rule that
raised it once the condition passed: open is "firing", acknowledged is "resolved". Its rows
carry the rule's English sentence, not numbers, so the measured value and threshold are read
back from the sentences ``api.alerts`` writes (``values_from_message``; a test holds the two
together). Grafana's webhook carries its rules' labels and values: the rules of
``dashboards.alerts`` label each with its ``kind``, ``farm`` and ``site`` or ``device``, and
annotate the threshold.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from notify.alert import AlertEvent, AlertState, Severity
from registry import models
from registry.subscriptions import FORECAST_STALE

log = logging.getLogger(__name__)

#: Kinds a farmer must act on at once, whatever the hour: cattle die of heat in hours.
CRITICAL_KINDS = frozenset({models.HEAT_STRESS})
#: How far back an acknowledged alert still counts as news ("resolved").
RESOLVED_WINDOW = timedelta(days=2)

_PATTERNS: dict[str, re.Pattern[str]] = {
    models.SOIL_DRY: re.compile(r"is (?P<value>[\d.]+)% VWC, below (?P<threshold>[\d.]+)%"),
    models.HEAT_STRESS: re.compile(r"THI is (?P<value>[\d.]+) \(danger from (?P<threshold>[\d.]+)"),
    models.DEVICE_OFFLINE: re.compile(r"heard from in (?P<threshold>[\d.]+) h"),
    models.INGEST_REJECTS: re.compile(r"^(?P<value>\d+) messages"),
    models.FORECAST_COVERAGE: re.compile(r"covered (?P<value>\d+) of (?P<threshold>\d+)"),
}


def values_from_message(kind: str, message: str) -> dict[str, float | str]:
    """The numbers in an alert engine's sentence: ``value`` and ``threshold``, when there."""
    pattern = _PATTERNS.get(kind)
    found = pattern.search(message) if pattern else None
    if found is None:
        return {}
    return {name: float(text) for name, text in found.groupdict().items() if text is not None}


def registry_key(alert_id: int) -> str:
    return f"registry:{alert_id}"


def registry_events(
    session: Session, now: datetime, window: timedelta = RESOLVED_WINDOW
) -> list[AlertEvent]:
    """Every open alert (firing) and every one acknowledged within ``window`` (resolved)."""
    a = models.Alert
    rows = session.scalars(
        select(a)
        .where(or_(a.acknowledged_at.is_(None), a.acknowledged_at >= now - window))
        .order_by(a.id)
    )
    return [_registry_event(row) for row in rows]


def _registry_event(row: models.Alert) -> AlertEvent:
    values = values_from_message(row.kind, row.message)
    state = AlertState.FIRING
    if row.acknowledged_at is not None:
        state = AlertState.RESOLVED
        values["resolved_at"] = _aware(row.acknowledged_at).timestamp()
    return AlertEvent(
        key=registry_key(row.id),
        state=state,
        kind=row.kind,
        cooperative_id=row.cooperative_id,
        farm_id=row.farm_id,
        subject=row.subject,
        since=_aware(row.raised_at),
        severity=Severity.CRITICAL if row.kind in CRITICAL_KINDS else Severity.WARNING,
        values=values,
        message=row.message,
    )


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


# Grafana ---------------------------------------------------------------------------------

#: Grafana's rule uids (``dashboards.alerts``) to kinds, for alerts that lack the ``kind`` label
#: (rules provisioned before it was added).
GRAFANA_RULE_KINDS = {
    "isanfarm-soil-dry": models.SOIL_DRY,
    "isanfarm-thi-danger": models.HEAT_STRESS,
    "isanfarm-device-silent": models.DEVICE_OFFLINE,
    "isanfarm-cassava-forecast-stale": FORECAST_STALE,
    "isanfarm-cattle-forecast-stale": FORECAST_STALE,
}
#: Kinds whose reduced value (Grafana's ``values.B``) is the measured value of the message.
_MEASURED_BY_B = frozenset({models.SOIL_DRY, models.HEAT_STRESS})


class GrafanaPayloadError(ValueError):
    """A body that is not Grafana's webhook JSON."""


def grafana_events(
    payload: Mapping[str, Any],
    cooperative_of: Callable[[str], str | None],
    cooperatives: Callable[[], list[str]],
) -> list[AlertEvent]:
    """The alerts of one webhook call. An alert with a ``farm`` label belongs to that farm's
    cooperative (an unknown farm is logged and dropped); one without (the forecast-stale
    rules watch the whole platform) goes to every cooperative's staff."""
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise GrafanaPayloadError("'alerts': expected the list of Grafana's webhook JSON")
    events: list[AlertEvent] = []
    for alert in alerts:
        if not isinstance(alert, dict):
            raise GrafanaPayloadError("'alerts': each item must be an object")
        events.extend(_grafana_alert(alert, cooperative_of, cooperatives))
    return events


def _grafana_alert(
    alert: Mapping[str, Any],
    cooperative_of: Callable[[str], str | None],
    cooperatives: Callable[[], list[str]],
) -> Iterator[AlertEvent]:
    labels: Mapping[str, str] = alert.get("labels") or {}
    annotations: Mapping[str, str] = alert.get("annotations") or {}
    kind = labels.get("kind") or GRAFANA_RULE_KINDS.get(
        labels.get("__alert_rule_uid__", ""), labels.get("alertname", "grafana")
    )
    state = AlertState.RESOLVED if alert.get("status") == "resolved" else AlertState.FIRING
    since = _grafana_time(alert.get("startsAt"))
    if since is None:
        raise GrafanaPayloadError("'startsAt': expected an RFC 3339 time")
    values = _grafana_values(kind, alert, annotations, state)
    key = f"grafana:{alert.get('fingerprint') or labels.get('alertname')}:{int(since.timestamp())}"
    severity = Severity.CRITICAL if labels.get("severity") == "critical" else Severity.WARNING
    common: dict[str, Any] = {
        "state": state,
        "kind": kind,
        "since": since,
        "severity": severity,
        "values": values,
        "message": annotations.get("summary") or annotations.get("description") or "",
    }
    farm = labels.get("farm")
    if farm:
        cooperative = cooperative_of(farm)
        if cooperative is None:
            log.warning("Grafana alert %s for farm %r: no such farm in the registry", key, farm)
            return
        subject = labels.get("site") or labels.get("device") or farm
        yield AlertEvent(
            key=key, cooperative_id=cooperative, farm_id=farm, subject=subject, **common
        )
        return
    for cooperative in cooperatives():
        yield AlertEvent(
            key=f"{key}:{cooperative}",
            cooperative_id=cooperative,
            farm_id=None,
            subject=cooperative,
            **common,
        )


def _grafana_values(
    kind: str, alert: Mapping[str, Any], annotations: Mapping[str, str], state: AlertState
) -> dict[str, float | str]:
    values: dict[str, float | str] = {}
    threshold = annotations.get("threshold")
    if threshold is not None:
        try:
            values["threshold"] = float(threshold)
        except ValueError:
            log.warning("Grafana alert: threshold annotation %r is not a number", threshold)
    measured = (alert.get("values") or {}).get("B")
    if kind in _MEASURED_BY_B and isinstance(measured, int | float):
        values["value"] = float(measured)
    ended = _grafana_time(alert.get("endsAt"))
    if state is AlertState.RESOLVED and ended is not None:
        values["resolved_at"] = ended.timestamp()
    return values


_FRACTION = re.compile(r"(\.\d{6})\d+")


def _grafana_time(text: object) -> datetime | None:
    """RFC 3339 with up to nanoseconds (Go's format); Go's zero time means "not set"."""
    if not isinstance(text, str) or text.startswith("0001-01-01"):
        return None
    try:
        at = datetime.fromisoformat(_FRACTION.sub(r"\1", text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return _aware(at)
