"""A worker's running totals: kept by ``ingest.worker``, read by ``ingest.metrics`` when
Prometheus scrapes. In a module of their own so that neither of those imports the other."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class IngestStats:
    received: int = 0
    stored: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    quarantined: Counter[str] = field(default_factory=Counter)
    write_retries: int = 0
    connected: bool = False
