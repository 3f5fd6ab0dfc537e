"""The FastAPI application, built from one settings object."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

import isanfarm
from api.routes import devices, health
from api.schemas import Problem
from api.settings import ApiSettings
from isanfarm.influx import InfluxError, InfluxV1

log = logging.getLogger(__name__)


def create_app(settings: ApiSettings) -> FastAPI:
    influx = InfluxV1(settings.influx)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        influx.close()

    app = FastAPI(
        title="isanfarm API",
        version=isanfarm.__version__,
        description="Forecasts, fields, herds and device data for Isan farming cooperatives.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.influx = influx
    app.include_router(health.router)
    app.include_router(devices.router)
    app.add_exception_handler(HTTPException, _http_problem)
    app.add_exception_handler(RequestValidationError, _validation_problem)
    app.add_exception_handler(InfluxError, _database_problem)
    return app


def _problem(status: int, title: str, detail: str, field: str | None = None) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail, field=field)
    return JSONResponse(
        body.model_dump(), status_code=status, media_type="application/problem+json"
    )


async def _http_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return _problem(exc.status_code, _title(exc.status_code), str(exc.detail))


async def _validation_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    return _problem(422, "Invalid request", f"{field}: {first['msg']}", field)


async def _database_problem(request: Request, exc: Exception) -> JSONResponse:
    # The database's own message can name internals: it goes to the log, not to the client.
    log.error("%s %s: %s", request.method, request.url.path, exc)
    return _problem(503, "Database unavailable", "the time-series database did not answer; retry")


def _title(status: int) -> str:
    return {401: "Unauthorized", 403: "Forbidden", 404: "Not found"}.get(status, "Request error")
