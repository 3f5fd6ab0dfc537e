"""API keys, for the operator's admin key: list, create, revoke, rotate (``registry.keys``).

The same tasks as ``isanfarm registry list-keys`` / ``create-key`` / ``revoke-key`` /
``rotate-key``, for an operator who has no shell on the server. A cooperative's keys are
managed by the operator, not by the cooperative's own admin key: a leaked admin key must not
be able to mint itself successors.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query

from api.deps import OperatorDep, SessionDep
from api.schemas import ApiKeyIn, ApiKeyInfo, CreatedApiKey, Id, Page, RotateKeyIn
from api.scope import Limit, Offset
from registry import keys
from registry.models import ApiKey

router = APIRouter(
    prefix="/v1/keys",
    tags=["keys"],
    responses={403: {"description": "not the operator's admin key"}},
)
PathPrefix = Annotated[str, Path(pattern="^[0-9a-f]{8}$", examples=["3f9a0c1d"])]
UNKNOWN: dict[int | str, dict[str, Any]] = {404: {"description": "no key has this prefix"}}


@router.get("", response_model=Page[ApiKeyInfo])
def list_keys(
    principal: OperatorDep,
    session: SessionDep,
    cooperative_id: Annotated[Id | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[ApiKeyInfo]:
    """Every key (of one cooperative if given), oldest first, without secrets."""
    rows = keys.list_keys(session, cooperative_id)
    now = datetime.now(UTC)
    items = [info(row, now) for row in rows[offset : offset + limit]]
    return Page(items=items, total=len(rows), limit=limit, offset=offset)


@router.post(
    "",
    response_model=CreatedApiKey,
    status_code=201,
    responses={422: {"description": "unknown cooperative, or an expiry in the past"}},
)
def create_key(body: ApiKeyIn, principal: OperatorDep, session: SessionDep) -> CreatedApiKey:
    try:
        secret = keys.create_key(
            session, body.cooperative_id, body.role, body.label, body.expires_at
        )
    except keys.KeyLifecycleError as exc:
        raise HTTPException(422, f"body: {exc}") from None
    row = keys.find_key(session, secret)
    return CreatedApiKey(key=secret, info=info(row, datetime.now(UTC)))


@router.post("/{prefix}/revoke", response_model=ApiKeyInfo, responses=UNKNOWN)
def revoke_key(prefix: PathPrefix, principal: OperatorDep, session: SessionDep) -> ApiKeyInfo:
    """At once; idempotent (revoking again keeps the first revocation time)."""
    try:
        row = keys.revoke_key(session, prefix)
    except keys.UnknownKeyError as exc:
        raise HTTPException(404, str(exc)) from None
    return info(row, datetime.now(UTC))


@router.post(
    "/{prefix}/rotate",
    response_model=CreatedApiKey,
    status_code=201,
    responses={**UNKNOWN, 409: {"description": "the key is revoked or expired"}},
)
def rotate_key(
    prefix: PathPrefix, body: RotateKeyIn, principal: OperatorDep, session: SessionDep
) -> CreatedApiKey:
    """A new key with the same cooperative, role and label; the old key keeps working for
    ``grace_s`` seconds, then expires."""
    now = datetime.now(UTC)
    try:
        old = keys.find_key(session, prefix)
    except keys.UnknownKeyError as exc:
        raise HTTPException(404, str(exc)) from None
    if (state := keys.key_state(old, now)) != "active":
        raise HTTPException(409, f"key {prefix} is {state}: create a new key instead")
    grace = timedelta(seconds=body.grace_s)
    try:
        secret, new, _ = keys.rotate_key(session, prefix, grace, body.expires_at, now)
    except keys.KeyLifecycleError as exc:
        raise HTTPException(422, f"body: {exc}") from None
    return CreatedApiKey(key=secret, info=info(new, now))


def info(row: ApiKey, now: datetime) -> ApiKeyInfo:
    return ApiKeyInfo(
        prefix=row.prefix,
        role=row.role,
        cooperative_id=row.cooperative_id,
        label=row.label,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        state=keys.key_state(row, now),
    )
