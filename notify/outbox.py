"""The durable notification outbox: every accepted notification is on disk before ``put``
returns, and stays there, with its state, until it is delivered or given up.

Durability: SQLite in WAL mode with ``synchronous=FULL``: each commit is fsynced, so a
``kill -9`` or a power cut after ``put`` loses nothing (as the edge agent's outbox,
``edge/outbox.py``). Notifications are few (alerts, not readings), so every state change is
fsynced too.

Never twice: ``put`` accepts a notification's idempotency ``key`` once, ever (delivered rows
stay as the record of what was sent). Each row gets a LINE retry key (a UUID) when it is
accepted, before any attempt, and every attempt sends that same key: after a crash between
LINE accepting a push and this file saying so, the retry is answered 409 ("already accepted")
instead of reaching the farmer a second time. ``begin_attempt`` is committed before each
attempt, so a notification that may have reached LINE is never folded into a digest (which
would be a new message with a new key).

States: ``pending`` (waiting for its next attempt), ``delivered``, ``dead`` (refused or given
up, with the reason) and ``folded`` (carried by the digest row ``digest_id``).

Thread-safe: the service's intake puts while the deliverer takes; another process (the CLI
listing dead letters) may open the same file.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from notify.notification import Channel, Notification

SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    text TEXT NOT NULL,
    title TEXT NOT NULL,
    critical INTEGER NOT NULL,
    cooperative_id TEXT NOT NULL,
    farm_id TEXT,
    not_before REAL,
    accepted_at REAL NOT NULL,
    retry_key TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    -- 'told': the receiver said when to come back (Retry-After, monthly limit); such a wait is
    -- kept even when the channel is seen working again.
    wait_kind TEXT NOT NULL DEFAULT 'backoff',
    last_error TEXT,
    delivered_at REAL,
    request_id TEXT,
    dead_reason TEXT,
    digest_id INTEGER
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS notifications_address ON notifications (channel, address, state);
CREATE TABLE IF NOT EXISTS line_usage (
    month TEXT PRIMARY KEY,
    messages INTEGER NOT NULL
);
"""

_COLUMNS = (
    "id, key, channel, address, text, title, critical, cooperative_id, farm_id, not_before, "
    "accepted_at, retry_key, state, attempts, next_attempt_at, last_error, delivered_at, "
    "request_id, dead_reason"
)


class State(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    FOLDED = "folded"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: int
    notification: Notification
    retry_key: str
    state: State
    attempts: int
    accepted_at: float
    next_attempt_at: float
    last_error: str | None = None
    delivered_at: float | None = None
    request_id: str | None = None
    dead_reason: str | None = None

    @property
    def eligible_at(self) -> float:
        """When it could first go: accepted, and past its ``not_before``."""
        return max(self.accepted_at, self.notification.not_before or 0.0)


class NotificationOutbox:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        #: Set by every accepted ``put``: the deliverer's wake-up.
        self.arrived = threading.Event()
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        with self._db:
            self._db.executescript(SCHEMA)

    def put(self, notification: Notification, now: float | None = None) -> bool:
        """Accept a notification, committed and fsynced before returning. False, and nothing
        stored, if its key was accepted before (whatever became of it since)."""
        at = time.time() if now is None else now
        n = notification
        with self._lock, self._db:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO notifications (key, channel, address, text, title, "
                "critical, cooperative_id, farm_id, not_before, accepted_at, retry_key, "
                "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    n.key,
                    n.channel.value,
                    n.address,
                    n.text,
                    n.title,
                    int(n.critical),
                    n.cooperative_id,
                    n.farm_id,
                    n.not_before,
                    at,
                    str(uuid.uuid4()),
                    max(at, n.not_before or 0.0),
                ),
            )
        accepted = cursor.rowcount == 1
        if accepted:
            self.arrived.set()
        return accepted

    def due(self, now: float, limit: int = 100) -> list[OutboxEntry]:
        """Pending notifications whose time has come, oldest first. One person's messages go
        in the order they were accepted: none is due while an older one to the same address
        waits for a retry (a "resolved" never overtakes its "firing")."""
        return self._select(
            f"SELECT {_COLUMNS} FROM notifications AS n WHERE state = 'pending' "
            "AND next_attempt_at <= ? AND NOT EXISTS (SELECT 1 FROM notifications AS o "
            "WHERE o.state = 'pending' AND o.channel = n.channel AND o.address = n.address "
            "AND o.id < n.id AND o.attempts > 0) ORDER BY id LIMIT ?",
            (now, limit),
        )

    def oldest_waiting(self, channel: Channel) -> OutboxEntry | None:
        """The oldest pending notification of ``channel`` that failed and backs off (not one
        the receiver told to wait): the deliverer's probe of a failing channel."""
        rows = self._select(
            f"SELECT {_COLUMNS} FROM notifications WHERE state = 'pending' AND channel = ? "
            "AND attempts > 0 AND wait_kind = 'backoff' ORDER BY id LIMIT 1",
            (channel.value,),
        )
        return rows[0] if rows else None

    def next_attempt_at(self) -> float | None:
        """The earliest time any pending notification is due (None when none is pending)."""
        rows = self._fetch("SELECT MIN(next_attempt_at) FROM notifications WHERE state = 'pending'")
        return None if rows[0][0] is None else float(rows[0][0])

    def begin_attempt(self, entry_id: int) -> None:
        """Count the attempt before it is made, so that a crash mid-attempt leaves the row
        marked as possibly sent (never folded into a digest, kept in its person's order)."""
        self._write("UPDATE notifications SET attempts = attempts + 1 WHERE id = ?", (entry_id,))

    def mark_delivered(
        self,
        entry_id: int,
        at: float,
        request_id: str | None = None,
        line_month: str | None = None,
    ) -> None:
        """Delivered; ``line_month`` given: one more LINE message used in that month."""
        with self._lock, self._db:
            self._db.execute(
                "UPDATE notifications SET state = 'delivered', delivered_at = ?, "
                "request_id = ?, last_error = NULL WHERE id = ?",
                (at, request_id, entry_id),
            )
            if line_month is not None:
                self._db.execute(
                    "INSERT INTO line_usage (month, messages) VALUES (?, 1) "
                    "ON CONFLICT (month) DO UPDATE SET messages = messages + 1",
                    (line_month,),
                )

    def schedule_retry(self, entry_id: int, at: float, error: str, told: bool = False) -> None:
        """Try again at ``at``; ``told``: the receiver set that time, keep it (see
        ``retry_now``)."""
        self._write(
            "UPDATE notifications SET next_attempt_at = ?, last_error = ?, wait_kind = ? "
            "WHERE id = ? AND state = 'pending'",
            (at, error, "told" if told else "backoff", entry_id),
        )

    def retry_now(self, channel: Channel, now: float) -> int:
        """The channel works again (an attempt just went through): bring forward the
        retries that were only backing off from its failures, not those it asked to wait.
        Returns how many."""
        return self._write(
            "UPDATE notifications SET next_attempt_at = ? WHERE state = 'pending' "
            "AND channel = ? AND attempts > 0 AND next_attempt_at > ? AND wait_kind = 'backoff'",
            (now, channel.value, now),
        )

    def mark_dead(self, entry_id: int, reason: str) -> None:
        self._write(
            "UPDATE notifications SET state = 'dead', dead_reason = ? WHERE id = ?",
            (reason, entry_id),
        )

    def fold(self, members: Sequence[OutboxEntry], digest: Notification, now: float) -> bool:
        """Replace never-attempted pending ``members`` by one ``digest`` notification, in one
        transaction. False (nothing changed) if any member was attempted or left pending
        meanwhile, or the digest's key is taken."""
        ids = [m.id for m in members]
        marks = ",".join("?" * len(ids))
        with self._lock, self._db:
            fresh = self._db.execute(
                f"SELECT COUNT(*) FROM notifications WHERE id IN ({marks}) "
                "AND state = 'pending' AND attempts = 0",
                ids,
            ).fetchone()[0]
            if fresh != len(ids):
                return False
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO notifications (key, channel, address, text, title, "
                "critical, cooperative_id, farm_id, accepted_at, retry_key, next_attempt_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    digest.key,
                    digest.channel.value,
                    digest.address,
                    digest.text,
                    digest.title,
                    int(digest.critical),
                    digest.cooperative_id,
                    digest.farm_id,
                    now,
                    str(uuid.uuid4()),
                    now,
                ),
            )
            if cursor.rowcount != 1:
                return False
            self._db.execute(
                f"UPDATE notifications SET state = 'folded', digest_id = ? WHERE id IN ({marks})",
                [cursor.lastrowid, *ids],
            )
        return True

    def entry(self, key: str) -> OutboxEntry | None:
        rows = self._select(f"SELECT {_COLUMNS} FROM notifications WHERE key = ?", (key,))
        return rows[0] if rows else None

    def entries(self, state: State | None = None, limit: int = 1000) -> list[OutboxEntry]:
        """Oldest first; ``state`` given: only those (``State.DEAD``: the dead letters)."""
        if state is None:
            return self._select(
                f"SELECT {_COLUMNS} FROM notifications ORDER BY id LIMIT ?", (limit,)
            )
        return self._select(
            f"SELECT {_COLUMNS} FROM notifications WHERE state = ? ORDER BY id LIMIT ?",
            (state.value, limit),
        )

    def counts(self) -> dict[State, int]:
        """How many notifications are in each state (every state present, 0 if none)."""
        rows = self._fetch("SELECT state, COUNT(*) FROM notifications GROUP BY state")
        found = {State(state): int(count) for state, count in rows}
        return {state: found.get(state, 0) for state in State}

    def line_usage(self, month: str) -> int:
        """LINE messages this outbox saw delivered in ``month`` ("YYYY-MM")."""
        rows = self._fetch("SELECT messages FROM line_usage WHERE month = ?", (month,))
        return int(rows[0][0]) if rows else 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- plumbing -------------------------------------------------------------------------

    def _fetch(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(query, params).fetchall()

    def _write(self, query: str, params: Sequence[Any]) -> int:
        with self._lock, self._db:
            return self._db.execute(query, params).rowcount

    def _select(self, query: str, params: Sequence[Any]) -> list[OutboxEntry]:
        return [_entry(row) for row in self._fetch(query, params)]


def _entry(row: tuple[Any, ...]) -> OutboxEntry:
    (
        entry_id,
        key,
        channel,
        address,
        text,
        title,
        critical,
        cooperative_id,
        farm_id,
        not_before,
        accepted_at,
        retry_key,
        state,
        attempts,
        next_attempt_at,
        last_error,
        delivered_at,
        request_id,
        dead_reason,
    ) = row
    notification = Notification(
        key=key,
        channel=Channel(channel),
        address=address,
        text=text,
        title=title,
        critical=bool(critical),
        cooperative_id=cooperative_id,
        farm_id=farm_id,
        not_before=not_before,
    )
    return OutboxEntry(
        id=entry_id,
        notification=notification,
        retry_key=retry_key,
        state=State(state),
        attempts=attempts,
        accepted_at=accepted_at,
        next_attempt_at=next_attempt_at,
        last_error=last_error,
        delivered_at=delivered_at,
        request_id=request_id,
        dead_reason=dead_reason,
    )
