"""How fast the simulators are: a 12-month season for 1,000 fields, and live-node readings.

1. season: ``simulators.offline.field_seasons`` for 1,000 generated fields (100 farms of 10,
   sharing weather), 366 days each from planting: soil water and crop stepped daily, nothing
   written. Goal (issue #6): well under a minute.
2. season_csv: the same plus writing fields_daily.csv / harvests.csv (``simulators.offline.run``)
   to a temp dir: what ``isanfarm simulate offline`` costs.
3. live: microseconds per ``CassavaFieldSim.read`` and ``CattleBarnSim.read`` at 10-minute
   steps (the edge agent's simulated driver), against a baseline of one ``random.gauss`` draw
   per catalogue reading, the least any simulated node must do.

Usage: python bench/simulate.py [--quick]
Last line: field_read_us, barn_read_us, baseline_us, season_csv_s, season_1000_fields_s.
"""

from __future__ import annotations

import argparse
import platform
import random
import tempfile
import time
from datetime import date
from pathlib import Path

from simulators.cassava_field import CassavaFieldSim
from simulators.cattle_barn import CattleBarnSim
from simulators.offline import field_seasons, run
from simulators.scenario import generated

START_MS = 1_764_115_200_000
FIELDS = 1000


def season_s(repeats: int) -> float:
    """Best of ``repeats`` runs of a 1,000-field season, nothing written."""
    best = float("inf")
    for _ in range(repeats):
        plan = generated(1, FIELDS, start=date(2025, 3, 1), days=365)
        start = time.perf_counter()
        days = sum(len(season) for _, _, season in field_seasons(plan))
        best = min(best, time.perf_counter() - start)
        assert days == FIELDS * 366, days
    return best


def season_csv_s() -> float:
    plan = generated(1, FIELDS, start=date(2025, 3, 1), days=365)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        run(plan, Path(out), progress=None)
        return time.perf_counter() - start


def per_read_us(sim: CassavaFieldSim | CattleBarnSim, reads: int) -> float:
    start = time.perf_counter()
    for step in range(1, reads + 1):
        sim.read(START_MS + step * 600_000)
    return (time.perf_counter() - start) / reads * 1e6


def baseline_us(reads: int) -> float:
    rng = random.Random(1)
    start = time.perf_counter()
    for _ in range(reads):
        {name: rng.gauss(0, 1) for name in range(9)}
    return (time.perf_counter() - start) / reads * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one season run, fewer reads")
    args = parser.parse_args()
    reads = 5_000 if args.quick else 50_000
    season = season_s(1 if args.quick else 3)
    csv_s = season_csv_s()
    field_us = per_read_us(CassavaFieldSim(1, START_MS), reads)
    barn_us = per_read_us(CattleBarnSim(1, START_MS), reads)
    base_us = baseline_us(reads)
    print(
        f"machine: {platform.machine()} python {platform.python_version()}; {FIELDS} fields x "
        f"366 days, best of {1 if args.quick else 3}; {reads} live reads per device kind"
    )
    print(
        f"field_read_us: {field_us:.1f} barn_read_us: {barn_us:.1f} baseline_us: {base_us:.2f} "
        f"season_csv_s: {csv_s:.2f} season_1000_fields_s: {season:.2f}"
    )


if __name__ == "__main__":
    main()
