"""Alerts: soil dry, heat stress, device offline, ingest rejects; listed and acknowledged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from sqlalchemy import ColumnElement

from api.deps import AdminDep, PrincipalDep, SessionDep
from api.schemas import NO_NUL, Alert, Id, Page
from api.scope import NOT_FOUND, Limit, Offset, get_visible, page_of
from registry import models

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])
#: Alert ids are PostgreSQL ``integer``s: a larger one cannot exist, and would not fit the query.
MAX_ALERT_ID = 2_147_483_647
AlertId = Annotated[int, Path(ge=1, le=MAX_ALERT_ID, examples=[17])]


@router.get("", response_model=Page[Alert])
def list_alerts(
    principal: PrincipalDep,
    session: SessionDep,
    state: Annotated[Literal["open", "acknowledged", "all"], Query()] = "open",
    kind: Annotated[str | None, Query(max_length=30, pattern=NO_NUL, examples=["soil_dry"])] = None,
    farm_id: Annotated[Id | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[Alert]:
    filters: list[ColumnElement[bool]] = []
    if state == "open":
        filters.append(models.Alert.acknowledged_at.is_(None))
    elif state == "acknowledged":
        filters.append(models.Alert.acknowledged_at.is_not(None))
    if kind is not None:
        filters.append(models.Alert.kind == kind)
    if farm_id is not None:
        filters.append(models.Alert.farm_id == farm_id)
    return page_of(session, models.Alert, Alert, principal, filters, limit, offset)


@router.post(
    "/{alert_id}/acknowledge",
    response_model=Alert,
    responses=NOT_FOUND,
)
def acknowledge(alert_id: AlertId, principal: AdminDep, session: SessionDep) -> Alert:
    """Idempotent: acknowledging twice keeps the first acknowledgement."""
    alert = get_visible(session, models.Alert, alert_id, principal)
    if alert.acknowledged_at is None:
        alert.acknowledged_at = datetime.now(UTC)
        alert.acknowledged_by = principal.label
    return Alert.model_validate(alert)
