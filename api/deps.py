"""Request dependencies: settings, the databases, and who is calling."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy.orm import Session

from api.cache import TimedCache
from api.settings import ApiSettings
from isanfarm.influx import InfluxV1
from registry.keys import Principal, authenticate


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
    session: SessionDep,
    authorization: Annotated[str | None, Header(description="Bearer <API key>")] = None,
    x_api_key: Annotated[str | None, Header(description="the API key, instead of Bearer")] = None,
) -> Principal:
    presented = x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        presented = authorization[7:].strip()
    if not presented:
        raise HTTPException(401, "send an API key: 'Authorization: Bearer isf_...'")
    principal = authenticate(session, presented)
    if principal is None:
        raise HTTPException(401, "the API key is unknown or revoked")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_admin(principal: PrincipalDep) -> Principal:
    if principal.role != "admin":
        raise HTTPException(403, "this key may read only; changes need an admin key")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]
