"""Answers remembered for a while: the forecasts a cooperative's dashboards ask for many times a
minute change once a day, when the forecast job runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TimedCache(Generic[K, V]):
    """``get(key, compute)`` returns what ``compute()`` returned for ``key`` less than ``ttl_s``
    seconds ago, else computes it. One computation per key at a time: fifty clients asking
    together cost one InfluxDB round, not fifty (measured in bench/RESULTS.md, api). ``ttl_s``
    0 turns it off. At most ``max_entries`` keys are kept; the oldest go first. ``clock``: a
    monotonic clock in seconds (tests give their own)."""

    def __init__(
        self, ttl_s: float, max_entries: int = 1024, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}
        self._computing: dict[K, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: K, compute: Callable[[], V]) -> V:
        if self.ttl_s <= 0:
            return compute()
        with self._lock:
            fresh = self._fresh(key)
            if fresh is not None:
                return fresh[1]
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:
            with self._lock:
                fresh = self._fresh(key)
            if fresh is not None:
                return fresh[1]  # another thread computed it while this one waited
            value = compute()
            with self._lock:
                self._entries.pop(key, None)
                self._entries[key] = (self._clock() + self.ttl_s, value)
                while len(self._entries) > self.max_entries:
                    del self._entries[next(iter(self._entries))]
                self._computing.pop(key, None)
            return value

    def _fresh(self, key: K) -> tuple[float, V] | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry
