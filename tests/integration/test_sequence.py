"""The per-device sequence number never repeats across restarts, and never stops the agent:
a damaged mark or a full disk is logged and counting goes on."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.sequence import SequenceCounter
from tests.helpers import mounted_tmpfs

ASIDE_NAME = re.compile(r"seq\.corrupt-\d{8}T\d{6}Z")


def set_aside(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if ASIDE_NAME.fullmatch(p.name))


def test_numbers_go_up_by_one_within_a_run(tmp_path: Path) -> None:
    counter = SequenceCounter(tmp_path / "seq", block=10)
    assert [counter.next() for _ in range(25)] == list(range(25))


def test_a_restart_continues_after_the_reserved_block_never_below(tmp_path: Path) -> None:
    first = SequenceCounter(tmp_path / "seq", block=10)
    used = [first.next() for _ in range(13)]
    # The process dies here without any goodbye; a new one starts from the file alone.
    second = SequenceCounter(tmp_path / "seq", block=10)
    assert second.next() > max(used)


@pytest.mark.parametrize(
    "damaged",
    [
        b"",
        b"\n",
        b"\x00\x00\x00\x00",
        b"garbage",
        b"\xff\xfe12",
        b"-5",
        b"1e3",
        pytest.param(b"9" * 5000, id="5000 digits"),
    ],
)
def test_a_damaged_mark_is_set_aside_and_counting_starts_again(
    tmp_path: Path, damaged: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "seq").write_bytes(damaged)

    with caplog.at_level(logging.ERROR, logger="edge.sequence"):
        counter = SequenceCounter(tmp_path / "seq", block=10)
        assert [counter.next() for _ in range(3)] == [0, 1, 2]

    [aside] = set_aside(tmp_path)
    assert aside.read_bytes() == damaged, "kept as it was, for a post-mortem"
    [message] = [r.getMessage() for r in caplog.records]
    assert str(aside) in message
    assert (tmp_path / "seq").read_text() == "10\n", "a good mark replaces it"


def test_after_a_damaged_mark_counting_goes_on_from_the_floor(tmp_path: Path) -> None:
    """The agent can pass one above the highest seq its outbox still holds."""
    (tmp_path / "seq").write_bytes(b"\x00\x00")
    assert SequenceCounter(tmp_path / "seq", floor=5000).next() == 5000


def test_the_floor_never_takes_the_counter_below_its_mark(tmp_path: Path) -> None:
    first = SequenceCounter(tmp_path / "seq", block=1000)
    first.next()
    assert SequenceCounter(tmp_path / "seq", floor=500).next() == 1000
    assert SequenceCounter(tmp_path / "fresh", floor=500).next() == 500


def test_the_directory_is_synced_after_the_mark_is_renamed_into_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without it a power cut may bring back the old mark, and used numbers come again."""
    events: list[str] = []
    real_replace, real_fsync = os.replace, os.fsync

    def replace(source: str | Path, target: str | Path) -> None:
        events.append(f"rename to {Path(target).name}")
        real_replace(source, target)

    def fsync(fd: int) -> None:
        events.append("sync directory" if os.path.isdir(f"/proc/self/fd/{fd}") else "sync file")
        real_fsync(fd)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "fsync", fsync)
    SequenceCounter(tmp_path / "seq").next()
    assert events == ["sync file", "rename to seq", "sync directory"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB filesystem."""
    yield from mounted_tmpfs(tmp_path / "disk", "1m")


def fill_up(path: Path) -> None:
    """Write until the disk refuses."""
    with open(path, "wb", buffering=0) as handle, pytest.raises(OSError, match="No space left"):
        write_forever(handle.write)


def write_forever(write: Callable[[bytes], object]) -> None:
    while True:
        write(bytes(4096))


def test_a_full_disk_while_reserving_is_logged_and_counting_goes_on_in_memory(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    counter = SequenceCounter(small_disk / "seq", block=10)
    taken = [counter.next() for _ in range(5)]
    fill_up(small_disk / "other-program.log")

    with caplog.at_level(logging.ERROR, logger="edge.sequence"):
        taken += [counter.next() for _ in range(20)]  # two blocks that cannot be reserved

    assert taken == list(range(25))
    assert len(caplog.records) == 2
    assert "No space left" in caplog.records[0].getMessage()
    assert sorted(p.name for p in small_disk.iterdir()) == ["other-program.log", "seq"]
    assert (small_disk / "seq").read_text() == "10\n"
    (small_disk / "other-program.log").unlink()
    taken += [counter.next() for _ in range(10)]
    assert taken == list(range(35))
    assert (small_disk / "seq").read_text() == "40\n", "reserved again at the next block"
