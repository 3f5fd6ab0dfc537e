"""A damaged outbox file (an SD card after a power cut) never stops the agent: it is set aside,
kept for recovery, and the outbox carries on empty, whether the damage shows at open or later."""

from __future__ import annotations

import logging
import os
import random
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.outbox import Outbox, Pending

PAGE = 4096
ASIDE_NAME = re.compile(r"o\.sqlite\.corrupt-\d{8}T\d{6}Z")


def readings(first: int, count: int, size: int = 100) -> list[Pending]:
    return [
        Pending("t", f"reading-{first + i:05d}-".encode().ljust(size, b"."), first + i)
        for i in range(count)
    ]


def stored_outbox(path: Path, count: int = 3000, size: int = 100, cap: int = 1_000_000) -> None:
    """A healthy outbox file that was given ``count`` readings, all checkpointed into it."""
    outbox = Outbox(path, max_readings=cap)
    outbox.put(readings(0, count, size))
    outbox.close()


def random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(1).randbytes(8 * PAGE))


def truncated(path: Path) -> None:
    stored_outbox(path)
    os.truncate(path, path.stat().st_size // 2)


def page_overwritten_in_the_middle(path: Path) -> None:
    stored_outbox(path)
    middle = path.stat().st_size // PAGE // 2
    overwrite_page(path, middle)


def overwrite_page(path: Path, page: int) -> None:
    with open(path, "r+b") as handle:
        handle.seek(page * PAGE)
        handle.write(random.Random(page).randbytes(PAGE))


def set_aside(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if ASIDE_NAME.fullmatch(p.name))


@pytest.mark.parametrize("damage", [random_bytes, truncated, page_overwritten_in_the_middle])
def test_a_damaged_file_is_set_aside_unchanged_and_a_fresh_outbox_works(
    tmp_path: Path, damage: Callable[[Path], None], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "o.sqlite"
    damage(path)
    damaged_bytes = path.read_bytes()

    with caplog.at_level(logging.ERROR, logger="edge.outbox"):
        outbox = Outbox(path)

    [aside] = set_aside(tmp_path)
    assert aside.read_bytes() == damaged_bytes, "the damaged file is kept as it was"
    assert outbox.corrupt_files_set_aside == 1
    assert (outbox.depth(), outbox.dropped()) == (0, 0)
    [message] = [r.getMessage() for r in caplog.records]
    assert str(aside) in message
    assert ".recover" in message
    outbox.put(readings(100, 3))
    batch = outbox.next_batch(10)
    assert [item.ts_ms for item in batch] == [100, 101, 102]
    outbox.ack([batch[0].id])
    assert outbox.depth() == 2
    outbox.close()
    assert Outbox(path).depth() == 2, "the fresh file is a healthy outbox after a restart"


def test_a_healthy_file_is_left_in_place(tmp_path: Path) -> None:
    stored_outbox(tmp_path / "o.sqlite", count=10)
    outbox = Outbox(tmp_path / "o.sqlite")
    assert (outbox.depth(), outbox.corrupt_files_set_aside) == (10, 0)
    assert set_aside(tmp_path) == []


def damaged_copy_with_its_log(path: Path) -> None:
    """A copy taken while the outbox was open, so that its newest readings (ts 5000 to 5004)
    are only in the write-ahead log; then a page in the middle of the copy goes bad."""
    original = path.with_name("original.sqlite")
    stored_outbox(original)
    live = Outbox(original)
    live.put(readings(5000, 5))
    for suffix in ("", "-wal"):
        shutil.copy(f"{original}{suffix}", f"{path}{suffix}")
    live.close()
    overwrite_page(path, path.stat().st_size // PAGE // 2)


def test_the_readings_only_the_log_held_stay_with_the_file_set_aside(tmp_path: Path) -> None:
    """The log holds the newest readings until a checkpoint: a file set aside without them
    would lose exactly those. (SQLite may checkpoint them into the file as it closes it.)"""
    path = tmp_path / "o.sqlite"
    damaged_copy_with_its_log(path)

    Outbox(path).close()

    [aside] = set_aside(tmp_path)
    newest = sqlite3.connect(aside).execute("SELECT ts_ms FROM outbox WHERE id > 3000")
    assert [ts for (ts,) in newest] == [5000, 5001, 5002, 5003, 5004]


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="needs the sqlite3 shell")
def test_an_operator_can_recover_readings_from_the_file_set_aside(tmp_path: Path) -> None:
    """As the error message says, with .dump, which every sqlite3 shell has (.recover needs
    one built with the dbpage table): a dump that met damage ends in a ROLLBACK."""
    path = tmp_path / "o.sqlite"
    damaged_copy_with_its_log(path)
    Outbox(path).close()
    [aside] = set_aside(tmp_path)
    recovered = tmp_path / "recovered.sqlite"
    dump = subprocess.run(["sqlite3", aside, ".dump"], capture_output=True).stdout
    script = dump.replace(b"ROLLBACK; -- due to errors", b"COMMIT;")
    subprocess.run(["sqlite3", recovered], input=script, capture_output=True, check=True)
    ts = [t for (t,) in sqlite3.connect(recovered).execute("SELECT ts_ms FROM outbox")]
    assert ts[-5:] == [5000, 5001, 5002, 5003, 5004], "the readings only the log held"
    assert 2900 < len(ts) < 3005, "and most others: only those on the bad page are lost"


def outbox_with_its_oldest_page_damaged(path: Path, given: int = 4000, cap: int = 4000) -> Outbox:
    """Damage that shows only mid-run: the file passes the check at open, then the page with
    the oldest readings goes bad. The file is larger than SQLite's page cache, so that page
    is read from disk again when it is needed. At the cap, a put deletes the oldest
    readings, and so reads that page."""
    stored_outbox(path, count=given, size=2000, cap=cap)
    outbox = Outbox(path, max_readings=cap)
    oldest = max(given - cap, 0)
    overwrite_page(path, path.read_bytes().index(f"reading-{oldest:05d}-".encode()) // PAGE)
    return outbox


def test_damage_found_by_a_put_sets_the_file_aside_and_keeps_the_new_reading(
    tmp_path: Path,
) -> None:
    outbox = outbox_with_its_oldest_page_damaged(tmp_path / "o.sqlite")
    outbox.put(readings(9000, 1))
    assert outbox.corrupt_files_set_aside == 1
    assert len(set_aside(tmp_path)) == 1
    [item] = outbox.next_batch(10)
    assert item.ts_ms == 9000
    assert item.id > 4000, "ids keep rising: the publisher may still hold the old ones"
    outbox.ack(range(1, 4001))  # acks for readings of the file set aside
    assert [i.ts_ms for i in outbox.next_batch(10)] == [9000]


def test_damage_found_by_next_batch_or_ack_sets_the_file_aside(tmp_path: Path) -> None:
    taker = outbox_with_its_oldest_page_damaged(tmp_path / "a" / "o.sqlite", cap=1_000_000)
    assert taker.next_batch(5) == []
    acker = outbox_with_its_oldest_page_damaged(tmp_path / "b" / "o.sqlite", cap=1_000_000)
    acker.ack([1, 2])
    for outbox, directory in ((taker, tmp_path / "a"), (acker, tmp_path / "b")):
        assert (outbox.corrupt_files_set_aside, outbox.depth()) == (1, 0)
        assert len(set_aside(directory)) == 1
        outbox.put(readings(9000, 2))
        assert [i.ts_ms for i in outbox.next_batch(5)] == [9000, 9001]


def test_the_dropped_count_survives_a_file_set_aside(tmp_path: Path) -> None:
    outbox = outbox_with_its_oldest_page_damaged(tmp_path / "o.sqlite", given=4010, cap=4000)
    assert outbox.dropped() == 10
    outbox.put(readings(9000, 1))
    assert outbox.corrupt_files_set_aside == 1
    assert outbox.dropped() == 10
    outbox.close()
    assert Outbox(tmp_path / "o.sqlite").dropped() == 10, "and is written to the fresh file"
