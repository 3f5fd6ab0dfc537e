"""Alert subscriptions and LINE link codes: create, list, delete, redeem.

They live in the registry package, not in ``notify``, because both the notifier's CLI and the
API's admin routes manage them, and ``api`` and ``notify`` are peers that may not import each
other. Every error names what was wrong and how to fix it; callers turn it into their own
(an exit code, an HTTP 404 or 422).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import (
    ALERT_KINDS,
    CHANNELS,
    LANGUAGES,
    Cooperative,
    Farm,
    LinkCode,
    Subscription,
)

#: Grafana's rules that have no kind in the registry's alert list (``dashboards.alerts``).
FORECAST_STALE = "forecast_stale"
#: Every kind a subscription may name: the alert engine's and Grafana's.
SUBSCRIBABLE_KINDS = (*ALERT_KINDS, FORECAST_STALE)
#: A still-firing alert is sent again after this long, unless the subscription says otherwise.
DEFAULT_REPEAT_S = 6 * 3600
#: Never more often than this: a farmer who is told every minute stops reading.
MIN_REPEAT_S = 15 * 60
#: A week: an alert still open after it is sent again at least weekly.
MAX_REPEAT_S = 7 * 24 * 3600
#: A farmer's night, Thai time: warnings wait, critical alerts still go.
DEFAULT_QUIET = ("21:00", "06:00")
#: How long a link code stays valid after the cooperative prints it.
LINK_CODE_TTL = timedelta(days=3)
LINK_CODE_DIGITS = 8

_LINE_ID = re.compile(r"^[UC][0-9a-f]{32}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class SubscriptionError(ValueError):
    """A subscription or link code that cannot be made as asked."""


class NotFoundError(SubscriptionError):
    """The farm, cooperative or subscription named does not exist (or is not the caller's)."""


@dataclass(frozen=True, slots=True)
class SubscriptionSpec:
    """What a new subscription asks for; ``create`` checks it against the registry."""

    cooperative_id: str | None
    farm_id: str | None
    channel: str
    address: str
    label: str
    kinds: Sequence[str] = ()
    language: str = "th"
    quiet: tuple[str, str] | None = DEFAULT_QUIET
    repeat_interval_s: int = DEFAULT_REPEAT_S


def create(session: Session, spec: SubscriptionSpec) -> Subscription:
    cooperative_id = owner_of(session, spec.cooperative_id, spec.farm_id)
    _check(spec)
    row = Subscription(
        cooperative_id=cooperative_id,
        farm_id=spec.farm_id,
        channel=spec.channel,
        address=spec.address,
        label=spec.label,
        kinds=",".join(dict.fromkeys(spec.kinds)),
        language=spec.language,
        quiet_start=spec.quiet[0] if spec.quiet else None,
        quiet_end=spec.quiet[1] if spec.quiet else None,
        repeat_interval_s=spec.repeat_interval_s,
        created_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    return row


def owner_of(session: Session, cooperative_id: str | None, farm_id: str | None) -> str:
    """The cooperative a subscription or code belongs to: the farm's, which must then agree
    with ``cooperative_id`` if that is given too; or the named cooperative, for its staff."""
    if farm_id is not None:
        farm = session.get(Farm, farm_id)
        if farm is None:
            raise NotFoundError(f"farm {farm_id!r} is not in the registry: check the id")
        if cooperative_id is not None and farm.cooperative_id != cooperative_id:
            raise NotFoundError(f"farm {farm_id!r} is not a member of {cooperative_id!r}")
        return farm.cooperative_id
    if cooperative_id is None:
        raise SubscriptionError("give a farm (its farmers) or a cooperative (its staff)")
    if session.get(Cooperative, cooperative_id) is None:
        raise NotFoundError(f"cooperative {cooperative_id!r} is not in the registry")
    return cooperative_id


def _check(spec: SubscriptionSpec) -> None:
    if spec.channel not in CHANNELS:
        raise SubscriptionError(f"channel {spec.channel!r} is not one of {', '.join(CHANNELS)}")
    if spec.channel == "line" and not _LINE_ID.match(spec.address):
        raise SubscriptionError(
            f"address {spec.address!r} is no LINE user or group id (U or C and 32 hex "
            "digits): link the farmer's LINE with a link code instead"
        )
    if spec.channel == "email" and not _EMAIL.match(spec.address):
        raise SubscriptionError(f"address {spec.address!r} is no e-mail address")
    unknown = [k for k in spec.kinds if k not in SUBSCRIBABLE_KINDS]
    if unknown:
        raise SubscriptionError(
            f"kinds: {', '.join(unknown)} unknown; choose from {', '.join(SUBSCRIBABLE_KINDS)}"
        )
    if spec.language not in LANGUAGES:
        raise SubscriptionError(f"language {spec.language!r} is not one of th, en")
    if spec.quiet is not None:
        for clock in spec.quiet:
            if not _CLOCK.match(clock):
                raise SubscriptionError(f"quiet hours: {clock!r} is not a time HH:MM (Thai)")
    if not MIN_REPEAT_S <= spec.repeat_interval_s <= MAX_REPEAT_S:
        raise SubscriptionError(
            f"repeat interval {spec.repeat_interval_s} s: choose between {MIN_REPEAT_S} s "
            f"(15 minutes) and {MAX_REPEAT_S} s (a week)"
        )


def parse_quiet(text: str) -> tuple[str, str] | None:
    """``"21:00-06:00"`` to a pair; ``"none"`` or ``""`` to no quiet hours."""
    if text.strip().lower() in ("", "none", "off"):
        return None
    start, sep, end = text.partition("-")
    if not sep or not _CLOCK.match(start.strip()) or not _CLOCK.match(end.strip()):
        raise SubscriptionError(f"quiet hours {text!r}: write them as 21:00-06:00 or none")
    return start.strip(), end.strip()


def listed(
    session: Session, cooperative_id: str | None = None, farm_id: str | None = None
) -> list[Subscription]:
    """A farm's subscriptions, a cooperative's (its farms' and its staff's), or all."""
    query = select(Subscription).order_by(Subscription.id)
    if farm_id is not None:
        owner_of(session, cooperative_id, farm_id)
        query = query.where(Subscription.farm_id == farm_id)
    elif cooperative_id is not None:
        owner_of(session, cooperative_id, None)
        query = query.where(Subscription.cooperative_id == cooperative_id)
    return list(session.scalars(query))


def delete(session: Session, subscription_id: int, cooperative_id: str | None = None) -> None:
    """Remove one; with ``cooperative_id`` only if it is that cooperative's."""
    row = session.get(Subscription, subscription_id)
    if row is None or (cooperative_id is not None and row.cooperative_id != cooperative_id):
        raise NotFoundError(f"subscription {subscription_id} does not exist: see the list")
    session.delete(row)
    session.flush()


def create_link_code(
    session: Session,
    cooperative_id: str | None,
    farm_id: str | None,
    language: str = "th",
    now: datetime | None = None,
) -> str:
    """A fresh code (digits, easy to type on a phone) for the farm, or for the cooperative's
    staff; returned once, stored as a hash."""
    owner = owner_of(session, cooperative_id, farm_id)
    if language not in LANGUAGES:
        raise SubscriptionError(f"language {language!r} is not one of th, en")
    code = "".join(secrets.choice("0123456789") for _ in range(LINK_CODE_DIGITS))
    created = now or datetime.now(UTC)
    session.add(
        LinkCode(
            code_sha256=code_digest(code),
            cooperative_id=owner,
            farm_id=farm_id,
            language=language,
            created_at=created,
            expires_at=created + LINK_CODE_TTL,
        )
    )
    session.flush()
    return code


def code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def normalise_code(text: str) -> str | None:
    """The code in what a farmer typed ("1234 5678", "1234-5678", Thai digits too), or
    None when the text is not a code."""
    thai = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
    digits = re.sub(r"[\s-]", "", text.translate(thai))
    return digits if len(digits) == LINK_CODE_DIGITS and digits.isdigit() else None


def redeem_link_code(
    session: Session, code: str, line_user_id: str, now: datetime | None = None
) -> Subscription | None:
    """Subscribe ``line_user_id`` to the code's farm (or cooperative) with the defaults, once:
    None if the code is unknown, used or expired. A user already subscribed there keeps the
    subscription he has, and the code is spent all the same."""
    at = now or datetime.now(UTC)
    row = session.get(LinkCode, code_digest(code))
    if row is None or row.used_at is not None or _aware(row.expires_at) <= at:
        return None
    row.used_at, row.used_by = at, line_user_id
    existing = session.scalars(
        select(Subscription).where(
            Subscription.cooperative_id == row.cooperative_id,
            Subscription.farm_id.is_(None)
            if row.farm_id is None
            else Subscription.farm_id == row.farm_id,
            Subscription.channel == "line",
            Subscription.address == line_user_id,
        )
    ).first()
    if existing is not None:
        session.flush()
        return existing
    label = "LINE (link code)"
    spec = SubscriptionSpec(
        row.cooperative_id, row.farm_id, "line", line_user_id, label, language=row.language
    )
    return create(session, spec)


def _aware(at: datetime) -> datetime:
    """SQLite gives back naive datetimes; they were stored in UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
