"""A device clock that goes wrong on schedule, wrapping a good one (same shape as
``edge.clock.Clock``): a Pi has no real-time clock, so after a power cut it counts from 1970 (or
from the time it last saved) until NTP or the platform's time beacon sets it right (DOMAIN.md,
"Power"). Between faults it is the wrapped clock.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

CLOCK_FAULT_KINDS = ("reset_1970", "jump")
DAY_MS = 86_400_000


class _Clock(Protocol):
    def now_ms(self) -> int: ...

    def wait_until(self, ts_ms: int, stop: threading.Event) -> bool: ...


@dataclass(frozen=True, slots=True)
class ClockFault:
    #: "reset_1970": device time restarts at the epoch; "jump": it is off by ``jump_s``.
    kind: str
    #: Days after ``start_ms`` (of the wrapped clock) the fault starts; how long until fixed.
    day: float
    hours: float
    jump_s: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in CLOCK_FAULT_KINDS:
            raise ValueError(
                f"clock fault {self.kind!r} is unknown: use one of {', '.join(CLOCK_FAULT_KINDS)}"
            )
        if self.kind == "jump" and self.jump_s == 0:
            raise ValueError("clock fault 'jump' needs jump_s (seconds, + ahead or - behind)")

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> ClockFault:
        try:
            return cls(
                str(table["kind"]),
                float(table["day"]),
                float(table["hours"]),
                float(table.get("jump_s", 0)),
            )
        except KeyError as exc:
            raise ValueError(f"clock fault needs {exc.args[0]!r} (kind, day, hours)") from None


class FaultyClock:
    """Device time = true time + an offset that is constant within each fault window."""

    def __init__(self, inner: _Clock, start_ms: int, faults: list[ClockFault]) -> None:
        self.inner = inner
        self._windows: list[tuple[int, int, ClockFault]] = []
        for fault in faults:
            begin = start_ms + int(fault.day * DAY_MS)
            self._windows.append((begin, begin + int(fault.hours * 3_600_000), fault))

    def offset_ms(self, true_ms: int) -> int:
        for begin, end, fault in self._windows:
            if begin <= true_ms < end:
                # A reset counts up from the epoch from the moment of the power cut.
                return -begin if fault.kind == "reset_1970" else int(fault.jump_s * 1000)
        return 0

    def now_ms(self) -> int:
        true_ms = self.inner.now_ms()
        return true_ms + self.offset_ms(true_ms)

    def wait_until(self, ts_ms: int, stop: threading.Event) -> bool:
        while not stop.is_set():
            true_ms = self.inner.now_ms()
            remaining = ts_ms - (true_ms + self.offset_ms(true_ms))
            if remaining <= 0:
                return True
            # Wake at the next window edge too: the offset may change there.
            edges = [e for b, end, _ in self._windows for e in (b, end) if e > true_ms]
            target = min([true_ms + remaining, *edges])
            if not self.inner.wait_until(target, stop):
                return False
        return False
