"""An accelerated device clock for simulated farms (same shape as ``edge.clock.Clock``)."""

from __future__ import annotations

import threading
import time


class AcceleratedClock:
    """Runs ``speed`` times faster than the wall clock from ``start_ms``, never past real time.

    A demo starting a week back replays that week quickly and then goes on live, so that every
    timestamp stays a plausible device time (never in the future) however long the demo runs.
    """

    #: Derived from a monotonic clock: it never steps, so the agent need not watch for jumps.
    may_jump = False

    def __init__(
        self, start_ms: int, speed: float, catch_up_to_wall: bool = True, held: bool = False
    ) -> None:
        """``held``: the clock stands at ``start_ms`` until ``release`` (a fleet starts all its
        agents first, so none begins with a backlog the others' start-up made)."""
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.start_ms = start_ms
        self.speed = speed
        self.catch_up_to_wall = catch_up_to_wall
        self._real_start = time.monotonic()
        self._held = held

    def release(self) -> None:
        if self._held:
            self._real_start = time.monotonic()
            self._held = False

    def now_ms(self) -> int:
        if self._held:
            return self.start_ms
        accelerated = self.start_ms + int((time.monotonic() - self._real_start) * 1000 * self.speed)
        if self.catch_up_to_wall:
            return min(accelerated, time.time_ns() // 1_000_000)
        return accelerated

    def wait_until(self, ts_ms: int, stop: threading.Event) -> bool:
        while not stop.is_set():
            remaining_ms = ts_ms - self.now_ms()
            if remaining_ms <= 0:
                return True
            # Sleep in real seconds; once caught up with the wall, time runs at 1x.
            caught_up = self.catch_up_to_wall and self._is_live()
            real_s = remaining_ms / 1000 / (1.0 if caught_up else self.speed)
            stop.wait(min(real_s, 1.0))
        return False

    def _is_live(self) -> bool:
        return self.now_ms() >= time.time_ns() // 1_000_000
