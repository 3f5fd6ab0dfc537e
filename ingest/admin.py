"""Operator tasks around ingest: set up the database, read the dead letters, recompute rollups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ingest.points import REJECT_MEASUREMENT
from ingest.rollups import RollupPlanner, recompute_pending, retention_statements
from ingest.settings import IngestSettings
from isanfarm.influx import InfluxV1, series_rows


def setup_database(influx: InfluxV1, settings: IngestSettings) -> list[str]:
    """Create the database and its retention policies (InfluxDB 1.x); returns what ran."""
    statements = retention_statements(
        influx.settings.database,
        settings.raw_retention_days,
        "raw",
        settings.rollup_retention_policy,
    )
    for statement in statements:
        influx.execute(statement)
    return statements


@dataclass(frozen=True, slots=True)
class DeadLetter:
    time: datetime
    rule: str
    field: str
    topic: str
    detail: str
    payload: str
    worker: str


def dead_letters(
    influx: InfluxV1, since: datetime, rule: str | None = None, limit: int = 50
) -> list[DeadLetter]:
    """The newest rejects first."""
    where = "time >= $since" + (' AND "rule" = $rule' if rule else "")
    params: dict[str, object] = {"since": since.isoformat()}
    if rule:
        params["rule"] = rule
    statement = (
        f'SELECT "rule", "field", "topic", "detail", "payload", "worker" '
        f'FROM "{REJECT_MEASUREMENT}" WHERE {where} ORDER BY time DESC LIMIT {int(limit)}'
    )
    rows = [row for _, row in series_rows(influx.query(statement, params)[0])]
    return [
        DeadLetter(
            time=datetime.fromtimestamp(row["time"] / 1000, tz=UTC),
            rule=row["rule"],
            field=row["field"],
            topic=row["topic"],
            detail=row["detail"],
            payload=row["payload"],
            worker=row["worker"],
        )
        for row in rows
    ]


def dead_letter_counts(influx: InfluxV1, since: datetime) -> dict[str, int]:
    statement = (
        f'SELECT count("payload_bytes") FROM "{REJECT_MEASUREMENT}" '
        'WHERE time >= $since GROUP BY "rule"'
    )
    result = influx.query(statement, {"since": since.isoformat()})[0]
    return {tags["rule"]: int(row["count"]) for tags, row in series_rows(result)}


def recompute_rollups(
    influx: InfluxV1, settings: IngestSettings, since: datetime, until: datetime
) -> int:
    """Recompute every hourly and daily window touching [since, until); returns how many."""
    planner = RollupPlanner()
    planner.mark_range(int(since.timestamp() * 1000), int(until.timestamp() * 1000))
    return recompute_pending(planner, influx, settings.rollup_retention_policy)
