"""The notification outbox on a real SQLite file: what it keeps across a reopen, which
notifications are due, in which order, and folding for digests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from notify.notification import Channel, Notification
from notify.outbox import NotificationOutbox, State

pytestmark = pytest.mark.integration

NOW = 1_800_000_000.0
SOMCHAI = "U" + "1" * 32
MALEE = "U" + "2" * 32


def note(key: str, to: str = SOMCHAI, not_before: float | None = None) -> Notification:
    return Notification(
        key=key,
        channel=Channel.LINE,
        address=to,
        text=f"text of {key}",
        title=f"title of {key}",
        critical=False,
        cooperative_id="coop",
        farm_id="farm",
        not_before=not_before,
    )


def test_what_was_put_survives_a_killed_process_with_its_retry_key(tmp_path: Path) -> None:
    """``put`` in a child process that is then killed (SIGKILL, no clean close)."""
    path = tmp_path / "outbox.sqlite3"
    script = (
        "import os, signal, sys\n"
        "from notify.outbox import NotificationOutbox\n"
        "from notify.notification import Channel, Notification\n"
        "box = NotificationOutbox(__import__('pathlib').Path(sys.argv[1]))\n"
        "n = Notification('k1', Channel.LINE, 'U' + '1' * 32, 'ข้อความ', 't', True, 'c')\n"
        "assert box.put(n)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    child = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True)
    assert child.returncode == -9, child.stderr.decode()
    box = NotificationOutbox(path)
    entry = box.entry("k1")
    assert entry is not None
    assert entry.notification.text == "ข้อความ"
    assert entry.notification.critical
    assert entry.state is State.PENDING
    assert len(entry.retry_key) == 36
    box.close()
    again = NotificationOutbox(path)
    assert again.entry("k1") == entry, "the retry key is stored, not drawn again"
    assert not again.put(note("k1")), "nor is the key accepted again after a restart"
    again.close()


def test_due_is_oldest_first_honours_not_before_and_keeps_one_persons_order(
    tmp_path: Path,
) -> None:
    box = NotificationOutbox(tmp_path / "outbox.sqlite3")
    box.put(note("a"), now=NOW)
    box.put(note("b"), now=NOW + 1)
    box.put(note("m", to=MALEE), now=NOW + 2)
    box.put(note("later", to=MALEE, not_before=NOW + 100), now=NOW + 3)
    assert [e.notification.key for e in box.due(NOW + 10)] == ["a", "b", "m"]
    first = box.due(NOW + 10)[0]
    box.begin_attempt(first.id)
    box.schedule_retry(first.id, NOW + 60, "503")
    assert [e.notification.key for e in box.due(NOW + 10)] == ["m"], "b waits behind a"
    assert box.next_attempt_at() == NOW + 1
    assert box.retry_now(Channel.LINE, NOW + 11) == 1
    assert [e.notification.key for e in box.due(NOW + 11)] == ["a", "m"]
    box.mark_delivered(first.id, NOW + 12, "req-1", line_month="2027-01")
    assert [e.notification.key for e in box.due(NOW + 100)] == ["b", "m", "later"]
    assert box.line_usage("2027-01") == 1
    box.close()


def test_a_retry_lines_told_us_to_wait_for_is_not_brought_forward(tmp_path: Path) -> None:
    box = NotificationOutbox(tmp_path / "outbox.sqlite3")
    box.put(note("a"), now=NOW)
    (entry,) = box.due(NOW)
    box.begin_attempt(entry.id)
    box.schedule_retry(entry.id, NOW + 30, "429", told=True)
    assert box.retry_now(Channel.LINE, NOW + 1) == 0
    assert box.due(NOW + 1) == []
    box.close()


def test_folding_replaces_fresh_notifications_by_one_digest_in_one_step(tmp_path: Path) -> None:
    box = NotificationOutbox(tmp_path / "outbox.sqlite3")
    for key in ("a", "b", "c"):
        box.put(note(key), now=NOW)
    a, b, c = box.due(NOW)
    box.begin_attempt(c.id)
    assert not box.fold([a, b, c], note("digest-1"), NOW), "c may be at LINE already"
    assert box.counts()[State.FOLDED] == 0
    assert box.fold([a, b], note("digest-2"), NOW)
    counts = box.counts()
    assert (counts[State.FOLDED], counts[State.PENDING]) == (2, 2)
    assert [e.notification.key for e in box.due(NOW)] == ["c"], "c is older and tried"
    box.mark_dead(c.id, "400: Failed to send messages")
    assert [e.notification.key for e in box.due(NOW)] == ["digest-2"]
    assert [e.dead_reason for e in box.entries(State.DEAD)] == ["400: Failed to send messages"]
    box.close()
