"""The durable outbox: what goes in stays until acknowledged, in order, within its cap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from edge.outbox import Outbox, Pending
from isanfarm import contract


def readings(first: int, count: int, size: int = 10) -> list[Pending]:
    return [Pending("t", bytes([65 + i % 26]) * size, first + i) for i in range(count)]


def test_readings_come_out_oldest_first_and_leave_only_when_acknowledged(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    outbox.put(readings(100, 5))
    batch = outbox.next_batch(3)
    assert [item.ts_ms for item in batch] == [100, 101, 102]
    outbox.ack([batch[0].id, batch[2].id])
    assert [item.ts_ms for item in outbox.next_batch(10)] == [101, 103, 104]
    assert outbox.depth() == 3
    assert outbox.oldest_ts_ms() == 101


def test_a_batch_can_skip_what_is_in_flight_and_take_the_newest(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    outbox.put(readings(0, 6))
    in_flight = {item.id for item in outbox.next_batch(2)}
    assert [i.ts_ms for i in outbox.next_batch(2, exclude=in_flight)] == [2, 3]
    assert [i.ts_ms for i in outbox.next_batch(2, exclude=in_flight, newest=True)] == [5, 4]


def test_readings_sent_again_are_fetched_by_id_and_those_dropped_meanwhile_are_absent(
    tmp_path: Path,
) -> None:
    """A reading sent and not yet receipted is still a row: the cap may drop it, and then
    the publisher, asking for it to send again, finds it gone instead of sending it."""
    outbox = Outbox(tmp_path / "o.sqlite", max_readings=4)
    outbox.put(readings(0, 4))
    sent = [item.id for item in outbox.next_batch(4)]
    assert [i.ts_ms for i in outbox.items(reversed(sent[1:3]))] == [1, 2]
    outbox.put(readings(4, 2))  # the cap drops the two oldest, sent or not
    assert [i.ts_ms for i in outbox.items(sent)] == [2, 3]
    assert outbox.items([]) == []
    assert outbox.dropped() == 2


def test_past_the_reading_cap_the_oldest_are_dropped_and_counted(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", max_readings=10)
    outbox.put(readings(0, 7))
    outbox.put(readings(7, 8))
    assert outbox.depth() == 10
    assert outbox.dropped() == 5
    assert [i.ts_ms for i in outbox.next_batch(100)] == list(range(5, 15))


def test_past_the_size_cap_the_oldest_are_dropped(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", max_bytes=1_000)
    outbox.put(readings(0, 30, size=100))
    assert outbox.depth() == 10
    assert outbox.dropped() == 20
    assert outbox.oldest_ts_ms() == 20


def disk_size(path: Path) -> int:
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    return sum(f.stat().st_size for f in files if f.exists())


def test_the_disk_file_stops_growing_at_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    outbox = Outbox(path, max_readings=500)
    for start in range(0, 20_000, 100):
        outbox.put(readings(start, 100, size=200))
    size_at_cap = disk_size(path)
    for start in range(20_000, 60_000, 100):
        outbox.put(readings(start, 100, size=200))
    assert disk_size(path) <= size_at_cap * 1.1
    assert outbox.depth() == 500


def test_what_was_put_survives_the_process_being_killed(tmp_path: Path) -> None:
    """put() returns only after the commit: a SIGKILL right after it loses nothing."""
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from edge.outbox import Outbox, Pending\n"
        "o = Outbox(Path(sys.argv[1]))\n"
        "for i in range(50):\n"
        "    o.put([Pending('t', b'x', i)])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    path = tmp_path / "o.sqlite"
    run = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True)
    assert run.returncode == -9, run.stderr
    outbox = Outbox(path)
    assert [i.ts_ms for i in outbox.next_batch(100)] == list(range(50))


def test_counts_and_drops_survive_a_restart(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", max_readings=3)
    outbox.put(readings(0, 5))
    outbox.close()
    again = Outbox(tmp_path / "o.sqlite", max_readings=3)
    assert (again.depth(), again.dropped()) == (3, 2)


def message(seq: int) -> Pending:
    telemetry = contract.Telemetry("farm", "node-1", seq, 1_700_000_000_000, {"air_temp": 30.5})
    return Pending(telemetry.topic, contract.encode_telemetry(telemetry), telemetry.ts_ms)


def test_the_highest_stored_seq_counts_every_reading_not_only_the_newest(tmp_path: Path) -> None:
    """The floor for a sequence counter whose file was lost: after such a loss the newest
    readings may carry lower numbers than older ones."""
    outbox = Outbox(tmp_path / "o.sqlite")
    assert outbox.highest_seq() is None
    outbox.put([message(41), message(907), message(3)])
    assert outbox.highest_seq() == 907


def test_payloads_without_a_readable_seq_are_skipped(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    unreadable = [
        b"\xff\xfe not utf-8",
        b"{not json",
        b"[1, 2]",
        b'{"seq": "12"}',
        b'{"seq": true}',
    ]
    outbox.put([Pending("t", payload, 0) for payload in unreadable])
    assert outbox.highest_seq() is None
    outbox.put([message(5)])
    assert outbox.highest_seq() == 5
