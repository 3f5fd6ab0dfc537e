"""The per-device sequence number never repeats, even across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.sequence import SequenceCounter


def test_numbers_go_up_by_one_within_a_run(tmp_path: Path) -> None:
    counter = SequenceCounter(tmp_path / "seq", block=10)
    assert [counter.next() for _ in range(25)] == list(range(25))


def test_a_restart_continues_after_the_reserved_block_never_below(tmp_path: Path) -> None:
    first = SequenceCounter(tmp_path / "seq", block=10)
    used = [first.next() for _ in range(13)]
    # The process dies here without any goodbye; a new one starts from the file alone.
    second = SequenceCounter(tmp_path / "seq", block=10)
    assert second.next() > max(used)


def test_a_corrupt_mark_is_reported_not_silently_reset(tmp_path: Path) -> None:
    (tmp_path / "seq").write_text("garbage")
    with pytest.raises(ValueError, match="move the file away"):
        SequenceCounter(tmp_path / "seq")
