"""Prometheus metrics of one ingest worker, on its own registry.

Counters are read from the worker's running totals when Prometheus scrapes (no second set of
books to keep in step); distributions (batch size, write latency, device-to-store lag) are
observed as they happen. A registry per worker lets several workers share a process in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from ingest.stats import IngestStats

PREFIX = "isanfarm_ingest"


class IngestMetrics:
    def __init__(self, stats: IngestStats, buffer_depth: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_StatsCollector(stats, buffer_depth))
        self.batch_size = Histogram(
            f"{PREFIX}_batch_size",
            "Messages per InfluxDB write",
            buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2500),
            registry=self.registry,
        )
        self.write_latency = Histogram(
            f"{PREFIX}_write_latency_seconds",
            "Duration of successful InfluxDB writes",
            registry=self.registry,
        )
        self.lag = Histogram(
            f"{PREFIX}_device_to_store_lag_seconds",
            "From a reading's device time to its write succeeding (backlog uploads are late)",
            buckets=(0.1, 0.5, 1, 2, 5, 15, 60, 300, 3600, 21600, 86400, 604800),
            registry=self.registry,
        )

    def serve(self, port: int, host: str) -> None:
        """Expose /metrics over HTTP (a daemon thread of prometheus-client)."""
        start_http_server(port, addr=host, registry=self.registry)


class _StatsCollector(Collector):
    def __init__(self, stats: IngestStats, buffer_depth: Callable[[], int]) -> None:
        self._stats = stats
        self._buffer_depth = buffer_depth

    def collect(self) -> Iterator[Metric]:
        stats = self._stats
        for name, help_text, value in (
            (
                "messages_received",
                "MQTT messages processed (stored, rejected or quarantined)",
                stats.received,
            ),
            ("points_written", "Telemetry points written to InfluxDB", stats.stored),
            (
                "write_retries",
                "InfluxDB writes retried after an outage or overload",
                stats.write_retries,
            ),
        ):
            yield CounterMetricFamily(f"{PREFIX}_{name}", help_text, value=value)
        for name, help_text, label, counts in (
            ("rejects", "Messages kept as dead letters, by rule", "rule", stats.rejected),
            (
                "quarantined",
                "Readings with untrusted device time, by reason",
                "reason",
                stats.quarantined,
            ),
        ):
            family = CounterMetricFamily(f"{PREFIX}_{name}", help_text, labels=[label])
            for key, count in sorted(counts.items()):
                family.add_metric([key], count)
            yield family
        yield GaugeMetricFamily(
            f"{PREFIX}_buffer_depth",
            "Messages received and not yet written",
            value=self._buffer_depth(),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_connected", "1 while connected to the broker", value=int(stats.connected)
        )
