"""The ``isanfarm`` command: one entry point, a subcommand per component.

Subcommands import their component only when chosen, so ``isanfarm edge`` on a Pi never loads
FastAPI, pydantic or numpy (it has none installed).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from dashboards.cooperatives import CooperativeFarms

#: The broker refused the agent's credentials (sysexits' EX_CONFIG): the systemd unit does not
#: restart on it, since retrying cannot help.
EXIT_REFUSED = 78


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per HTTP request to InfluxDB drowns everything else.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Nine INFO lines of alembic's set-up before every command that opens the registry;
    # registry.db.migrate logs the one that matters (an upgrade).
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="isanfarm", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="run the whole system on simulated farms, on private local servers"
    )
    demo.add_argument(
        "--state-dir",
        type=Path,
        default=Path("state/demo"),
        help="where the demo's broker and database keep their data",
    )
    _add_simulation_options(demo)
    demo.add_argument("--api-port", type=int, default=8000)
    demo.add_argument("--mqtt-port", type=int, default=11883)
    demo.add_argument("--influx-port", type=int, default=18086)
    demo.add_argument(
        "--duration",
        type=float,
        default=0,
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    demo.set_defaults(run=_demo)

    simulate = commands.add_parser(
        "simulate",
        help="simulated farms: live devices, a load-test fleet, offline seasons, plots",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""Simulated Korat cassava fields and Wagyu barns (docs/simulators.md).

modes:
  live     (default) each simulated device behind a real edge agent, publishing to the broker
           in ISANFARM_MQTT_HOST/PORT at an accelerated clock; --scenario adds faults and
           link outages. 'isanfarm simulate --fields 3' is live mode.
  fleet    a load generator: 1,000+ simulated devices from one process on one network thread
           (own client id, session and simulator each; QoS 1), NO agent and NO durable outbox:
           prints readings taken and acknowledged, threads and memory, stops after --duration.
  offline  whole seasons for many fields and herds straight to CSV files (and with --influx
           to InfluxDB via ISANFARM_INFLUX_*), with a progress bar on stderr: training data
           and the truth (yield, starch) forecasts are scored on.
  plot     PNGs of one field's season and one herd's weights, to eyeball realism.

'isanfarm simulate MODE --help' lists each mode's options.""",
    )
    simulate.add_argument("--state-dir", type=Path, default=Path("state/simulate"))
    _add_simulation_options(simulate)
    simulate.add_argument("--scenario", type=Path, help="a scenario TOML (scenarios/*.toml)")
    modes = simulate.add_subparsers(dest="mode", metavar="MODE")
    live = modes.add_parser("live", help="devices behind real edge agents (the default mode)")
    live.add_argument("--state-dir", type=Path, default=Path("state/simulate"))
    _add_simulation_options(live)
    live.add_argument("--scenario", type=Path, help="a scenario TOML (scenarios/*.toml)")
    fleet = modes.add_parser(
        "fleet",
        help="a load generator: 1,000+ devices from one process (no outbox)",
        description="A load generator, not an edge agent: every device has its own MQTT client "
        "id, persistent session and simulator and publishes QoS 1 telemetry stamped like the "
        "agent's, but all of them run on one network thread with no durable outbox (a reading "
        "not yet acknowledged is lost when the process stops). Use live mode or a real agent "
        "for durability. The clock starts once every device has connected (or after 60 s).",
    )
    fleet.add_argument("--devices", type=int, default=100, help="how many devices in all")
    fleet.add_argument("--barns", type=int, default=0, help="how many of them are barns")
    fleet.add_argument("--duration", type=float, default=60.0, help="real seconds to run")
    fleet.add_argument("--seed", type=int, default=1)
    fleet.add_argument("--interval", type=float, default=600.0, help="device seconds")
    fleet.add_argument("--speed", type=float, default=600.0)
    fleet.add_argument("--days-back", type=float, default=7.0)
    offline = modes.add_parser("offline", help="whole seasons straight to CSV (or InfluxDB)")
    offline.add_argument("--scenario", type=Path, help="default: --fields generated fields")
    offline.add_argument("--fields", type=int, default=100)
    offline.add_argument("--barns", type=int, default=0)
    offline.add_argument("--seed", type=int, default=1)
    offline.add_argument("--start", default="2025-03-01", help="first planting date")
    offline.add_argument("--days", type=int, default=365, help="days from each planting")
    offline.add_argument("--out", type=Path, default=Path("state/offline"))
    offline.add_argument("--influx", action="store_true", help="also write to ISANFARM_INFLUX_*")
    offline.add_argument("--quiet", action="store_true", help="no progress bar")
    plot = modes.add_parser("plot", help="PNGs of a field's season and a herd's weights")
    plot.add_argument("--out", type=Path, default=Path("state/plots"))
    plot.add_argument("--seed", type=int, default=1, help="weather and herd seed")
    plot.add_argument("--variety", default="KU50")
    plot.add_argument("--soil", default="loamy_sand")
    plot.add_argument("--planted", default="2025-05-01")
    plot.add_argument("--days", type=int, default=365)
    plot.add_argument("--management", type=float, default=0.8)
    plot.add_argument("--breed", default="wagyu_x_brahman")
    simulate.set_defaults(run=_simulate)

    edge = commands.add_parser(
        "edge",
        help="run one edge agent from its TOML config, or check the config",
        description="'isanfarm edge run' runs the agent; 'isanfarm edge check' validates the "
        "config and builds its drivers without connecting or reading anything.",
    )
    edge.add_argument("action", nargs="?", choices=["run", "check"], default="run")
    edge.add_argument("--config", type=Path, required=True, help="the device's agent.toml")
    edge.set_defaults(run=_edge)

    ingest = commands.add_parser(
        "ingest",
        help="MQTT to InfluxDB worker, and its operator tasks (ISANFARM_* settings)",
        description="Without a task: run the worker. Settings come from ISANFARM_* variables.",
    )
    ingest.set_defaults(run=_ingest)
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
    run.set_defaults(run=_ingest)
    tasks.add_parser(
        "setup-db", help="create the database and its retention policies (InfluxDB 1.x)"
    ).set_defaults(run=_ingest_setup)
    letters = tasks.add_parser("deadletters", help="list rejected messages, newest first")
    letters.add_argument("--hours", type=float, default=24, help="how far back (default 24)")
    letters.add_argument("--rule", help="only this rule, e.g. out_of_range")
    letters.add_argument("--limit", type=int, default=50)
    letters.add_argument("--count", action="store_true", help="only counts by rule")
    letters.set_defaults(run=_ingest_deadletters)
    rollup = tasks.add_parser("rollup", help="recompute hourly and daily rollups for a period")
    rollup.add_argument("--hours", type=float, default=48, help="the last N hours (default 48)")
    rollup.set_defaults(run=_ingest_rollup)

    _add_registry_commands(commands)
    _add_model_commands(commands)

    api = commands.add_parser("api", help="serve the HTTP API (ISANFARM_* settings)")
    api.add_argument("--host", default=None)
    api.add_argument("--port", type=int, default=None)
    api.set_defaults(run=_api)

    _add_grafana_commands(commands)
    return parser


def _add_simulation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--farm-id", default="korat-demo")
    parser.add_argument("--fields", type=int, default=1, help="simulated cassava fields")
    parser.add_argument("--barns", type=int, default=1, help="simulated cattle barns")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--interval", type=float, default=600.0, help="device seconds between readings"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=600.0,
        help="device seconds per real second until the clock reaches now",
    )
    parser.add_argument(
        "--days-back", type=float, default=7.0, help="the simulated clock starts this many days ago"
    )


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handle(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def _edge(args: argparse.Namespace) -> int:
    from edge.config import ConfigError, load_config
    from edge.runner import build_agent, build_drivers

    try:
        config = load_config(args.config, os.environ)
        if args.action == "check":
            for driver in build_drivers(config):
                driver.close()
            sensors = ", ".join(sensor.driver for sensor in config.sensors)
            print(
                f"{args.config}: ok: device {config.device.device_id!r} of farm "
                f"{config.device.farm_id!r}, sensors: {sensors}, broker "
                f"{config.mqtt.host}:{config.mqtt.port}{' (TLS)' if config.mqtt.uses_tls else ''}"
            )
            return 0
        agent = build_agent(config)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"isanfarm edge: {exc}", file=sys.stderr)
        return 2
    agent.run(_stop_on_signals())
    return EXIT_REFUSED if agent.stats.fatal_error else 0


def _ingest(args: argparse.Namespace) -> int:
    from ingest.pool import WorkerPool, stop_when_stdin_closes
    from ingest.settings import IngestSettings
    from ingest.worker import IngestWorker
    from isanfarm.influx import InfluxV1

    settings = IngestSettings()
    stop = _stop_on_signals()
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


def _positive_int(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not a positive number of workers")
    return number


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


def _add_registry_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    registry = commands.add_parser(
        "registry", help="the cooperative registry: migrate, import CSV, API keys, alerts"
    )
    tasks = registry.add_subparsers(required=True, metavar="TASK")
    tasks.add_parser("migrate", help="create or upgrade the registry schema").set_defaults(
        run=_registry_migrate
    )
    load = tasks.add_parser("import", help="load rows from a CSV file (all or nothing)")
    load.add_argument(
        "kind", choices=["cooperatives", "farms", "fields", "herds", "animals", "devices"]
    )
    load.add_argument("csv", type=Path)
    load.set_defaults(run=_registry_import)
    key = tasks.add_parser("create-key", help="create an API key and print it (shown once)")
    key.add_argument("--cooperative", help="its cooperative id; omit for an operator key")
    key.add_argument("--role", choices=["read", "admin"], default="read")
    key.add_argument("--label", required=True, help="who or what uses it")
    key.set_defaults(run=_registry_create_key)
    tasks.add_parser(
        "evaluate-alerts", help="raise the alerts the latest data calls for"
    ).set_defaults(run=_registry_alerts)


def _registry_session() -> sessionmaker[Session]:
    from api.settings import ApiSettings
    from registry.db import make_engine, migrate, session_factory

    engine = make_engine(ApiSettings().database_url)
    migrate(engine)
    return session_factory(engine)


def _registry_migrate(args: argparse.Namespace) -> int:
    _registry_session()
    print("registry schema is up to date")
    return 0


def _registry_import(args: argparse.Namespace) -> int:
    from registry.importer import RegistryImportError, import_csv

    sessions = _registry_session()
    try:
        with sessions() as session, session.begin():
            count = import_csv(session, args.kind, args.csv)
    except (RegistryImportError, ValueError, OSError) as exc:
        print(f"isanfarm registry import: nothing imported:\n{exc}", file=sys.stderr)
        return 2
    print(f"imported {count} {args.kind}")
    return 0


def _registry_create_key(args: argparse.Namespace) -> int:
    from registry.keys import create_key

    sessions = _registry_session()
    with sessions() as session, session.begin():
        key = create_key(session, args.cooperative, args.role, args.label)
    print(key)
    return 0


def _registry_alerts(args: argparse.Namespace) -> int:
    from api.alerts import evaluate
    from api.settings import ApiSettings
    from isanfarm.influx import InfluxV1

    settings = ApiSettings()
    sessions = _registry_session()
    influx = InfluxV1(settings.influx)
    try:
        with sessions() as session, session.begin():
            raised = evaluate(session, influx, settings.offline_after_s)
            for alert in raised:
                print(f"{alert.kind:<16} {alert.subject:<24} {alert.message}")
    finally:
        influx.close()
    print(f"{len(raised)} new alerts")
    return 0


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from api.main import create_app
    from api.settings import ApiSettings

    settings = ApiSettings()
    uvicorn.run(
        create_app(settings),
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level="warning",
    )
    return 0


def _add_grafana_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    grafana = commands.add_parser(
        "grafana",
        help="dashboards and alert rules as code: build, check, push, preview (docs/grafana.md)",
    )
    grafana.add_argument(
        "--root", type=Path, default=Path("grafana"), help="the grafana/ folder (default ./grafana)"
    )
    actions = grafana.add_subparsers(required=True, metavar="ACTION")
    actions.add_parser(
        "build", help="write grafana/dashboards/*.json and the alert rules from the code"
    ).set_defaults(run=_grafana_build)
    actions.add_parser(
        "check", help="exit 1 if the committed files differ from what the code builds"
    ).set_defaults(run=_grafana_check)
    push = actions.add_parser(
        "push", help="upload datasource, dashboards and alert rules to a running Grafana"
    )
    push.add_argument("--url", required=True, help="e.g. https://grafana.example.org")
    push.add_argument(
        "--token",
        default=os.environ.get("ISANFARM_GRAFANA_TOKEN"),
        help="service-account token (default: $ISANFARM_GRAFANA_TOKEN)",
    )
    push.add_argument(
        "--registry",
        metavar="URL",
        default=os.environ.get("ISANFARM_DATABASE_URL"),
        help="the API's registry (SQLAlchemy URL, default: $ISANFARM_DATABASE_URL): list its "
        "cooperatives in the dashboards' cooperative variable; without it, only 'all farms'",
    )
    push.set_defaults(run=_grafana_push)
    export = actions.add_parser(
        "export",
        help="write the dashboards with the registry's cooperatives into a folder a "
        "file-provisioned Grafana reads (the compose stack: ISANFARM_GRAFANA_DASHBOARDS)",
    )
    export.add_argument("--out", type=Path, required=True, help="the folder to write into")
    export.add_argument(
        "--registry",
        metavar="URL",
        default=os.environ.get("ISANFARM_DATABASE_URL"),
        required=os.environ.get("ISANFARM_DATABASE_URL") is None,
        help="the API's registry (default: $ISANFARM_DATABASE_URL)",
    )
    export.set_defaults(run=_grafana_export)
    preview = actions.add_parser(
        "preview", help="PNG per dashboard of its panels' query results (ISANFARM_INFLUX_*)"
    )
    preview.add_argument("--out", type=Path, default=Path("state/preview"))
    preview.add_argument("--farm", required=True)
    preview.add_argument("--field", default="field-01", help="site of the cassava dashboard")
    preview.add_argument("--barn", default="barn-01", help="site of the cattle dashboard")
    preview.add_argument("--hours", type=float, default=168, help="hours back (default 7 days)")
    preview.add_argument(
        "--days-ahead", type=float, default=300, help="days ahead, for forecasts (default 300)"
    )
    preview.set_defaults(run=_grafana_preview)


def _grafana_build(args: argparse.Namespace) -> int:
    from dashboards import build

    for path in build.write(args.root):
        print(path)
    return 0


def _grafana_check(args: argparse.Namespace) -> int:
    from dashboards import build

    stale = build.stale(args.root)
    for path in stale:
        print(f"out of date: {path}", file=sys.stderr)
    if stale:
        print("run `isanfarm grafana build` and commit the result", file=sys.stderr)
    return 1 if stale else 0


def _grafana_push(args: argparse.Namespace) -> int:
    from dashboards import push

    try:
        cooperatives = _registry_cooperatives(args.registry) if args.registry else None
        report = push.push(push.connect(args.url, args.token), args.root, cooperatives=cooperatives)
    except push.PushError as exc:
        print(f"isanfarm grafana push: {exc}", file=sys.stderr)
        return 1
    print(
        f"pushed datasources {report.datasources}, dashboards {report.dashboards}, "
        f"{len(report.alert_rules)} alert rules; created: {report.created or 'nothing'}"
    )
    return 0


def _grafana_export(args: argparse.Namespace) -> int:
    """A Grafana that provisions dashboards from files refuses pushed ones: it gets files."""
    from dashboards import build
    from dashboards.cooperatives import with_cooperatives
    from dashboards.push import PushError

    try:
        cooperatives = _registry_cooperatives(args.registry)
    except PushError as exc:
        print(f"isanfarm grafana export: {exc}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for name, dashboard in build.load_dashboards(args.root).items():
        path = args.out / f"{name}.json"
        text = json.dumps(with_cooperatives(dashboard, cooperatives), indent=2, ensure_ascii=False)
        path.write_text(text + "\n", encoding="utf-8")
        print(path)
    print(f"{len(cooperatives)} cooperatives listed", file=sys.stderr)
    return 0


def _registry_cooperatives(url: str) -> list[CooperativeFarms]:
    """The registry's cooperatives and their farms; the schema must be current (read only:
    pushing dashboards never migrates a registry)."""
    from sqlalchemy.exc import SQLAlchemyError

    from dashboards.cooperatives import CooperativeFarms
    from dashboards.push import PushError
    from registry.db import SchemaNotCurrentError, make_engine, require_current, session_factory
    from registry.members import cooperative_farms

    engine = make_engine(url)
    try:
        require_current(engine)
        with session_factory(engine)() as session:
            members = cooperative_farms(session)
    except (SchemaNotCurrentError, SQLAlchemyError) as exc:
        raise PushError(f"cannot read the cooperatives from the registry ({url}): {exc}") from None
    finally:
        engine.dispose()
    return [CooperativeFarms(name, tuple(farms)) for name, farms in members]


def _grafana_preview(args: argparse.Namespace) -> int:
    import time

    from dashboards import build
    from dashboards.panels import TimeRange
    from dashboards.preview import influx_from_environment, render_all

    now_ms = int(time.time() * 1000)
    window = TimeRange(
        now_ms - int(args.hours * 3_600_000), now_ms + int(args.days_ahead * 86_400_000)
    )
    influx = influx_from_environment()
    try:
        dashboards = build.load_dashboards(args.root)
        paths = render_all(
            dashboards, influx.query, args.farm, window, args.out, args.field, args.barn, now_ms
        )
    finally:
        influx.close()
    for path in paths:
        print(path)
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from tooling.demo import run_simulation

    try:
        return run_simulation(args, _stop_on_signals())
    except ValueError as exc:  # a bad scenario or option: say which, no traceback
        print(f"isanfarm simulate: {exc}", file=sys.stderr)
        return 2


def _demo(args: argparse.Namespace) -> int:
    from tooling.demo import run_demo

    return run_demo(args, _stop_on_signals())


# ---- models: train, forecast, evaluate (docs/forecasts.md) --------------------------------


def _add_model_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    train = commands.add_parser(
        "train", help="train the cassava model on simulated seasons, into ISANFARM_MODEL_DIR"
    )
    train.add_argument("--fields", type=int, default=300, help="simulated fields")
    train.add_argument("--seasons", type=int, default=8, help="seasons per field (>= 3)")
    train.add_argument("--seed", type=int, default=1)
    train.add_argument(
        "--max-iter", type=int, help="boosting rounds per tree model (default: the model's)"
    )
    train.add_argument("--list", action="store_true", help="list saved models and exit")
    train.add_argument("--pin", metavar="VERSION", help="serve this version from now on, and exit")
    train.add_argument("--unpin", action="store_true", help="serve the newest good model again")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=_train)
    forecast = commands.add_parser(
        "forecast",
        help="forecast every registered field and herd; write points to InfluxDB (ISANFARM_*)",
    )
    forecast.add_argument("--model", metavar="VERSION", help="this model, not the served one")
    forecast.add_argument("--harvests", type=Path, help="CSV of past harvests (docs/forecasts.md)")
    forecast.add_argument(
        "--every",
        type=float,
        metavar="SECONDS",
        help="keep running: forecast again every SECONDS (a service; a failed run is reported "
        "and tried again after --retry-after)",
    )
    forecast.add_argument(
        "--retry-after",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="with --every: repeat a run that failed on a database after SECONDS, not a whole "
        "period (default 300); a run refused for its input (no model, a bad CSV) waits the period",
    )
    forecast.set_defaults(run=_forecast)
    evaluate = commands.add_parser(
        "evaluate", help="score a saved model on unseen simulated seasons: Markdown + PNG report"
    )
    evaluate.add_argument("--model", metavar="VERSION", help="default: the served model")
    evaluate.add_argument("--out", type=Path, default=Path("state/evaluation"))
    evaluate.add_argument("--fields", type=int, default=200)
    evaluate.add_argument("--seasons", type=int, default=4)
    evaluate.add_argument("--seed", type=int, default=2, help="not the training seed")
    evaluate.set_defaults(run=_evaluate)


def _train(args: argparse.Namespace) -> int:
    import json

    from models.errors import ModelError
    from models.modelstore import ModelStore
    from models.settings import ModelSettings
    from tooling.jobs import TrainOptions, train

    registry = ModelStore(ModelSettings().model_dir)
    try:
        if args.list or args.pin or args.unpin:
            if args.pin or args.unpin:
                registry.pin(None if args.unpin else args.pin)
            pinned = registry.pinned()
            for meta in registry.versions():
                mark = "pinned" if meta["version"] == pinned else ("good" if meta["good"] else "-")
                print(f"{meta['version']}  {mark:<6}  {meta.get('headline', '')}")
            return 0
        options = TrainOptions(args.fields, args.seasons, args.seed, args.max_iter)
        version, meta = train(registry, options, None if args.quiet else sys.stderr)
    except (ModelError, ValueError) as exc:
        print(f"isanfarm train: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(meta["held_out_metrics"]["3m"], indent=2))
    print(f"saved {version} ({'good' if meta['good'] else 'NOT good: not served'})")
    print(meta["headline"])
    return 0


#: ``_forecast_once`` exit codes: the run failed on a database (worth repeating soon), or was
#: refused for its input (a person must fix it first).
FORECAST_FAILED, FORECAST_REFUSED = 1, 2


def _forecast(args: argparse.Namespace) -> int:
    if args.every is None:
        return _forecast_once(args)
    for name in ("every", "retry_after"):
        if getattr(args, name) <= 0:
            flag = "--" + name.replace("_", "-")
            print(
                f"isanfarm forecast: {flag} {getattr(args, name)} must be a positive number",
                file=sys.stderr,
            )
            return 2
    stop = _stop_on_signals()
    while not stop.is_set():
        try:
            code = _forecast_once(args)
        except Exception as exc:  # a database away for a while: report, try again soon
            print(f"isanfarm forecast: this run failed: {exc!r}", file=sys.stderr, flush=True)
            code = FORECAST_FAILED
        stop.wait(_wait_after(code, args.every, args.retry_after))
    return 0


def _wait_after(code: int, every: float, retry_after: float) -> float:
    """A run that failed on a database is repeated after ``retry_after`` (a partial run must not
    stand for a whole period); any other waits the period."""
    return min(retry_after, every) if code == FORECAST_FAILED else every


def _forecast_once(args: argparse.Namespace) -> int:
    from isanfarm.influx import InfluxError
    from models.errors import ModelError
    from models.settings import ModelSettings
    from tooling.jobs import forecast

    try:
        report = forecast(ModelSettings(), args.model, args.harvests)
    except ModelError as exc:
        print(f"isanfarm forecast: {exc}", file=sys.stderr, flush=True)
        return FORECAST_REFUSED
    except InfluxError as exc:  # models.forecast.ForecastWriteError says what was written
        print(f"isanfarm forecast: {exc}", file=sys.stderr, flush=True)
        return FORECAST_FAILED
    for reason in report.skipped:
        print(f"skipped {reason}", file=sys.stderr)
    print(
        f"forecast {report.fields} fields ({report.points} points; {report.calibrated} "
        f"calibrated from their last season) and {report.animals} animals in "
        f"{report.seconds:.1f} s; skipped {len(report.skipped)}; {report.harvests} harvest "
        "records written as actuals",
        flush=True,
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from models.errors import ModelError
    from models.modelstore import ModelStore
    from models.settings import ModelSettings
    from tooling.jobs import evaluate

    registry = ModelStore(ModelSettings().model_dir)
    try:
        path = evaluate(registry, args.out, args.model, args.fields, args.seasons, args.seed)
    except (ModelError, ValueError) as exc:
        print(f"isanfarm evaluate: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
