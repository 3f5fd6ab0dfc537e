"""Routing alert events into the durable outbox: one registry poll, the poll loop, and the
step the Grafana webhook shares with them.

Routing writes a notification into the outbox and then records, in the registry, what it
carried; both happen before the registry transaction commits, so a crash in between offers the
same notification again, which the outbox (idempotent by key) refuses.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from notify import intake, routing, subscriptions
from notify.alert import AlertEvent
from notify.notification import Notification

log = logging.getLogger(__name__)


class Outbox(Protocol):
    """What routing needs of ``notify.outbox.NotificationOutbox``."""

    def put(self, notification: Notification) -> bool: ...


def route(
    session: Session, events: Sequence[AlertEvent], outbox: Outbox, now: datetime | None = None
) -> list[Notification]:
    """Put into ``outbox`` what ``events`` call for and was not routed before; returns the
    notifications offered (the outbox may already hold some: that is the point)."""
    at = now or datetime.now(UTC)
    if not events:
        return []
    located = [subscriptions.locate(session, event) for event in events]
    already = subscriptions.routed(session, {event.key for event in events})
    planned = routing.plan(located, lambda e: subscriptions.recipients(session, e), already, at)
    for item in planned:
        outbox.put(item.notification)
        subscriptions.record(session, item.marks, item.notification.key)
    return [item.notification for item in planned]


def poll_once(
    sessions: sessionmaker[Session], outbox: Outbox, now: datetime | None = None
) -> list[Notification]:
    """One look at the registry's alerts: the new, the still firing and the cleared."""
    at = now or datetime.now(UTC)
    with sessions() as session, session.begin():
        return route(session, intake.registry_events(session, at), outbox, at)


def poll_forever(
    sessions: sessionmaker[Session], outbox: Outbox, interval_s: float, stop: threading.Event
) -> None:
    """Poll until ``stop``; a failed poll (registry down) is logged and tried again."""
    while not stop.is_set():
        try:
            sent = poll_once(sessions, outbox)
            if sent:
                log.info("routed %d notification(s) from the registry's alerts", len(sent))
        except Exception:
            log.exception("polling the registry's alerts failed; trying again")
        stop.wait(interval_s)
