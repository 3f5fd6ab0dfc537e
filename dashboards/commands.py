"""``isanfarm grafana``: dashboards and alert rules as code, a subcommand of ``isanfarm``.

Only argparse at import time: grafana-foundation-sdk, grafana-client, matplotlib and SQLAlchemy
load once an action is chosen.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dashboards.cooperatives import CooperativeFarms


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    ).set_defaults(func=_grafana_build)
    actions.add_parser(
        "check", help="exit 1 if the committed files differ from what the code builds"
    ).set_defaults(func=_grafana_check)
    _register_push(actions)
    _register_export(actions)
    _register_preview(actions)


def _register_push(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    push.set_defaults(func=_grafana_push)


def _register_export(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    export.set_defaults(func=_grafana_export)


def _register_preview(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    preview.set_defaults(func=_grafana_preview)


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
