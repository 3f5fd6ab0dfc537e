"""``isanfarm api`` and ``isanfarm registry``, contributed to the ``isanfarm`` command.

The registry's tasks live here, not in ``registry/``: the database they open is the API's
(``ApiSettings.database_url``) and ``evaluate-alerts`` runs the API's alert rules (``api.alerts``);
the registry package sits below the API and must not import it. Only argparse at import time:
FastAPI, uvicorn and SQLAlchemy load once a command is chosen.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
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
    _register_keys(tasks)
    tasks.add_parser(
        "check-namespaces", help="list ids that lie in another cooperative's namespace"
    ).set_defaults(func=_registry_check_namespaces)
    tasks.add_parser(
        "evaluate-alerts", help="raise the alerts the latest data calls for"
    ).set_defaults(func=_registry_alerts)


def _register_keys(tasks: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    key = tasks.add_parser("create-key", help="create an API key and print it (shown once)")
    key.add_argument("--cooperative", help="its cooperative id; omit for an operator key")
    key.add_argument("--role", choices=["read", "admin"], default="read")
    key.add_argument("--label", required=True, help="who or what uses it")
    _expiry_arguments(key, "never expires")
    key.set_defaults(func=_registry_create_key)
    listing = tasks.add_parser(
        "list-keys", help="list API keys: prefix, role, cooperative, use, expiry (no secrets)"
    )
    listing.add_argument("--cooperative", help="only this cooperative's keys")
    listing.set_defaults(func=_registry_list_keys)
    revoke = tasks.add_parser("revoke-key", help="revoke an API key at once")
    revoke.add_argument("prefix", help="the key's prefix (list-keys shows it), or the key")
    revoke.set_defaults(func=_registry_revoke_key)
    rotate = tasks.add_parser(
        "rotate-key", help="a new key for the same holder; the old one works for a grace period"
    )
    rotate.add_argument("prefix", help="the key's prefix (list-keys shows it), or the key")
    rotate.add_argument(
        "--grace", default="24h", help="how long the old key keeps working (default 24h; 0s: none)"
    )
    _expiry_arguments(rotate, "as long a life as the old key had")
    rotate.set_defaults(func=_registry_rotate_key)


def _expiry_arguments(parser: argparse.ArgumentParser, default: str) -> None:
    expiry = parser.add_mutually_exclusive_group()
    expiry.add_argument("--expires-in", help=f"lifetime, e.g. 90d, 12h, 2w (default: {default})")
    expiry.add_argument("--expires", help="expiry time, ISO 8601 with offset: 2027-03-31T00:00Z")


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
    from registry.keys import KeyLifecycleError, create_key

    try:
        expires_at = _expiry(args)
        sessions = _registry_session()
        with sessions() as session, session.begin():
            key = create_key(session, args.cooperative, args.role, args.label, expires_at)
    except KeyLifecycleError as exc:
        print(f"isanfarm registry create-key: no key created: {exc}", file=sys.stderr)
        return 2
    print(key)
    return 0


def _expiry(args: argparse.Namespace) -> datetime | None:
    from registry.keys import expiry_after, parse_duration, parse_time

    if args.expires_in:
        return expiry_after(parse_duration(args.expires_in))
    return parse_time(args.expires) if args.expires else None


def _registry_list_keys(args: argparse.Namespace) -> int:
    from registry.keys import key_state, list_keys

    sessions = _registry_session()
    with sessions() as session:
        rows = list_keys(session, args.cooperative)
    print(
        f"{'prefix':<9} {'role':<6} {'cooperative':<20} {'created':<20} {'last used':<20} "
        f"{'expires':<20} {'state':<8} label"
    )
    for row in rows:
        print(
            f"{row.prefix:<9} {row.role:<6} {row.cooperative_id or '(operator)':<20} "
            f"{_when(row.created_at):<20} {_when(row.last_used_at):<20} "
            f"{_when(row.expires_at):<20} {key_state(row):<8} {row.label}"
        )
    return 0


def _when(value: datetime | None) -> str:
    """A registry time, in UTC to the minute, or '-'."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _registry_revoke_key(args: argparse.Namespace) -> int:
    from registry.keys import KeyLifecycleError, revoke_key

    sessions = _registry_session()
    try:
        with sessions() as session, session.begin():
            row = revoke_key(session, args.prefix)
            print(f"key {row.prefix} ({row.label}) revoked at {_when(row.revoked_at)}")
    except KeyLifecycleError as exc:
        print(f"isanfarm registry revoke-key: {exc}", file=sys.stderr)
        return 2
    return 0


def _registry_rotate_key(args: argparse.Namespace) -> int:
    """The new key alone on stdout (for scripts); what happens to the old one on stderr."""
    from registry.keys import KeyLifecycleError, parse_duration, rotate_key

    try:
        grace = parse_duration(args.grace)
        expires_at = _expiry(args)
        sessions = _registry_session()
        with sessions() as session, session.begin():
            key, new, old = rotate_key(session, args.prefix, grace, expires_at)
            until = _when(old.expires_at)
    except KeyLifecycleError as exc:
        print(f"isanfarm registry rotate-key: no key created: {exc}", file=sys.stderr)
        return 2
    print(f"new key {new.prefix}; the old key {old.prefix} works until {until}", file=sys.stderr)
    print(key)
    return 0


def _registry_check_namespaces(args: argparse.Namespace) -> int:
    """Exit 1 if any id lies in another cooperative's namespace, for a registry's checks."""
    from registry.namespaces import trespasses

    sessions = _registry_session()
    with sessions() as session:
        found = trespasses(session)
    for t in found:
        print(f"{t.kind} {t.id!r} of {t.cooperative_id!r} lies in {t.owner!r}'s namespace")
    if found:
        print(
            f"{len(found)} ids to settle by hand: ids name telemetry, so they are not moved; "
            "the cooperative whose namespace holds one gets 409 for it",
            file=sys.stderr,
        )
        return 1
    print("every id lies in its own cooperative's namespace or in none")
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
