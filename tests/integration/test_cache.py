"""The API's forecast cache: remembered for its time, computed once however many ask."""

from __future__ import annotations

import threading
import time

import pytest

from api.cache import TimedCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_an_answer_is_remembered_for_its_time_then_asked_again(clock: Clock) -> None:
    cache: TimedCache[str, int] = TimedCache(ttl_s=60, clock=clock)
    calls = []

    def compute() -> int:
        calls.append(clock.now)
        return len(calls)

    assert cache.get("coop-a", compute) == 1
    clock.now += 59
    assert cache.get("coop-a", compute) == 1
    assert cache.get("coop-b", compute) == 2
    clock.now += 2
    assert cache.get("coop-a", compute) == 3


def test_zero_seconds_turns_it_off() -> None:
    cache: TimedCache[str, int] = TimedCache(ttl_s=0)
    counter = iter(range(10))
    assert [cache.get("k", lambda: next(counter)) for _ in range(3)] == [0, 1, 2]


def test_many_asking_at_once_cost_one_computation() -> None:
    cache: TimedCache[str, str] = TimedCache(ttl_s=60)
    computations = []

    def slow() -> str:
        computations.append(1)
        time.sleep(0.2)
        return "forecasts"

    answers: list[str] = []
    threads = [
        threading.Thread(target=lambda: answers.append(cache.get("coop-a", slow)))
        for _ in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == ["forecasts"] * 20
    assert len(computations) == 1


def test_it_keeps_at_most_max_entries(clock: Clock) -> None:
    cache: TimedCache[int, str] = TimedCache(ttl_s=60, max_entries=3, clock=clock)
    for key in range(5):
        cache.get(key, lambda: "first")
    assert cache.get(4, lambda: "again") == "first"  # still kept
    assert cache.get(0, lambda: "again") == "again"  # the oldest was dropped
