"""The registry as routing reads it: who subscribes to an alert, what its subject is called,
and which alert states were already routed to whom.

Creating and deleting subscriptions and link codes is ``registry.subscriptions`` (the API's
admin routes use it too); this module only reads for routing and records what was routed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from notify.alert import AlertEvent
from notify.messages import Place
from notify.notification import Channel
from notify.routing import Located, Mark, Recipient
from registry import models


def recipients(session: Session, event: AlertEvent) -> list[Recipient]:
    """The subscriptions of the alert's farm, and its cooperative's staff subscriptions; a
    cooperative-wide alert (no farm) goes to the staff only."""
    s = models.Subscription
    farm: ColumnElement[bool] = s.farm_id.is_(None)
    if event.farm_id is not None:
        farm = or_(farm, s.farm_id == event.farm_id)
    rows = session.scalars(
        select(s).where(s.cooperative_id == event.cooperative_id, farm).order_by(s.id)
    )
    return [recipient(row) for row in rows]


def recipient(row: models.Subscription) -> Recipient:
    return Recipient(
        subscription_id=row.id,
        cooperative_id=row.cooperative_id,
        farm_id=row.farm_id,
        channel=Channel(row.channel),
        address=row.address,
        language=row.language,
        kinds=frozenset(k for k in row.kinds.split(",") if k),
        quiet=(row.quiet_start, row.quiet_end) if row.quiet_start and row.quiet_end else None,
        repeat_interval_s=row.repeat_interval_s,
    )


def locate(session: Session, event: AlertEvent) -> Located:
    """The alert with its subject's and farm's names from the registry (ids when missing)."""
    farm = session.get(models.Farm, event.farm_id) if event.farm_id else None
    farm_name = farm.name if farm is not None else None
    field = session.get(models.Field, event.subject)
    herd = None if field is not None else session.get(models.Herd, event.subject)
    if field is not None:
        place = Place("field", field.name, farm_name)
    elif herd is not None:
        place = Place("barn", herd.name, farm_name)
    elif (device := session.get(models.Device, event.subject)) is not None:
        place = Place("device", device.id, farm_name, _site_name(session, device.site))
    elif farm is not None and event.subject == farm.id:
        place = Place("farm", farm.name)
    elif event.farm_id is None:
        cooperative = session.get(models.Cooperative, event.cooperative_id)
        place = Place("cooperative", cooperative.name if cooperative else event.cooperative_id)
    else:
        place = Place("device" if "device" in event.kind else "farm", event.subject, farm_name)
    return Located(event, place, farm_name or place.name)


def _site_name(session: Session, site: str) -> str | None:
    field = session.get(models.Field, site)
    if field is not None:
        return field.name
    herd = session.get(models.Herd, site)
    return None if herd is None else herd.name


def routed(session: Session, alert_keys: Iterable[str]) -> set[Mark]:
    """What was already routed for these alerts, to any subscription."""
    keys = sorted(set(alert_keys))
    marks: set[Mark] = set()
    sent = models.NotifySent
    for start in range(0, len(keys), 500):  # bounded IN lists
        rows = session.scalars(select(sent).where(sent.alert_key.in_(keys[start : start + 500])))
        marks.update(
            Mark(r.subscription_id, r.alert_key, r.state, r.round, _aware(r.deliver_at).timestamp())
            for r in rows
        )
    return marks


def record(session: Session, marks: Sequence[Mark], notification_key: str) -> None:
    now = datetime.now(UTC)
    for m in marks:
        session.add(
            models.NotifySent(
                subscription_id=m.subscription_id,
                alert_key=m.alert_key,
                state=m.state,
                round=m.round,
                notification_key=notification_key,
                routed_at=now,
                deliver_at=datetime.fromtimestamp(m.deliver_at, UTC),
            )
        )
    session.flush()


def cooperative_of_farm(session: Session, farm_id: str) -> str | None:
    farm = session.get(models.Farm, farm_id)
    return None if farm is None else farm.cooperative_id


def cooperative_ids(session: Session) -> list[str]:
    return list(session.scalars(select(models.Cooperative.id).order_by(models.Cooperative.id)))


def _aware(at: datetime) -> datetime:
    """SQLite gives back naive datetimes; they were stored in UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
