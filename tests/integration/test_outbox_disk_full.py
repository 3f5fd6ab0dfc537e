"""A full disk never stops the agent: the outbox keeps the newest readings it can, counts every
reading it could not keep, and its counts match the file after every failure.

The disk is a real small filesystem (a tmpfs mounted for the test, which needs root), so that
SQLite meets ENOSPC where it really does: in the write-ahead log, at COMMIT."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.outbox import DISK_RESERVE_BYTES, Outbox, Pending
from tests.helpers import mounted_tmpfs

MiB = 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    yield from mounted_tmpfs(tmp_path / "disk", "2m")


@pytest.fixture
def six_mib_disk(tmp_path: Path) -> Iterator[Path]:
    yield from mounted_tmpfs(tmp_path / "disk", "6m")


def free_bytes(directory: Path) -> int:
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize


def interval(first: int, count: int = 10) -> list[Pending]:
    return [Pending("t", b"x" * 200, first + i) for i in range(count)]


def rows_in(path: Path) -> int:
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(reader.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    finally:
        reader.close()


def test_the_outbox_stops_growing_while_the_disk_still_has_room_for_sqlite(
    six_mib_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A day offline on a small card: far more readings than fit. The oldest give way, the
    newest are kept, the disk keeps room for SQLite to work, and nothing is lost uncounted."""
    outbox = Outbox(six_mib_disk / "o.sqlite")
    put = 0
    with caplog.at_level(logging.WARNING, logger="edge.outbox"):
        for _ in range(3000):  # 6 MB of payload
            outbox.put(interval(put))
            put += 10
            assert outbox.depth() + outbox.dropped() == put
    assert free_bytes(six_mib_disk) > DISK_RESERVE_BYTES // 2
    assert outbox.depth() > 1000, "a backlog is kept while there is room for it"
    assert outbox.next_batch(1, newest=True)[0].ts_ms == put - 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("stops growing" in r.getMessage() for r in caplog.records)
    depth, dropped = outbox.depth(), outbox.dropped()
    outbox.close()
    again = Outbox(six_mib_disk / "o.sqlite")
    assert (again.depth(), again.dropped()) == (depth, dropped)
    again.close()


def full_outbox(disk: Path) -> tuple[Outbox, int]:
    """An outbox with no reserve on a disk filled up (by it and by a file beside it): the
    state in which SQLite can write nothing. Returns it and the number of readings put."""
    (disk / "other-program.log").write_bytes(bytes(MiB // 2))
    outbox = Outbox(disk / "o.sqlite", disk_reserve_bytes=0)
    put = 0
    while free_bytes(disk) > 0 or outbox.dropped() == 0:
        outbox.put(interval(put))
        put += 10
    return outbox, put


def test_on_a_full_disk_put_counts_its_readings_as_dropped_and_does_not_raise(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="edge.outbox"):
        outbox, put = full_outbox(small_disk)
        depth = outbox.depth()
        for _ in range(20):
            outbox.put(interval(put))
            put += 10
            assert outbox.depth() == depth == rows_in(small_disk / "o.sqlite")
            assert outbox.depth() + outbox.dropped() == put
    [message] = [r.getMessage() for r in caplog.records]
    assert "the disk is full" in message
    assert "journalctl --vacuum-size" in message, "it says what to free"


def test_once_space_is_freed_readings_are_stored_again_and_the_drops_are_saved(
    small_disk: Path,
) -> None:
    outbox, put = full_outbox(small_disk)
    dropped_while_full = outbox.dropped()
    (small_disk / "other-program.log").unlink()
    outbox.put(interval(put))
    assert outbox.next_batch(1, newest=True)[0].ts_ms == put + 9
    assert outbox.dropped() == dropped_while_full
    outbox.close()
    assert Outbox(small_disk / "o.sqlite", disk_reserve_bytes=0).dropped() == dropped_while_full


def test_on_a_full_disk_an_ack_does_not_raise_and_the_readings_stay_to_be_sent_again(
    small_disk: Path,
) -> None:
    outbox, _ = full_outbox(small_disk)
    depth = outbox.depth()
    outbox.ack(item.id for item in outbox.next_batch(5))
    # A delete may still fit in the log's last page; whichever happened, the count is true.
    assert outbox.depth() == rows_in(small_disk / "o.sqlite")
    assert outbox.depth() in (depth, depth - 5)
    (small_disk / "other-program.log").unlink()
    outbox.ack(item.id for item in outbox.next_batch(5))
    assert outbox.depth() == rows_in(small_disk / "o.sqlite") < depth
