"""A per-device message counter that only ever goes up, across restarts and power cuts.

Ingest uses ``seq`` to tell a redelivered message from a new one, so a counter that restarted
at zero after a reboot would make new readings look like old ones. Writing the counter to disk
on every message would wear an SD card, so numbers are reserved in blocks: the file holds the
end of the current block, written (and fsynced, file and directory) before any number of the
block is used. A crash skips the rest of a block; it never reuses a number.

The counter never stops the agent, which would collect nothing until someone visits the farm.
A damaged mark (an SD card after a power cut) is set aside as ``seq.corrupt-<UTC time>`` and
counting goes on from ``floor``: the agent can pass one above the highest ``seq`` still in its
outbox. A number used again is harmless for storage (ingest keys points by device, time and
``seq``), only less tidy. A disk that refuses the reservation (full, read-only) is logged and
counting goes on in memory; the reservation is tried again at the next block.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from edge.statefiles import aside_path, write_durably

log = logging.getLogger(__name__)

#: The contract's ``seq`` is below 2**63: at most 19 digits.
MARK_DIGITS = 19


class SequenceCounter:
    def __init__(self, path: Path, block: int = 1000, floor: int | Callable[[], int] = 0) -> None:
        """``floor``: the first number when there is no usable mark (none yet, or damaged).
        A function is called only then: the agent passes one that reads its outbox for the
        highest ``seq`` still stored, a scan it need not pay at every start."""
        if block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        self._path = path
        self._block = block
        self._floor = floor
        mark = self._load()
        self._next = self._first_without_mark() if mark is None else mark
        self._reserved_until = self._next

    def _first_without_mark(self) -> int:
        first = self._floor() if callable(self._floor) else self._floor
        if first < 0:
            raise ValueError(f"floor must be >= 0, got {first}")
        return first

    def next(self) -> int:
        if self._next >= self._reserved_until:
            self._reserve(self._next + self._block)
        value = self._next
        self._next += 1
        return value

    def _load(self) -> int | None:
        """The mark on disk; None if there is none, or if it is damaged (then set aside)."""
        try:
            text = self._path.read_text(encoding="ascii")
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:  # ValueError: bytes that are not ASCII
            problem = f"cannot read it ({exc})"
        else:
            mark = text.strip()
            if mark.isascii() and mark.isdigit() and len(mark) <= MARK_DIGITS:
                return int(mark)
            problem = f"expected an integer sequence mark, found {text[:40]!r}"
        self._set_aside(problem)
        return None

    def _set_aside(self, problem: str) -> None:
        """Keep the damaged file for a post-mortem; the next reservation writes a new one."""
        aside = aside_path(self._path)
        try:
            os.replace(self._path, aside)
        except OSError as exc:
            aside_note = f"could not move it aside ({exc.strerror}), the next block replaces it"
        else:
            aside_note = f"moved it to {aside}"
        log.error(
            "%s: %s; %s and counting on from the floor (for the agent: above the highest seq "
            "still in its outbox). Numbers used before may be used again (harmless: ingest "
            "keys points by device, time and seq). If this recurs, the SD card may be failing",
            self._path,
            problem,
            aside_note,
        )

    def _reserve(self, until: int) -> None:
        """Counting goes on in memory even if the disk refuses: a reading with a number that
        may come again after a restart is worth more than no reading."""
        self._reserved_until = until
        try:
            write_durably(self._path, f"{until}\n")
        except OSError as exc:
            log.error(
                "%s: cannot reserve sequence numbers up to %d (%s); counting on in memory and "
                "trying again at the next block. After a restart now, numbers may be used "
                "again. Free space on %s or check that it is writable",
                self._path,
                until,
                exc.strerror or exc,
                self._path.parent,
            )
