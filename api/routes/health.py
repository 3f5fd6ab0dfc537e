"""Is the platform reachable? In two levels: ``/health`` for anyone (load balancers, the demo,
an operator at a terminal) says whether each dependency answers but never where it is, since
registry user, host and database, the SQLite path and the InfluxDB and broker addresses help
only an attacker; ``/health/dependencies`` adds the addresses, for an operator key."""

from __future__ import annotations

import socket

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import InfluxDep, PrincipalDep, SettingsDep
from api.schemas import Health, Liveness, Problem, Reachable, ServiceHealth
from api.settings import ApiSettings
from isanfarm.influx import InfluxV1

router = APIRouter(tags=["health"])
DEGRADED = "a dependency is unreachable: the same shape, `status` 'degraded'"


@router.get(
    "/health",
    response_model=Liveness,
    responses={503: {"model": Liveness, "description": DEGRADED}},
)
def health(
    settings: SettingsDep, influx: InfluxDep, request: Request, response: Response
) -> Liveness:
    """No key needed; says which dependency is away, not where it is."""
    report = _probe(settings, influx, request, response)
    return Liveness(
        status=report.status,
        broker=Reachable(reachable=report.broker.reachable),
        database=Reachable(reachable=report.database.reachable),
        registry=Reachable(reachable=report.registry.reachable),
    )


@router.get(
    "/health/dependencies",
    response_model=Health,
    responses={
        403: {"model": Problem, "description": "a cooperative's key: this needs an operator key"},
        503: {
            "model": Health,
            "description": f"{DEGRADED}; a problem document when the registry cannot check the key",
        },
    },
)
def dependencies(
    principal: PrincipalDep,
    settings: SettingsDep,
    influx: InfluxDep,
    request: Request,
    response: Response,
) -> Health:
    """Each dependency with its address (passwords hidden), for an operator key."""
    if not principal.is_operator:
        raise HTTPException(403, "the dependency report needs an operator key")
    return _probe(settings, influx, request, response)


def _probe(settings: ApiSettings, influx: InfluxV1, request: Request, response: Response) -> Health:
    broker = ServiceHealth(
        reachable=_accepts_tcp(settings.mqtt.host, settings.mqtt.port, settings.probe_timeout_s),
        address=f"{settings.mqtt.host}:{settings.mqtt.port}",
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
