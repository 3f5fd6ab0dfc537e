"""API keys: random secrets shown once, stored as SHA-256 hashes.

A key reads ``isf_<prefix>_<secret>``. The prefix finds the row; the secret is 32 random bytes,
so a plain SHA-256 (no slow password hash) is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import ApiKey

ROLES = ("read", "admin")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a cooperative's key, or the operator's (``cooperative_id`` None)."""

    cooperative_id: str | None
    role: str
    label: str

    @property
    def is_operator(self) -> bool:
        return self.cooperative_id is None

    def can_see(self, cooperative_id: str) -> bool:
        return self.is_operator or self.cooperative_id == cooperative_id


def create_key(session: Session, cooperative_id: str | None, role: str, label: str) -> str:
    """Store a new key and return it; this is the only time the secret is visible."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    session.add(
        ApiKey(
            prefix=prefix,
            secret_sha256=_digest(secret),
            cooperative_id=cooperative_id,
            role=role,
            label=label,
            created_at=datetime.now(UTC),
        )
    )
    session.flush()
    return f"isf_{prefix}_{secret}"


def authenticate(session: Session, presented: str) -> Principal | None:
    """The principal of a valid, unrevoked key; None for anything else."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != "isf":
        return None
    _, prefix, secret = parts
    row = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_sha256, _digest(secret)):
        return None
    return Principal(row.cooperative_id, row.role, row.label)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
