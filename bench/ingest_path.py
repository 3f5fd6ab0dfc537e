"""CPU cost of ingest's per-message path: validate against the contract, encode line protocol.

Baseline, measured in the same run: ``json.loads`` of the same payload, the least any ingest
must do. Ratios say what validation and ingest's line-protocol encoder (``ingest.points``; it
was influxdb-client's ``Point`` until 2026-11-26) cost on top.
Usage: python bench/ingest_path.py [--quick]
Last line: baseline_us, decode_us, path_us (per message), decode_ratio, path_ratio, msgs_per_s.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Run as ``python bench/ingest_path.py``, bench/ comes first on sys.path, where bench/ingest.py
# would hide the ``ingest`` package measured here.
if str(Path(__file__).resolve().parent) in sys.path:
    sys.path.remove(str(Path(__file__).resolve().parent))

from ingest.points import telemetry_line
from isanfarm import contract
from simulators.cassava_field import CassavaFieldSim

START_MS = 1_764_115_200_000


def messages(count: int) -> list[tuple[str, bytes]]:
    sim = CassavaFieldSim(seed=1, start_ms=START_MS)
    out = []
    for seq in range(count):
        ts = START_MS + seq * 600_000
        message = contract.Telemetry(
            "korat-001", "f01-node", seq, ts, sim.read(ts)[0].values, "f-1"
        )
        out.append((message.topic, contract.encode_telemetry(message)))
    return out


def per_message_us(
    work: Callable[[str, bytes], object], batch: list[tuple[str, bytes]], repeats: int
) -> float:
    """Best of ``repeats`` passes over the batch: the least-disturbed measurement."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for topic, payload in batch:
            work(topic, payload)
        best = min(best, time.perf_counter() - start)
    return best / len(batch) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    args = parser.parse_args()
    batch = messages(2_000 if args.quick else 20_000)
    repeats = 3 if args.quick else 7
    baseline = per_message_us(lambda t, p: json.loads(p), batch, repeats)
    decode = per_message_us(contract.decode_telemetry, batch, repeats)
    path = per_message_us(
        lambda t, p: telemetry_line(contract.decode_telemetry(t, p), START_MS), batch, repeats
    )
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} "
        f"python {platform.python_version()}; {len(batch)} messages x {repeats} passes"
    )
    print(
        f"baseline_us: {baseline:.2f} decode_us: {decode:.2f} path_us: {path:.2f} "
        f"decode_ratio: {decode / baseline:.1f} path_ratio: {path / baseline:.1f} "
        f"msgs_per_s: {1e6 / path:.0f}"
    )


if __name__ == "__main__":
    main()
