"""``isanfarm notify``: intake, routing and delivery assembled into one service.

Three loops share one process: the registry poll (the project's alert engine: new and cleared
alerts every ``poll_interval_s``), the HTTP listener (LINE's webhook for linking, Grafana's
webhook contact point), and the deliverer that empties the durable outbox to LINE and e-mail.
Routing writes a notification into the outbox and then records, in the registry, what it
carried; both happen before the registry transaction commits, so a crash in between offers the
same notification again, which the outbox (idempotent by key) refuses.

The outbox and the deliverer are imported where the service starts, so routing and its tests
load without them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.orm import Session, sessionmaker

from notify import intake, routing, subscriptions
from notify.alert import AlertEvent
from notify.notification import Notification

if TYPE_CHECKING:
    from notify.settings import NotifySettings

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


def run(settings: NotifySettings, stop: threading.Event) -> None:
    """The service until ``stop`` is set: migrates the registry, opens the outbox, and runs
    the deliverer, the poll and the HTTP listener."""
    import uvicorn

    from notify.delivery import Deliverer
    from notify.outbox import NotificationOutbox
    from notify.webhook import create_app
    from registry.db import make_engine, migrate, session_factory

    engine = make_engine(settings.database_url)
    migrate(engine)
    sessions = session_factory(engine)
    outbox = NotificationOutbox(settings.outbox_path)
    deliverer = Deliverer(settings, outbox)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, sessions, outbox),
            host=settings.notify_host,
            port=settings.notify_port,
            log_level="warning",
        )
    )
    threads = [
        threading.Thread(target=deliverer.run, args=(stop,), name="notify-deliver"),
        threading.Thread(
            target=poll_forever,
            args=(sessions, outbox, settings.poll_interval_s, stop),
            name="notify-poll",
        ),
        threading.Thread(target=server.run, name="notify-http"),
    ]
    for thread in threads:
        thread.start()
    log.info("notify: listening on http://%s:%d", settings.notify_host, settings.notify_port)
    try:
        stop.wait()
    finally:
        stop.set()
        server.should_exit = True
        for thread in threads:
            thread.join(timeout=30)
        outbox.close()
        engine.dispose()
