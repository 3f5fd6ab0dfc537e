"""Request dependencies: settings, the databases, and who is calling."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from api.cache import TimedCache
from api.settings import ApiSettings
from isanfarm.influx import InfluxV1
from registry.keys import KeyRejectedError, Principal, authenticate, record_use, use_to_record

log = logging.getLogger(__name__)


def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


def get_influx(request: Request) -> InfluxV1:
    influx: InfluxV1 = request.app.state.influx
    return influx


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session, session.begin():
        yield session


def get_forecast_cache(request: Request) -> TimedCache[Any, Any]:
    cache: TimedCache[Any, Any] = request.app.state.forecast_cache
    return cache


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
ForecastCacheDep = Annotated[TimedCache[Any, Any], Depends(get_forecast_cache)]
InfluxDep = Annotated[InfluxV1, Depends(get_influx)]
SessionDep = Annotated[Session, Depends(get_session)]


def get_principal(
    request: Request,
    session: SessionDep,
    authorization: Annotated[str | None, Header(description="Bearer <API key>")] = None,
    x_api_key: Annotated[str | None, Header(description="the API key, instead of Bearer")] = None,
) -> Principal:
    presented = x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        presented = authorization[7:].strip()
    if not presented:
        raise HTTPException(401, "send an API key: 'Authorization: Bearer isf_...'")
    now = datetime.now(UTC)
    try:
        principal = authenticate(session, presented, now)
    except KeyRejectedError as exc:
        raise HTTPException(401, str(exc)) from None
    if use_to_record(principal, now):
        _record_use(request, principal.key_prefix, now)
    return principal


def _record_use(request: Request, prefix: str, now: datetime) -> None:
    """In a short transaction of its own, at most once a minute per key. A failure (a locked
    SQLite file under load) costs a late 'last used', never the request."""
    try:
        with request.app.state.sessions() as session, session.begin():
            record_use(session, prefix, now)
    except OperationalError as exc:
        log.warning("could not record the use of key %s: %s", prefix, exc)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_admin(principal: PrincipalDep) -> Principal:
    if principal.role != "admin":
        raise HTTPException(403, "this key may read only; changes need an admin key")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]


def require_operator(principal: AdminDep) -> Principal:
    if not principal.is_operator:
        raise HTTPException(403, "managing keys needs the operator's admin key")
    return principal


OperatorDep = Annotated[Principal, Depends(require_operator)]
