"""``isanfarm notify``: run the service, and manage who gets a farm's alerts.

Only argparse at import time: SQLAlchemy, FastAPI and the service load once a command runs.
The registry is ``ISANFARM_DATABASE_URL`` (the API's), migrated first, since these may be the
first commands run against it.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from registry.models import Subscription


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    notify = commands.add_parser(
        "notify", help="alerts to farmers' phones (LINE, e-mail): the service and subscriptions"
    )
    tasks = notify.add_subparsers(required=True, metavar="TASK")
    tasks.add_parser(
        "run", help="run the notifier: registry alerts, LINE and Grafana webhooks, delivery"
    ).set_defaults(func=_run)
    subscribe = tasks.add_parser("subscribe", help="send a farm's (or cooperative's) alerts to")
    _owner(subscribe)
    to = subscribe.add_mutually_exclusive_group(required=True)
    to.add_argument("--line", metavar="USER_ID", help="a LINE user or group id (U.../C...)")
    to.add_argument("--email", metavar="ADDRESS")
    subscribe.add_argument("--label", required=True, help="who it is, e.g. 'ลุงสมชาย'")
    subscribe.add_argument("--kinds", default="", help="comma-separated alert kinds; all if none")
    subscribe.add_argument("--language", choices=["th", "en"], default="th")
    subscribe.add_argument(
        "--quiet", default="21:00-06:00", help="quiet hours, Thai time (21:00-06:00, or none)"
    )
    subscribe.add_argument(
        "--repeat-hours", type=float, default=6.0, help="resend a still-firing alert after"
    )
    subscribe.set_defaults(func=_subscribe)
    unsubscribe = tasks.add_parser("unsubscribe", help="delete a subscription by its id")
    unsubscribe.add_argument("id", type=int)
    unsubscribe.set_defaults(func=_unsubscribe)
    listing = tasks.add_parser("list", help="list subscriptions (of a farm or cooperative)")
    _owner(listing, required=False)
    listing.set_defaults(func=_list)
    code = tasks.add_parser(
        "link-code", help="a one-time code a farmer sends to the LINE Official Account"
    )
    _owner(code)
    code.add_argument("--language", choices=["th", "en"], default="th")
    code.set_defaults(func=_link_code)


def _owner(parser: argparse.ArgumentParser, required: bool = True) -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--farm", help="a farm id: its farmers")
    group.add_argument("--cooperative", help="a cooperative id: its staff")


def _sessions() -> sessionmaker[Session]:
    from notify.settings import NotifySettings
    from registry.db import make_engine, migrate, session_factory

    engine = make_engine(NotifySettings().database_url)
    migrate(engine)
    return session_factory(engine)


def _run(args: argparse.Namespace) -> int:
    import signal
    import threading

    from notify.service import run
    from notify.settings import NotifySettings

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        run(NotifySettings(), stop)
    except KeyboardInterrupt:
        stop.set()
    return 0


def _subscribe(args: argparse.Namespace) -> int:
    from registry import subscriptions as subs

    try:
        spec = subs.SubscriptionSpec(
            cooperative_id=args.cooperative,
            farm_id=args.farm,
            channel="line" if args.line else "email",
            address=args.line or args.email,
            label=args.label,
            kinds=[k.strip() for k in args.kinds.split(",") if k.strip()],
            language=args.language,
            quiet=subs.parse_quiet(args.quiet),
            repeat_interval_s=round(args.repeat_hours * 3600),
        )
        with _sessions()() as session, session.begin():
            row = subs.create(session, spec)
            print(_line(row))
    except subs.SubscriptionError as exc:
        return _fail("subscribe", exc)
    return 0


def _unsubscribe(args: argparse.Namespace) -> int:
    from registry import subscriptions as subs

    try:
        with _sessions()() as session, session.begin():
            subs.delete(session, args.id)
    except subs.SubscriptionError as exc:
        return _fail("unsubscribe", exc)
    print(f"deleted subscription {args.id}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from registry import subscriptions as subs

    try:
        with _sessions()() as session:
            rows = subs.listed(session, args.cooperative, args.farm)
    except subs.SubscriptionError as exc:
        return _fail("list", exc)
    for row in rows:
        print(_line(row))
    print(f"{len(rows)} subscription(s)")
    return 0


def _link_code(args: argparse.Namespace) -> int:
    from registry import subscriptions as subs

    try:
        with _sessions()() as session, session.begin():
            code = subs.create_link_code(session, args.cooperative, args.farm, args.language)
    except subs.SubscriptionError as exc:
        return _fail("link-code", exc)
    days = subs.LINK_CODE_TTL.days
    print(f"link code for {args.farm or args.cooperative}: {code[:4]} {code[4:]}")
    print(f"valid {days} days, once: the farmer adds the LINE Official Account and sends it")
    return 0


def _line(row: Subscription) -> str:
    quiet = f"{row.quiet_start}-{row.quiet_end}" if row.quiet_start else "none"
    return (
        f"{row.id:>5}  {row.farm_id or '(staff of ' + row.cooperative_id + ')':<24} "
        f"{row.channel:<5} {row.address:<34} {row.language}  kinds={row.kinds or 'all'}  "
        f"quiet={quiet}  repeat={row.repeat_interval_s / 3600:g}h  {row.label}"
    )


def _fail(task: str, exc: Exception) -> int:
    print(f"isanfarm notify {task}: {exc}", file=sys.stderr)
    return 2
