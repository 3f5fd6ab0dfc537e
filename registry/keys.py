"""API keys: random secrets shown once, stored as SHA-256 hashes, revocable, and optionally
expiring.

A key reads ``isf_<prefix>_<secret>``. The prefix finds the row and names the key wherever a
person must point at one (listing, revoking, rotating); the secret is 32 random bytes, so a
plain SHA-256 (no slow password hash) is enough: there is nothing to brute-force.

A key's life: created (with an expiry or without), used (the last use is recorded at most once
a minute, so that a busy key does not write on every request), rotated (a new key; the old one
keeps working for a grace period, then expires) or revoked (at once).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from registry.models import ApiKey, Cooperative

ROLES = ("read", "admin")
KeyState = Literal["active", "revoked", "expired"]
#: A key's last use is written when the one recorded is older than this.
USE_RECORDED_EVERY = timedelta(minutes=1)
PREFIX_PATTERN = re.compile(r"[0-9a-f]{8}")
_DURATION = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


class KeyLifecycleError(ValueError):
    """A key operation that cannot be done; the message says why and what to do."""


class UnknownKeyError(KeyLifecycleError):
    """No key has the prefix a person named."""


class KeyRejectedError(Exception):
    """A presented key that does not authenticate; the message may be shown to its holder."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a cooperative's key, or the operator's (``cooperative_id`` None)."""

    cooperative_id: str | None
    role: str
    label: str
    key_prefix: str = ""
    last_used_at: datetime | None = None

    @property
    def is_operator(self) -> bool:
        return self.cooperative_id is None

    def can_see(self, cooperative_id: str) -> bool:
        return self.is_operator or self.cooperative_id == cooperative_id


def create_key(
    session: Session,
    cooperative_id: str | None,
    role: str,
    label: str,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> str:
    """Store a new key and return it; this is the only time the secret is visible."""
    key, _ = _new_key(session, cooperative_id, role, label, expires_at, now or _now())
    return key


def _new_key(
    session: Session,
    cooperative_id: str | None,
    role: str,
    label: str,
    expires_at: datetime | None,
    now: datetime,
) -> tuple[str, ApiKey]:
    if role not in ROLES:
        raise KeyLifecycleError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if cooperative_id is not None and session.get(Cooperative, cooperative_id) is None:
        raise KeyLifecycleError(
            f"cooperative {cooperative_id!r} is not in the registry: import it first "
            "(`isanfarm registry import cooperatives FILE`), or omit it for an operator key"
        )
    if expires_at is not None:
        expires_at = _checked_expiry(expires_at, now)
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(
        prefix=prefix,
        secret_sha256=_digest(secret),
        cooperative_id=cooperative_id,
        role=role,
        label=label,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return f"isf_{prefix}_{secret}", row


def _checked_expiry(expires_at: datetime, now: datetime) -> datetime:
    """The expiry in UTC, if it is one: aware, representable in UTC, in the future."""
    if expires_at.tzinfo is None:
        raise KeyLifecycleError(f"expiry {expires_at.isoformat()} has no UTC offset; add one")
    try:
        utc = expires_at.astimezone(UTC)
    except OverflowError:
        raise KeyLifecycleError(f"expiry {expires_at.isoformat()} is out of range") from None
    if utc <= now:
        raise KeyLifecycleError(f"expiry {expires_at.isoformat()} is not in the future")
    return utc


def expiry_after(lifetime: timedelta, now: datetime | None = None) -> datetime:
    """``now + lifetime``, or the last representable time for a lifetime beyond it."""
    try:
        return (now or _now()) + lifetime
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def authenticate(session: Session, presented: str, now: datetime | None = None) -> Principal:
    """The principal of a valid key; ``KeyRejectedError`` for anything else. Whether a key was
    revoked or has expired is told only to whoever shows its secret."""
    now = now or _now()
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != "isf":
        raise KeyRejectedError("the API key is malformed: keys read 'isf_<prefix>_<secret>'")
    _, prefix, secret = parts
    row = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one_or_none()
    if row is None or not hmac.compare_digest(row.secret_sha256, _digest(secret)):
        raise KeyRejectedError("the API key is unknown")
    state = key_state(row, now)
    if state != "active":
        ended = (
            f"was revoked at {_iso(row.revoked_at)}"
            if state == "revoked"
            else f"expired at {_iso(row.expires_at)}"
        )
        raise KeyRejectedError(f"the API key {prefix} {ended}; ask the operator for a new one")
    return Principal(row.cooperative_id, row.role, row.label, row.prefix, row.last_used_at)


def use_to_record(principal: Principal, now: datetime | None = None) -> bool:
    """Whether this use of the key should be written (the last recorded is old or none)."""
    last = principal.last_used_at
    return last is None or (now or _now()) - last >= USE_RECORDED_EVERY


def record_use(session: Session, prefix: str, now: datetime | None = None) -> None:
    """Write the key's last use, unless another request did within the minute: one guarded
    UPDATE, meant for a short transaction of its own (a request's transaction may last as long
    as its slowest query, and would hold the row's lock that long)."""
    now = now or _now()
    session.execute(
        update(ApiKey)
        .where(
            ApiKey.prefix == prefix,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - USE_RECORDED_EVERY),
        )
        .values(last_used_at=now)
    )


def key_state(row: ApiKey, now: datetime | None = None) -> KeyState:
    """``active``, ``revoked`` or ``expired``."""
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= (now or _now()):
        return "expired"
    return "active"


def list_keys(session: Session, cooperative_id: str | None = None) -> list[ApiKey]:
    """Every key (of one cooperative if given), oldest first."""
    query = select(ApiKey).order_by(ApiKey.id)
    if cooperative_id is not None:
        query = query.where(ApiKey.cooperative_id == cooperative_id)
    return list(session.scalars(query))


def find_key(session: Session, reference: str) -> ApiKey:
    """The key a person names by its prefix (or by the whole key, whose prefix is read)."""
    prefix = reference.split("_")[1] if reference.startswith("isf_") else reference
    row = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one_or_none()
    if row is None:
        raise UnknownKeyError(
            f"no key has prefix {prefix!r}; `isanfarm registry list-keys` lists them"
        )
    return row


def revoke_key(session: Session, reference: str, now: datetime | None = None) -> ApiKey:
    """Revoke at once; revoking a revoked key keeps its first revocation time."""
    row = find_key(session, reference)
    if row.revoked_at is None:
        row.revoked_at = now or _now()
    return row


def rotate_key(
    session: Session,
    reference: str,
    grace: timedelta,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> tuple[str, ApiKey, ApiKey]:
    """A new key with the old one's cooperative, role and label; the old one keeps working for
    ``grace``, then expires. The new key expires at ``expires_at`` if given, else after as
    long a life as the old one was given (never, if it had no expiry). Returns the new key's
    secret, the new row and the old row."""
    now = now or _now()
    if grace < timedelta(0):
        raise KeyLifecycleError("grace: must not be negative")
    old = find_key(session, reference)
    state = key_state(old, now)
    if state != "active":
        raise KeyLifecycleError(f"key {old.prefix} is {state}: create a new key instead")
    if expires_at is None and old.expires_at is not None:
        expires_at = expiry_after(old.expires_at - old.created_at, now)
    key, new = _new_key(session, old.cooperative_id, old.role, old.label, expires_at, now)
    end_of_grace = expiry_after(grace, now)
    if old.expires_at is None or old.expires_at > end_of_grace:
        old.expires_at = end_of_grace
    return key, new, old


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m``, ``45s``, ``2w``, or several (``1d12h``)."""
    cleaned = text.strip().lower()
    if not cleaned or _DURATION.sub("", cleaned):
        raise KeyLifecycleError(
            f"duration {text!r}: write a number and a unit (s, m, h, d, w), e.g. 90d or 12h"
        )
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _DURATION.findall(cleaned))
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise KeyLifecycleError(f"duration {text!r} is out of range") from None


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with its UTC offset (``2027-03-31T00:00:00Z``)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise KeyLifecycleError(
            f"time {text!r}: write ISO 8601 with an offset, e.g. 2027-03-31T00:00:00Z"
        ) from None
    if value.tzinfo is None:
        raise KeyLifecycleError(f"time {text!r} has no UTC offset: add one (Z for UTC)")
    return value.astimezone(UTC)


def _iso(value: datetime | None) -> str:
    return "?" if value is None else value.isoformat()


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
