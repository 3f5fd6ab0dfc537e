"""The durable outbox: every reading is on disk before it is published, until the broker has it.

paho-mqtt keeps unacknowledged QoS 1 messages in RAM only, so a power cut loses them; rural
gateways lose power and link for hours. Store-and-forward: ``put`` commits a reading,
``next_batch`` hands out the oldest not yet handed out, ``ack`` deletes what the broker
acknowledged.

Durability: SQLite in WAL mode with ``synchronous=FULL``, so each ``put`` is fsynced to the
write-ahead log before it returns: a ``kill -9`` *or a power loss* after ``put`` loses
nothing. ``NORMAL`` would survive a process crash but may lose the last commits on power loss,
which is the failure that matters on a Pi. The cost is one fsync per ``put`` (a whole
interval's readings go in one ``put``); bench/edge.py measures it. Deletions after a PUBACK
are committed without an fsync of their own (see ``_unsynced``).

Bounded disk: at most ``max_readings`` rows and about ``max_bytes`` of payload. Past either cap
the oldest rows are deleted and counted; freed pages are reused, so the file stops growing at
about the cap. The dropped count survives restarts.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    ts_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    topic: str
    payload: bytes
    ts_ms: int


@dataclass(frozen=True, slots=True)
class Pending:
    """A reading to store: where it goes, what it says, and its device time."""

    topic: str
    payload: bytes
    ts_ms: int


class Outbox:
    """Thread-safe: the sampler puts, the publisher takes and acks."""

    def __init__(
        self, path: Path, max_readings: int = 1_000_000, max_bytes: int = 256 * 1024 * 1024
    ) -> None:
        if max_readings < 1 or max_bytes < 1:
            raise ValueError("outbox caps must be >= 1")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_readings = max_readings
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._count = self._bytes = 0
        self._recount()

    def put(self, readings: Sequence[Pending]) -> None:
        """Commit readings durably (one fsync for all of them); drop the oldest past the cap."""
        if not readings:
            return
        with self._lock, self._transaction():
            self._db.executemany(
                "INSERT INTO outbox (topic, payload, ts_ms) VALUES (?, ?, ?)",
                [(r.topic, r.payload, r.ts_ms) for r in readings],
            )
            self._count += len(readings)
            self._bytes += sum(len(r.payload) for r in readings)
            self._enforce_caps()

    def next_batch(
        self, limit: int, exclude: Iterable[int] = (), newest: bool = False
    ) -> list[OutboxItem]:
        """Up to ``limit`` stored readings not in ``exclude``, oldest first (or newest first)."""
        excluded = set(exclude)
        order = "DESC" if newest else "ASC"
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, topic, payload, ts_ms FROM outbox ORDER BY id {order} LIMIT ?",
                (limit + len(excluded),),
            ).fetchall()
        items = [OutboxItem(*row) for row in rows if row[0] not in excluded]
        return items[:limit]

    def ack(self, ids: Iterable[int]) -> None:
        """Forget readings the broker has acknowledged (unknown ids are ignored)."""
        keys = list(ids)
        if not keys:
            return
        with self._lock, self._unsynced(), self._transaction():
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                removed = self._db.execute(
                    f"DELETE FROM outbox WHERE id IN ({marks}) RETURNING LENGTH(payload)", chunk
                ).fetchall()
                self._count -= len(removed)
                self._bytes -= sum(size for (size,) in removed)

    def depth(self) -> int:
        with self._lock:
            return int(self._count)

    def oldest_ts_ms(self) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT ts_ms FROM outbox ORDER BY id LIMIT 1").fetchone()
        return None if row is None else int(row[0])

    def max_id(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()
        return int(row[0])

    def dropped(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()
        return 0 if row is None else int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _enforce_caps(self) -> None:
        while self._count > self.max_readings or (self._bytes > self.max_bytes and self._count > 1):
            excess = max(self._count - self.max_readings, 1)
            removed = self._db.execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?) "
                "RETURNING LENGTH(payload)",
                (excess,),
            ).fetchall()
            self._count -= len(removed)
            self._bytes -= sum(size for (size,) in removed)
            self._db.execute(
                "INSERT INTO counters (name, value) VALUES ('dropped', ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (len(removed),),
            )

    @contextmanager
    def _unsynced(self) -> Iterator[None]:
        """Acknowledgements need no fsync: losing one to a power cut only means the reading
        is sent again, and the point key makes that harmless. The next ``put`` (FULL) syncs
        the log, acks included. Halves the fsyncs of a steady stream."""
        self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            yield
        finally:
            self._db.execute("PRAGMA synchronous=FULL")

    def _recount(self) -> None:
        row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox")
        self._count, self._bytes = row.fetchone()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """All of a put or an ack lands, or none of it (and the cached sizes are re-read)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            self._recount()
            raise
        self._db.execute("COMMIT")
