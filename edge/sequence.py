"""A per-device message counter that only ever goes up, across restarts and power cuts.

Ingest uses ``seq`` to tell a redelivered message from a new one, so a counter that restarted
at zero after a reboot would make new readings look like old ones. Writing the counter to disk
on every message would wear an SD card, so numbers are reserved in blocks: the file holds the
end of the current block, written (and fsynced) before any number of the block is used. A crash
skips the rest of a block; it never reuses a number.
"""

from __future__ import annotations

import os
from pathlib import Path


class SequenceCounter:
    def __init__(self, path: Path, block: int = 1000) -> None:
        if block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        self._path = path
        self._block = block
        self._next = self._load()
        self._reserved_until = self._next

    def next(self) -> int:
        if self._next >= self._reserved_until:
            self._reserve(self._next + self._block)
        value = self._next
        self._next += 1
        return value

    def _load(self) -> int:
        try:
            text = self._path.read_text().strip()
        except FileNotFoundError:
            return 0
        try:
            return int(text)
        except ValueError:
            raise ValueError(
                f"{self._path}: expected an integer sequence mark, found {text[:40]!r}; "
                "move the file away to restart the counter"
            ) from None

    def _reserve(self, until: int) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        with open(tmp, "w") as handle:
            handle.write(f"{until}\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._path)
        self._reserved_until = until
