"""The FastAPI application, built from one settings object."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import swagger_ui_bundle
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

import isanfarm
from api.bodies import BodyLimit, json_body_only, too_large
from api.cache import TimedCache
from api.openapi import document_problems
from api.routes import alerts, devices, forecasts, health, keys, registry, subscriptions, telemetry
from api.schemas import Problem
from api.settings import ApiSettings
from isanfarm.influx import InfluxError, InfluxV1
from registry.db import make_engine, migrate, require_current, session_factory

log = logging.getLogger(__name__)
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid request",
}


def create_app(settings: ApiSettings) -> FastAPI:
    influx = InfluxV1(settings.influx)
    engine = make_engine(
        settings.database_url,
        connect_timeout_s=settings.registry_connect_timeout_s,
        statement_timeout_s=settings.registry_statement_timeout_s,
        pool_timeout_s=settings.registry_pool_timeout_s,
    )
    if settings.migrate_on_start:
        migrate(engine)
    else:
        require_current(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        influx.close()
        engine.dispose()

    app = FastAPI(
        title="isanfarm API",
        version=isanfarm.__version__,
        description=(
            "Forecasts, fields, herds, devices and alerts for Isan farming cooperatives. "
            "Send an API key as `Authorization: Bearer isf_...`; a cooperative's key sees "
            "only its own members. Errors are problem documents (RFC 9457). Bodies are JSON "
            "(415 otherwise) of at most `ISANFARM_MAX_BODY_BYTES` (413); a method a path does not "
            "take is a 405 whose `Allow` lists those it does. Times are ISO 8601, in UTC."
        ),
        lifespan=lifespan,
        dependencies=[Depends(json_body_only)],
        docs_url=None,  # served below from a package, so /docs works without internet
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.influx = influx
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.forecast_cache = TimedCache(settings.forecast_cache_s)
    routers = [
        m.router
        for m in (health, registry, devices, telemetry, forecasts, alerts, keys, subscriptions)
    ]
    for router in routers:
        app.include_router(router)
    _serve_docs(app)
    #: Every route with its full path, for the ``Allow`` of a 405.
    app.state.routes = [*app.router.routes, *(route for r in routers for route in r.routes)]
    document_problems(app)
    app.add_middleware(
        BodyLimit, max_body_bytes=settings.max_body_bytes, refuse=_refuse(settings.max_body_bytes)
    )
    app.add_exception_handler(HTTPException, _http_problem)
    app.add_exception_handler(RequestValidationError, _validation_problem)
    app.add_exception_handler(InfluxError, _database_problem)
    app.add_exception_handler(OperationalError, _registry_problem)
    app.add_exception_handler(PoolTimeoutError, _registry_problem)
    app.add_exception_handler(Exception, _unexpected_problem)
    return app


def _serve_docs(app: FastAPI) -> None:
    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path))

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="isanfarm API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
            # Swagger UI would otherwise send the spec's URL to an outside validator service.
            swagger_ui_parameters={"validatorUrl": None},
        )


def _problem(status: int, title: str, detail: str, field: str | None = None) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail, field=field)
    return JSONResponse(
        body.model_dump(), status_code=status, media_type="application/problem+json"
    )


def _refuse(limit: int) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The 413 of a body declared too large, answered before the app sees the request."""

    async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
        response = await _http_problem(Request(scope), too_large(limit))
        await response(scope, receive, send)

    return refuse


async def _http_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        return _unparsable()  # FastAPI's words for a body that is not UTF-8, say
    detail = str(exc.detail)
    field = detail.split(":", 1)[0] if exc.status_code == 422 and ":" in detail else None
    response = _problem(exc.status_code, TITLES.get(exc.status_code, "Error"), detail, field)
    response.headers.update(exc.headers or {})
    if exc.status_code == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if exc.status_code == 405 and (allowed := _allowed_methods(request)):
        response.headers["Allow"] = ", ".join(allowed)  # else the raiser's (static files)
    return response


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of this path takes (RFC 9110 asks ``Allow`` on a 405), not
    only the first route's: ``GET /v1/farms`` and ``POST /v1/farms`` are two routes."""
    path = request.url.path
    allowed: set[str] = set()
    for route in request.app.state.routes:
        if isinstance(route, Route) and route.methods and route.path_regex.match(path):
            allowed |= route.methods
    return sorted(allowed)


async def _validation_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    if first["type"] == "json_invalid":  # as any other body that does not parse: a 400
        return _unparsable()
    field = ".".join(str(part) for part in first["loc"])
    return _problem(422, "Invalid request", f"{field}: {first['msg']}", field)


def _unparsable() -> JSONResponse:
    return _problem(400, "Bad request", "body: the body is not valid JSON (UTF-8)", "body")


async def _database_problem(request: Request, exc: Exception) -> JSONResponse:
    # The database's own message can name internals: it goes to the log, not to the client.
    log.error("%s %s: %s", request.method, request.url.path, exc)
    return _problem(503, "Database unavailable", "the time-series database did not answer; retry")


async def _registry_problem(request: Request, exc: Exception) -> JSONResponse:
    """The registry did not answer in time, refused the connection or dropped it: the pool
    throws such a connection away (``pool_pre_ping`` tests the rest), so a retry once the
    database is back succeeds. The driver's message names hosts: logged, not sent."""
    log.error("%s %s: registry: %s", request.method, request.url.path, exc)
    return _problem(503, "Registry unavailable", "the registry database did not answer; retry")


async def _unexpected_problem(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path)
    return _problem(500, "Internal error", "something went wrong on our side; it was logged")
