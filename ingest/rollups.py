"""Hourly and daily rollups of telemetry, recomputed for every window that received data.

Late data is normal here: a field gateway back from a day offline uploads the day at once. So
rollups are not a continuous query over "the last hour" (which would miss it) but a recompute
of exactly the windows that stored points fall in: ingest marks them after each successful
write, and ``RollupPlanner`` turns the marks into InfluxQL ``SELECT ... INTO`` statements. A
recompute writes the same series and times again, so it overwrites the window: running it
twice, or after a replay, gives the same rollup as computing once from all the data.

Days are Thai days (UTC+7), because a farmer's "rain yesterday" is counted from local
midnight. Raw data lives in the database's default retention policy (``raw``, of limited
duration); rollups in ``rollups`` (kept indefinitely): see ``retention_statements``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from agronomy.units import DAY_MS, HOUR_MS, THAI_UTC_OFFSET_MS
from ingest.points import TELEMETRY_MEASUREMENT
from isanfarm.contract import SENSOR_CATALOGUE, Sensor
from isanfarm.influx import InfluxV1
from isanfarm.storage import rollup_field


@dataclass(frozen=True, slots=True)
class Resolution:
    name: str
    length_ms: int
    #: Where the windows start relative to the epoch (InfluxQL's GROUP BY time offset).
    offset_ms: int

    @property
    def measurement(self) -> str:
        return f"{TELEMETRY_MEASUREMENT}_{self.name}"

    def window_start(self, ts_ms: int) -> int:
        return (ts_ms - self.offset_ms) // self.length_ms * self.length_ms + self.offset_ms

    @property
    def group_by(self) -> str:
        offset = f", {self.offset_ms}ms" if self.offset_ms else ""
        return f"time({self.length_ms}ms{offset})"


HOURLY = Resolution("1h", HOUR_MS, 0)
#: Thai days: local midnight is 17:00 UTC.
DAILY = Resolution("1d", DAY_MS, -THAI_UTC_OFFSET_MS)
RESOLUTIONS = (HOURLY, DAILY)
_HOUR_ALIGNED = all(r.length_ms % HOUR_MS == 0 == r.offset_ms % HOUR_MS for r in RESOLUTIONS)
assert _HOUR_ALIGNED, "RollupPlanner.mark finds windows by the hour"

#: Per sensor: mean, min and max. Rain (mm per interval) is also summed; the cumulative water
#: meter's daily use is max - min of the window.
SUMMED = (Sensor.RAIN,)


def aggregate_columns() -> str:
    columns = []
    for name in SENSOR_CATALOGUE:
        for function in ("mean", "min", "max"):
            columns.append(f'{function}("{name}") AS "{rollup_field(name, function)}"')
        if name in SUMMED:
            columns.append(f'sum("{name}") AS "{rollup_field(name, "sum")}"')
    columns.append('count("seq") AS "readings"')
    return ", ".join(columns)


def rollup_statement(resolution: Resolution, start_ms: int, database: str, rollup_rp: str) -> str:
    """Recompute one window of one resolution, all devices (tags kept by GROUP BY *), from
    the database's default retention policy, where ingest writes."""
    end_ms = start_ms + resolution.length_ms
    return (
        f"SELECT {aggregate_columns()} "
        f'INTO "{database}"."{rollup_rp}"."{resolution.measurement}" '
        f'FROM "{database}".."{TELEMETRY_MEASUREMENT}" '
        f"WHERE time >= {start_ms}ms AND time < {end_ms}ms "
        f"GROUP BY {resolution.group_by}, *"
    )


def retention_statements(database: str, raw_days: float, raw_rp: str, rollup_rp: str) -> list[str]:
    """Create (or adjust) the two retention policies; raw becomes the database default.

    InfluxDB 1.x only: 2.x and 3.x set retention on the bucket / database instead."""
    duration = f"{int(raw_days * 24)}h"
    return [
        f'CREATE DATABASE "{database}"',
        f'CREATE RETENTION POLICY "{raw_rp}" ON "{database}" DURATION {duration} REPLICATION 1',
        f'ALTER RETENTION POLICY "{raw_rp}" ON "{database}" DURATION {duration} DEFAULT',
        f'CREATE RETENTION POLICY "{rollup_rp}" ON "{database}" DURATION INF REPLICATION 1',
    ]


class RollupPlanner:
    """Collects the windows that received data until the next recompute takes them."""

    def __init__(self) -> None:
        self._pending: set[tuple[Resolution, int]] = set()
        self._lock = threading.Lock()

    def mark(self, timestamps_ms: Iterable[int]) -> None:
        # Every window is made of whole UTC hours (``_HOUR_ALIGNED``), so the hours are enough
        # to find them: one division per point of a batch (this runs for every point).
        hours = {ts - ts % HOUR_MS for ts in timestamps_ms}
        windows = {(r, r.window_start(hour)) for hour in hours for r in RESOLUTIONS}
        with self._lock:
            self._pending |= windows

    def mark_range(self, start_ms: int, end_ms: int) -> None:
        """Every window touching [start, end): for start-up and for an operator's recompute."""
        self.mark(range(start_ms, end_ms, HOUR_MS))
        self.mark([end_ms - 1])

    def restore(self, windows: Iterable[tuple[Resolution, int]]) -> None:
        """Put back windows whose recompute failed."""
        with self._lock:
            self._pending |= set(windows)

    def take(self) -> list[tuple[Resolution, int]]:
        """The pending windows, oldest first, hourly before daily (a day needs its data only,
        not its hours, so the order is for readable logs)."""
        with self._lock:
            pending, self._pending = self._pending, set()
        return sorted(pending, key=lambda w: (w[1], w[0].length_ms))

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)


def recompute_pending(planner: RollupPlanner, influx: InfluxV1, rollup_rp: str) -> int:
    """Recompute every pending window; returns how many. On a failure the windows not yet
    recomputed go back to the planner and the error propagates: an outage delays rollups but
    loses none."""
    windows = planner.take()
    for number, (resolution, start) in enumerate(windows):
        try:
            influx.execute(rollup_statement(resolution, start, influx.settings.database, rollup_rp))
        except Exception:
            planner.restore(windows[number:])
            raise
    return len(windows)
