"""Is the platform reachable? For load balancers, the demo and an operator at a terminal."""

from __future__ import annotations

import socket

from fastapi import APIRouter, Request, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import InfluxDep, SettingsDep
from api.schemas import Health, ServiceHealth

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "a dependency is unreachable"}},
)
def health(
    settings: SettingsDep, influx: InfluxDep, request: Request, response: Response
) -> Health:
    """No key needed: for load balancers, the demo and an operator at a terminal."""
    broker_address = f"{settings.mqtt.host}:{settings.mqtt.port}"
    broker = ServiceHealth(
        reachable=_accepts_tcp(settings.mqtt.host, settings.mqtt.port, settings.probe_timeout_s),
        address=broker_address,
    )
    database = ServiceHealth(reachable=influx.ping(), address=settings.influx.url)
    registry = ServiceHealth(
        reachable=_registry_answers(request),
        address=request.app.state.engine.url.render_as_string(),
    )
    healthy = broker.reachable and database.reachable and registry.reachable
    if not healthy:
        response.status_code = 503
    return Health(
        status="ok" if healthy else "degraded", broker=broker, database=database, registry=registry
    )


def _registry_answers(request: Request) -> bool:
    try:
        with request.app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True


def _accepts_tcp(host: str, port: int, timeout_s: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False
