"""Is the platform reachable? For load balancers, the demo and an operator at a terminal."""

from __future__ import annotations

import socket

from fastapi import APIRouter, Response

from api.deps import InfluxDep, SettingsDep
from api.schemas import Health, ServiceHealth

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "a dependency is unreachable"}},
)
def health(settings: SettingsDep, influx: InfluxDep, response: Response) -> Health:
    broker_address = f"{settings.mqtt.host}:{settings.mqtt.port}"
    broker = ServiceHealth(
        reachable=_accepts_tcp(settings.mqtt.host, settings.mqtt.port, settings.probe_timeout_s),
        address=broker_address,
    )
    database = ServiceHealth(reachable=influx.ping(), address=settings.influx.url)
    healthy = broker.reachable and database.reachable
    if not healthy:
        response.status_code = 503
    return Health(status="ok" if healthy else "degraded", broker=broker, database=database)


def _accepts_tcp(host: str, port: int, timeout_s: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False
