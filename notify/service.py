"""``isanfarm notify``: intake, routing and delivery assembled into one service.

Three loops share one process: the registry poll (the project's alert engine: new and cleared
alerts every ``poll_interval_s``), the HTTP listener (LINE's webhook for linking, Grafana's
webhook contact point), and the deliverer that empties the durable outbox to LINE and e-mail.
Routing lives in ``notify.dispatch``, which the webhook shares.

The outbox, the deliverer and the HTTP server are imported where the service starts, so the
CLI's other subcommands load without them.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from notify.dispatch import poll_forever

if TYPE_CHECKING:
    from notify.settings import NotifySettings

log = logging.getLogger(__name__)


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
