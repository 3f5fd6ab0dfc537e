"""An alert as the notifier sees it, whichever engine raised it (the project's own alert list in
the registry, or Grafana's webhook contact point): the input of routing and rendering."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class AlertState(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class AlertEvent:
    #: Stable across the alert's life, so "firing" and "resolved" of one alert pair up and a
    #: repeated delivery of the same state is recognised (registry alert id, or Grafana's
    #: fingerprint).
    key: str
    state: AlertState
    kind: str
    cooperative_id: str
    farm_id: str | None
    #: The field, herd, barn or device concerned.
    subject: str
    since: datetime
    severity: Severity = Severity.WARNING
    #: What was measured against which threshold, e.g. {"value": 7.2, "threshold": 8.0,
    #: "unit": "%"}; empty when the source does not say.
    values: dict[str, float | str] = field(default_factory=dict)
    #: The source's own sentence, used when no template knows the kind.
    message: str = ""
