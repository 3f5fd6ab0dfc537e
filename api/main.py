"""The FastAPI application, built from one settings object."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import swagger_ui_bundle
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException

import isanfarm
from api.cache import TimedCache
from api.openapi import document_problems
from api.routes import alerts, devices, forecasts, health, registry, subscriptions, telemetry
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
            "only its own members."
        ),
        lifespan=lifespan,
        docs_url=None,  # served below from a package, so /docs works without internet
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.influx = influx
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.forecast_cache = TimedCache(settings.forecast_cache_s)
    for module in (health, registry, devices, telemetry, forecasts, alerts, subscriptions):
        app.include_router(module.router)
    _serve_docs(app)
    document_problems(app)
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
        )


def _problem(status: int, title: str, detail: str, field: str | None = None) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail, field=field)
    return JSONResponse(
        body.model_dump(), status_code=status, media_type="application/problem+json"
    )


async def _http_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = str(exc.detail)
    field = detail.split(":", 1)[0] if exc.status_code == 422 and ":" in detail else None
    response = _problem(exc.status_code, TITLES.get(exc.status_code, "Error"), detail, field)
    if exc.status_code == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def _validation_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    return _problem(422, "Invalid request", f"{field}: {first['msg']}", field)


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
