"""Is the device clock believable? A Pi has no real-time clock.

After a power cut a Pi boots at 1970 or at the time it last saved, and keeps that until NTP (or
nothing) corrects it. Readings stamped with such a time would land months away from where they
belong. The agent cannot know the true time, but it can tell when its own is implausible:
before this software's release date, or far from the platform's time when the platform has told
it (ingest publishes its clock on ``isanfarm/v1/time``). Readings taken then are flagged
``clock_suspect`` and ingest keeps them aside instead of filing them under a wrong time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClockVerdict:
    suspect: bool
    reason: str


class ClockHealth:
    def __init__(self, earliest_ms: int, max_skew_ms: int) -> None:
        self.earliest_ms = earliest_ms
        self.max_skew_ms = max_skew_ms
        self._offset_ms: int | None = None
        self._lock = threading.Lock()

    def observe_platform_time(self, platform_ms: int, device_ms: int) -> None:
        """Record how far the device clock is from the platform's (positive: device behind)."""
        with self._lock:
            self._offset_ms = platform_ms - device_ms

    def judge(self, device_ms: int) -> ClockVerdict:
        if device_ms < self.earliest_ms:
            return ClockVerdict(True, "device clock is before this software's release date")
        with self._lock:
            offset = self._offset_ms
        if offset is not None and abs(offset) > self.max_skew_ms:
            return ClockVerdict(True, f"device clock is {-offset / 1000:+.0f} s off platform time")
        return ClockVerdict(False, "ok")


class TrustedClockHealth(ClockHealth):
    """For simulated devices, whose accelerated clock is right by definition."""

    def __init__(self) -> None:
        super().__init__(earliest_ms=0, max_skew_ms=0)

    def observe_platform_time(self, platform_ms: int, device_ms: int) -> None:
        return None

    def judge(self, device_ms: int) -> ClockVerdict:
        return ClockVerdict(False, "simulated clock")
