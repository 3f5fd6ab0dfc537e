"""``isanfarm api`` and ``isanfarm registry``, contributed to the ``isanfarm`` command.

The registry's tasks live here, not in ``registry/``: the database they open is the API's
(``ApiSettings.database_url``) and ``evaluate-alerts`` runs the API's alert rules (``api.alerts``);
the registry package sits below the API and must not import it. Only argparse at import time:
FastAPI, uvicorn and SQLAlchemy load once a command is chosen.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _register_registry(commands)
    api = commands.add_parser("api", help="serve the HTTP API (ISANFARM_* settings)")
    api.add_argument("--host", default=None)
    api.add_argument("--port", type=int, default=None)
    api.set_defaults(func=_api)


def _register_registry(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    registry = commands.add_parser(
        "registry", help="the cooperative registry: migrate, import CSV, API keys, alerts"
    )
    tasks = registry.add_subparsers(required=True, metavar="TASK")
    tasks.add_parser("migrate", help="create or upgrade the registry schema").set_defaults(
        func=_registry_migrate
    )
    load = tasks.add_parser("import", help="load rows from a CSV file (all or nothing)")
    load.add_argument(
        "kind", choices=["cooperatives", "farms", "fields", "herds", "animals", "devices"]
    )
    load.add_argument("csv", type=Path)
    load.set_defaults(func=_registry_import)
    key = tasks.add_parser("create-key", help="create an API key and print it (shown once)")
    key.add_argument("--cooperative", help="its cooperative id; omit for an operator key")
    key.add_argument("--role", choices=["read", "admin"], default="read")
    key.add_argument("--label", required=True, help="who or what uses it")
    key.set_defaults(func=_registry_create_key)
    tasks.add_parser(
        "evaluate-alerts", help="raise the alerts the latest data calls for"
    ).set_defaults(func=_registry_alerts)


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


def _registry_session() -> sessionmaker[Session]:
    """Sessions on the API's registry, its schema migrated first: every task but
    ``evaluate-alerts`` may be the first thing run against a new database."""
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
