"""Device time: what the agent stamps on readings and how it waits for the next one."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Device time in UTC milliseconds, and a way to wait for a device time to come.

    The simulators provide an accelerated clock with the same shape, so one agent loop serves
    real devices and demos alike.
    """

    def now_ms(self) -> int: ...

    def wait_until(self, ts_ms: int, stop: threading.Event) -> bool:
        """Block until ``ts_ms``, or no longer than it was away when the wait began, or until
        ``stop`` is set; False only for ``stop``. The caller looks at the time again."""
        ...


class WallClock:
    """A real device's clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def wait_until(self, ts_ms: int, stop: threading.Event) -> bool:
        """Also bounded by the monotonic clock: stepped back while waiting (NTP correcting a
        Pi that booted with a clock ahead), the wall clock would reach ``ts_ms`` only after
        the whole step, and the sampler would take nothing meanwhile."""
        deadline = time.monotonic() + max(0, ts_ms - self.now_ms()) / 1000
        while not stop.is_set():
            remaining_s = min((ts_ms - self.now_ms()) / 1000, deadline - time.monotonic())
            if remaining_s <= 0:
                return True
            stop.wait(min(remaining_s, 1.0))
        return False
