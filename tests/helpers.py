"""Small helpers shared by the tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from isanfarm.influx import InfluxV1


def wait_for(condition: Callable[[], object], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def count_points(influx: InfluxV1, measurement: str, field: str) -> int:
    results = influx.query(f'SELECT count("{field}") FROM "{measurement}"')
    series = results[0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


ROOT = Path(__file__).resolve().parent.parent
