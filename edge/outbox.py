"""The durable outbox: every reading is on disk before it is published, until it is confirmed.

paho-mqtt keeps unacknowledged QoS 1 messages in RAM only, so a power cut loses them; rural
gateways lose power and link for hours. Store-and-forward: ``put`` commits a reading,
``next_batch`` hands out the oldest not yet handed out, ``ack`` deletes what is confirmed:
stored, by ingest's receipt, or taken, by the broker's PUBACK (edge/delivery.py). A reading
sent and not yet confirmed is still a row here, so the caps and the full-disk rules below
count it like any other.

Durability: SQLite in WAL mode with ``synchronous=FULL``, so each ``put`` is fsynced to the
write-ahead log before it returns: a ``kill -9`` *or a power loss* after ``put`` loses
nothing. ``NORMAL`` would survive a process crash but may lose the last commits on power loss,
which is the failure that matters on a Pi. The cost is one fsync per ``put`` (a whole
interval's readings go in one ``put``); bench/edge.py measures it. Deletions after a PUBACK
are committed without an fsync of their own (see ``_unsynced``).

Bounded disk: at most ``max_readings`` rows and about ``max_bytes`` of payload. Past either cap
the oldest rows are deleted and counted; freed pages are reused, so the file stops growing at
about the cap. The dropped count survives restarts.

A damaged file does not stop the agent: an agent that exits on it is restarted by systemd onto
the same file and collects nothing, for as long as nobody visits the farm. A file SQLite cannot
use (at open, or found mid-run) is set aside as ``<name>.corrupt-<UTC time>``, never deleted
(``sqlite3 <that file> .recover`` gets back what is readable), and the outbox carries on empty.

A full disk does not stop it either. In WAL mode a disk with no byte left cannot take even a
DELETE (it is appended to the log), and a checkpoint may need to grow the database: nothing can
be written until something else frees space. So the outbox keeps SQLite out of that state: when
free space comes within reach of the log's growth, each put checkpoints, so that the log is
rewritten from its start instead of growing; below ``disk_reserve_bytes`` free, the outbox stops
growing (each put first drops about as many bytes of the oldest readings as it adds). If the
disk fills anyway (another program), a put drops the oldest readings to make room, and failing
that counts its own readings as dropped: it never raises for a full disk.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from edge.statefiles import aside_path

log = logging.getLogger(__name__)

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

#: Free space below which the outbox stops growing: room for SQLite to write a put and its
#: checkpoint. Far more than that needs, and nothing on an SD card.
DISK_RESERVE_BYTES = 1024 * 1024
#: How far the write-ahead log may grow between SQLite's own checkpoints (1000 pages).
LOG_GROWTH_BYTES = 1000 * 4096
#: Rounds of "drop the oldest, try again" on a full disk, each dropping 4 times more.
FULL_DISK_ATTEMPTS = 3
#: SQLite's primary result codes for a file it cannot read as a database.
CORRUPTION_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
#: Where to look for space on a Pi whose SD card is full.
SPACE_HINT = (
    "free space on it (check with 'df -h' and 'du -xsh /var/* /home/*'; usual culprits are "
    "the journal: 'journalctl --vacuum-size=50M', apt's cache: 'apt-get clean', and old files "
    "in /var/log and /tmp)"
)

P = ParamSpec("P")
T = TypeVar("T")


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


class _DamagedFileError(Exception):
    """The outbox file is one SQLite cannot use, or can use only in part."""


class Outbox:
    """Thread-safe: the sampler puts, the publisher takes and acks."""

    def __init__(
        self,
        path: Path,
        max_readings: int = 1_000_000,
        max_bytes: int = 256 * 1024 * 1024,
        disk_reserve_bytes: int = DISK_RESERVE_BYTES,
    ) -> None:
        if max_readings < 1 or max_bytes < 1:
            raise ValueError("outbox caps must be >= 1")
        if disk_reserve_bytes < 0:
            raise ValueError(f"disk_reserve_bytes must be >= 0, got {disk_reserve_bytes}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_readings = max_readings
        self.max_bytes = max_bytes
        self.disk_reserve_bytes = disk_reserve_bytes
        #: Damaged files moved aside since this outbox was opened (for the health report).
        self.corrupt_files_set_aside = 0
        self._lock = threading.Lock()
        self._count = self._bytes = 0
        self._dropped_in_file = 0  # the file's 'dropped' counter
        self._dropped_unsaved = 0  # dropped where the file could not count them (yet)
        self._last_id = 0  # the highest id ever stored: ids never repeat, even in a fresh file
        self._not_growing = self._disk_full = False
        self._open_usable()

    def put(self, readings: Sequence[Pending]) -> None:
        """Commit readings durably (one fsync for all of them); drop the oldest past the cap.
        A full disk drops readings (counted) but never raises: the agent must keep going."""
        if not readings:
            return
        with self._lock:
            try:
                self._guarded(self._store, readings)
            except sqlite3.OperationalError as exc:
                if not _is_disk_full(exc):
                    raise
                self._store_on_full_disk(readings)

    def next_batch(
        self, limit: int, exclude: Iterable[int] = (), newest: bool = False
    ) -> list[OutboxItem]:
        """Up to ``limit`` stored readings not in ``exclude``, oldest first (or newest first)."""
        excluded = set(exclude)
        order = "DESC" if newest else "ASC"
        query = f"SELECT id, topic, payload, ts_ms FROM outbox ORDER BY id {order} LIMIT ?"
        with self._lock:
            rows = self._guarded(self._fetch_all, query, (limit + len(excluded),))
        items = [OutboxItem(*row) for row in rows if row[0] not in excluded]
        return items[:limit]

    def ack(self, ids: Iterable[int]) -> None:
        """Forget readings the broker has acknowledged (unknown ids are ignored). On a full
        disk they may stay stored and be sent again, which the point key makes harmless."""
        keys = list(ids)
        if not keys:
            return
        with self._lock:
            for _ in range(2):
                try:
                    self._guarded(self._delete, keys)
                    return
                except sqlite3.OperationalError as exc:
                    if not _is_disk_full(exc):
                        raise
                    self._checkpoint()
            self._report_disk_full(f"{len(keys)} acknowledged reading(s) stay stored")

    def items(self, ids: Iterable[int]) -> list[OutboxItem]:
        """The stored readings among ``ids``, oldest first (dropped or acknowledged ones are
        simply absent): what the publisher sends again."""
        keys = sorted(set(ids))
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        query = f"SELECT id, topic, payload, ts_ms FROM outbox WHERE id IN ({marks}) ORDER BY id"
        with self._lock:
            rows = self._guarded(self._fetch_all, query, tuple(keys))
        return [OutboxItem(*row) for row in rows]

    def depth(self) -> int:
        with self._lock:
            return int(self._count)

    def oldest_ts_ms(self) -> int | None:
        with self._lock:
            rows = self._guarded(self._fetch_all, "SELECT ts_ms FROM outbox ORDER BY id LIMIT 1")
        return int(rows[0][0]) if rows else None

    def max_id(self) -> int:
        with self._lock:
            rows = self._guarded(self._fetch_all, "SELECT COALESCE(MAX(id), 0) FROM outbox")
        return int(rows[0][0])

    def dropped(self) -> int:
        with self._lock:
            return self._dropped_in_file + self._dropped_unsaved

    def highest_seq(self) -> int | None:
        """The highest ``seq`` among stored payloads (None if none has one): a floor for the
        sequence counter when its own file was lost. Reads every payload: call it at start."""
        with self._lock:
            return self._guarded(self._highest_stored_seq)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- opening and damage ----------------------------------------------------------------

    def _open_usable(self) -> None:
        """Open the file, or set it aside if SQLite cannot use it and open a fresh one."""
        try:
            self._open()
        except _DamagedFileError as damage:
            self._set_aside(damage)
            self._open()

    def _open(self) -> None:
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            with _damage_reported():
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.executescript(SCHEMA)
                self._check_integrity()
                self._recount()
                self._last_id = max(self._last_id, self._stored_last_id())
        except BaseException:
            with suppress(sqlite3.Error):
                self._db.close()
            raise

    def _check_integrity(self) -> None:
        """A damaged page in the middle may not show until a put reaches it. ``quick_check``
        reads every page once (about as long as the recount that follows) but skips the
        index cross-checks that make ``integrity_check`` slow."""
        (verdict,) = self._db.execute("PRAGMA quick_check(1)").fetchone()
        if verdict != "ok":
            raise _DamagedFileError("quick_check: " + " ".join(str(verdict).split()))

    def _guarded(self, action: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``action`` (the lock held). If SQLite finds the file damaged, set it aside and
        run ``action`` again on a fresh file, so that a put still stores its readings."""
        try:
            with _damage_reported():
                return action(*args, **kwargs)
        except _DamagedFileError as damage:
            self._set_aside(damage)
            self._open()
        return action(*args, **kwargs)

    def _set_aside(self, damage: _DamagedFileError) -> None:
        """Keep the damaged file under a name sqlite3 can still open it by; never delete it.
        Its log holds the newest rows: SQLite may checkpoint them into it as it is closed,
        or else the log goes aside with it. The dropped count carries over."""
        with suppress(sqlite3.Error):
            self._db.close()
        aside = aside_path(self.path)
        for suffix in ("", "-wal", "-shm"):
            try:
                os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise OSError(
                    f"{self.path}{suffix}: SQLite cannot use this outbox ({damage}) and it "
                    f"could not be moved aside ({exc.strerror}); move it away by hand"
                ) from exc
        self.corrupt_files_set_aside += 1
        self._dropped_unsaved += self._dropped_in_file
        self._dropped_in_file = 0
        log.error(
            "%s: SQLite cannot use this outbox (%s). Moved it to %s and started an empty "
            "one; the readings in it were not sent. To get back what is readable: "
            "sqlite3 %s .recover | sqlite3 recovered.sqlite (with a sqlite3 that has no "
            ".recover: .dump, its last line 'ROLLBACK; -- due to errors' changed to 'COMMIT;')",
            self.path,
            damage,
            aside,
            aside,
        )

    # ---- put -------------------------------------------------------------------------------

    def _store(self, readings: Sequence[Pending]) -> None:
        """One transaction: room made first if the disk is low, the readings, the caps, the
        drops; then a checkpoint if the log must not grow."""
        free = _free_bytes(self.path.parent)
        stop_growing = self._stops_growing(free < self.disk_reserve_bytes)
        with self._transaction():
            if stop_growing:
                self._drop_oldest_bytes(sum(len(r.payload) for r in readings))
            self._insert(readings)
            self._enforce_caps()
            self._count_dropped(self._dropped_unsaved)
        self._last_id += len(readings)
        self._dropped_unsaved = 0
        if free < self.disk_reserve_bytes + LOG_GROWTH_BYTES:
            self._checkpoint()
        if self._disk_full:
            self._disk_full = False
            log.warning("%s: the disk has room again; readings are stored again", self.path)

    def _insert(self, readings: Sequence[Pending]) -> None:
        """Ids are given here, not by SQLite, so that they go on rising in a fresh file: the
        publisher may still hold ids from a file set aside, and their acks must not delete
        new readings."""
        first = self._last_id + 1
        self._db.executemany(
            "INSERT INTO outbox (id, topic, payload, ts_ms) VALUES (?, ?, ?, ?)",
            [(first + n, r.topic, r.payload, r.ts_ms) for n, r in enumerate(readings)],
        )
        self._count += len(readings)
        self._bytes += sum(len(r.payload) for r in readings)

    def _store_on_full_disk(self, readings: Sequence[Pending]) -> None:
        """The disk filled under the put (rolled back). Drop the oldest and try again, a few
        times with more each time; failing that, count these readings as dropped."""
        for attempt in range(FULL_DISK_ATTEMPTS):
            try:
                self._guarded(self._free_room, len(readings) * 4**attempt)
                self._guarded(self._store, readings)
                return
            except sqlite3.OperationalError as exc:
                if not _is_disk_full(exc):
                    raise
        self._dropped_unsaved += len(readings)
        self._report_disk_full(f"{len(readings)} new reading(s) dropped")

    def _free_room(self, rows: int) -> None:
        """The checkpoint copies the log into the database, so the log is written from its
        start again instead of growing; the delete frees pages that the insert reuses."""
        self._checkpoint()
        with self._transaction():
            dropped = self._drop_oldest(rows)
        self._checkpoint()
        if dropped:
            log.warning(
                "%s: the disk is full: dropped the %d oldest reading(s) to store new ones",
                self.path,
                dropped,
            )

    def _report_disk_full(self, consequence: str) -> None:
        """Once per spell of full disk: the agent would otherwise log this every interval."""
        if self._disk_full:
            return
        self._disk_full = True
        log.error(
            "%s: the disk is full (%s): until there is room, new readings are dropped "
            "(counted in 'dropped') and acknowledged ones may be sent again. Keep at least "
            "%s free on %s, more for a backlog: %s",
            self.path,
            consequence,
            _mib(self.disk_reserve_bytes),
            self.path.parent,
            SPACE_HINT,
        )

    def _stops_growing(self, low: bool) -> bool:
        """Says so when the outbox stops growing, and when it may grow again."""
        if low and not self._not_growing:
            log.warning(
                "%s: less than %s free on %s: the outbox stops growing, each new reading "
                "replaces the oldest. To keep a backlog, %s",
                self.path,
                _mib(self.disk_reserve_bytes),
                self.path.parent,
                SPACE_HINT,
            )
        elif self._not_growing and not low:
            log.warning("%s: there is room on the disk again; the outbox may grow", self.path)
        self._not_growing = low
        return low

    def _checkpoint(self) -> None:
        """Best effort: on a full disk it fails, and the write that needs it then says so."""
        with suppress(sqlite3.OperationalError):
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    # ---- dropping --------------------------------------------------------------------------

    def _enforce_caps(self) -> None:
        while self._count > self.max_readings or (self._bytes > self.max_bytes and self._count > 1):
            self._drop_oldest(max(self._count - self.max_readings, 1))

    def _drop_oldest_bytes(self, size: int) -> None:
        """About ``size`` bytes of the oldest readings, judged by their average size."""
        if self._count:
            average = max(self._bytes // self._count, 1)
            self._drop_oldest(-(-size // average))

    def _drop_oldest(self, rows: int) -> int:
        removed = self._db.execute(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?) "
            "RETURNING LENGTH(payload)",
            (rows,),
        ).fetchall()
        self._count -= len(removed)
        self._bytes -= sum(size for (size,) in removed)
        self._count_dropped(len(removed))
        return len(removed)

    def _count_dropped(self, dropped: int) -> None:
        if not dropped:
            return
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES ('dropped', ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (dropped,),
        )
        self._dropped_in_file += dropped

    # ---- reading and deleting --------------------------------------------------------------

    def _fetch_all(self, query: str, params: tuple[int, ...] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(query, params).fetchall()

    def _delete(self, keys: list[int]) -> None:
        with self._unsynced(), self._transaction():
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                removed = self._db.execute(
                    f"DELETE FROM outbox WHERE id IN ({marks}) RETURNING LENGTH(payload)", chunk
                ).fetchall()
                self._count -= len(removed)
                self._bytes -= sum(size for (size,) in removed)

    def _highest_stored_seq(self) -> int | None:
        payloads = self._db.execute("SELECT payload FROM outbox")
        seqs = (seq for (payload,) in payloads if (seq := seq_in_payload(payload)) is not None)
        return max(seqs, default=None)

    def _stored_last_id(self) -> int:
        row = self._db.execute("SELECT MAX(seq) FROM sqlite_sequence WHERE name = 'outbox'")
        return int(row.fetchone()[0] or 0)

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
        """The cached sizes and drops, as the file has them: the truth after any failure."""
        row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox")
        self._count, self._bytes = row.fetchone()
        row = self._db.execute("SELECT value FROM counters WHERE name = 'dropped'")
        self._dropped_in_file = int((row.fetchone() or (0,))[0])

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """All of a put or an ack lands, or none of it (and the cached sizes are re-read).
        The COMMIT is inside: in WAL mode it is the COMMIT that writes, and fails on a full
        disk."""
        self._db.execute("BEGIN IMMEDIATE")
        dropped_before = self._dropped_in_file  # for a file too damaged to be re-read
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            self._dropped_in_file = dropped_before
            self._roll_back()
            raise

    def _roll_back(self) -> None:
        """SQLite may have rolled back already (it does when a COMMIT finds the disk full),
        and a damaged file may refuse even this: the caller then sets it aside."""
        with suppress(sqlite3.DatabaseError):
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._recount()


@contextmanager
def _damage_reported() -> Iterator[None]:
    """SQLite's "file is not a database" and "database disk image is malformed" become
    ``_DamagedFileError``. Anything else (a full disk, a lock held by an operator's sqlite3 shell)
    passes through: setting aside a good file would hide its readings."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF in CORRUPTION_CODES:
            raise _DamagedFileError(str(exc)) from exc
        raise


def _is_disk_full(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_FULL


def _free_bytes(directory: Path) -> int:
    """Free space for an unprivileged writer; as good as unlimited where it cannot be read."""
    try:
        stats = os.statvfs(directory)
    except (OSError, AttributeError):  # AttributeError: no statvfs on Windows
        return sys.maxsize
    return stats.f_bavail * stats.f_frsize


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"


def seq_in_payload(payload: bytes) -> int | None:
    """The contract's ``seq`` of one stored payload, or None if it has none that parses."""
    try:
        body = json.loads(payload)
    except ValueError:  # includes a payload that is not UTF-8
        return None
    seq = body.get("seq") if isinstance(body, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None
