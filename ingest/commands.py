"""``isanfarm ingest``: the worker and its operator tasks, contributed to the ``isanfarm`` command.

Only argparse at import time: the worker, InfluxDB client and settings load once a task is chosen.
"""

from __future__ import annotations

import argparse

from isanfarm.processes import stop_on_signals


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ingest = commands.add_parser(
        "ingest",
        help="MQTT to InfluxDB worker, and its operator tasks (ISANFARM_* settings)",
        description="Without a task: run the worker. Settings come from ISANFARM_* variables.",
    )
    ingest.set_defaults(func=_ingest)
    tasks = ingest.add_subparsers(metavar="TASK")
    run = tasks.add_parser("run", help="run the worker (the default)")
    run.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="worker processes sharing the stream through an MQTT 5 shared subscription "
        "(group ISANFARM_SHARE_GROUP, else the client id); default 1, about one core each",
    )
    run.add_argument("--supervised", action="store_true", help=argparse.SUPPRESS)
    run.set_defaults(func=_ingest)
    tasks.add_parser(
        "setup-db", help="create the database and its retention policies (InfluxDB 1.x)"
    ).set_defaults(func=_ingest_setup)
    letters = tasks.add_parser("deadletters", help="list rejected messages, newest first")
    letters.add_argument("--hours", type=float, default=24, help="how far back (default 24)")
    letters.add_argument("--rule", help="only this rule, e.g. out_of_range")
    letters.add_argument("--limit", type=int, default=50)
    letters.add_argument("--count", action="store_true", help="only counts by rule")
    letters.set_defaults(func=_ingest_deadletters)
    rollup = tasks.add_parser("rollup", help="recompute hourly and daily rollups for a period")
    rollup.add_argument("--hours", type=float, default=48, help="the last N hours (default 48)")
    rollup.set_defaults(func=_ingest_rollup)


def _positive_int(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not a positive number of workers")
    return number


def _ingest(args: argparse.Namespace) -> int:
    """The worker; ``isanfarm ingest`` without a task runs it too, so ``--workers`` and
    ``--supervised`` (only ``run`` has them) are read with their defaults."""
    from ingest.pool import WorkerPool, stop_when_stdin_closes
    from ingest.settings import IngestSettings
    from ingest.worker import IngestWorker
    from isanfarm.influx import InfluxV1

    settings = IngestSettings()
    stop = stop_on_signals()
    if getattr(args, "supervised", False):
        stop_when_stdin_closes(stop)
    if getattr(args, "workers", 1) > 1:
        return WorkerPool(settings, args.workers).run(stop)
    influx = InfluxV1(settings.influx)
    try:
        IngestWorker(settings, influx).run(stop)
    finally:
        influx.close()
    return 0


def _ingest_setup(args: argparse.Namespace) -> int:
    from ingest.admin import setup_database
    from ingest.settings import IngestSettings
    from isanfarm.influx import InfluxV1

    settings = IngestSettings()
    influx = InfluxV1(settings.influx)
    try:
        for statement in setup_database(influx, settings):
            print(statement)
    finally:
        influx.close()
    return 0


def _ingest_deadletters(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from ingest.admin import dead_letter_counts, dead_letters
    from ingest.settings import IngestSettings
    from isanfarm.influx import InfluxV1

    influx = InfluxV1(IngestSettings().influx)
    since = datetime.now(UTC) - timedelta(hours=args.hours)
    try:
        if args.count:
            for rule, count in sorted(dead_letter_counts(influx, since).items()):
                print(f"{count:>8}  {rule}")
            return 0
        for letter in dead_letters(influx, since, args.rule, args.limit):
            print(
                f"{letter.time:%Y-%m-%d %H:%M:%S}Z  {letter.rule:<16} {letter.field}: "
                f"{letter.detail}\n    topic {letter.topic}\n    payload {letter.payload[:200]!r}"
            )
    finally:
        influx.close()
    return 0


def _ingest_rollup(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from ingest.admin import recompute_rollups
    from ingest.settings import IngestSettings
    from isanfarm.influx import InfluxV1

    settings = IngestSettings()
    influx = InfluxV1(settings.influx)
    until = datetime.now(UTC)
    try:
        count = recompute_rollups(influx, settings, until - timedelta(hours=args.hours), until)
    finally:
        influx.close()
    print(f"recomputed {count} hourly and daily windows")
    return 0
