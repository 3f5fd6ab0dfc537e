"""Who gets a farm's alerts on LINE or by e-mail: the cooperative's admin key manages its own
farms' and staff's subscriptions, the operator's key any. A subscription holds a person's LINE
id or address, so even listing takes an admin key.

The request and response models are here rather than in ``api/schemas.py``: they belong to
this resource alone, and keep to that module's rules (separate in and out models, examples).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminDep, SessionDep
from api.schemas import NO_NUL, Id, Problem
from registry import subscriptions as subs
from registry.keys import Principal

router = APIRouter(prefix="/v1", tags=["subscriptions"])

ERRORS: dict[int | str, dict[str, object]] = {
    404: {
        "model": Problem,
        "description": "no such farm, cooperative or subscription (or not yours)",
    },
    422: {"model": Problem, "description": "what was wrong and how to fix it"},
}
Language = Annotated[str, Field(pattern="^(th|en)$", examples=["th"])]


class SubscriptionIn(BaseModel):
    farm_id: Id | None = Field(None, description="the farm whose alerts; none for staff")
    cooperative_id: Id | None = Field(
        None, description="for staff, or with an operator key; a cooperative's key: its own"
    )
    channel: str = Field(pattern="^(line|email)$", examples=["email"])
    address: str = Field(
        min_length=3, max_length=254, pattern=NO_NUL, examples=["officer@coop.example"]
    )
    label: str = Field(min_length=1, max_length=200, pattern=NO_NUL, examples=["ลุงสมชาย"])
    kinds: list[str] = Field(
        default_factory=list,
        max_length=10,
        examples=[["soil_dry", "heat_stress"]],
        description=f"empty: every kind; from {', '.join(subs.SUBSCRIBABLE_KINDS)}",
    )
    language: Language = "th"
    quiet: str = Field(
        "21:00-06:00",
        pattern=NO_NUL,
        max_length=20,
        examples=["21:00-06:00", "none"],
        description="Thai local time; critical alerts still go",
    )
    repeat_interval_s: int = Field(
        subs.DEFAULT_REPEAT_S, ge=subs.MIN_REPEAT_S, le=subs.MAX_REPEAT_S, examples=[21600]
    )


class Subscription(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(examples=[7])
    cooperative_id: Id
    farm_id: Id | None
    channel: str = Field(examples=["line"])
    address: str = Field(examples=["U4af4980629f0b0a1c2d3e4f5a6b7c8d9"])
    label: str = Field(examples=["ลุงสมชาย"])
    kinds: str = Field(examples=["soil_dry,heat_stress"], description="comma-separated; empty: all")
    language: str = Field(examples=["th"])
    quiet_start: str | None = Field(examples=["21:00"])
    quiet_end: str | None = Field(examples=["06:00"])
    repeat_interval_s: int = Field(examples=[21600])
    created_at: datetime


class LinkCodeIn(BaseModel):
    farm_id: Id | None = Field(None, description="the farm to link; none: the staff")
    cooperative_id: Id | None = None
    language: Language = "th"


class LinkCode(BaseModel):
    code: str = Field(examples=["40718293"], description="shown once; the farmer sends it on LINE")
    valid_days: int = Field(examples=[3])


def _scoped(principal: Principal, cooperative_id: str | None) -> str | None:
    """A cooperative's key acts on its own cooperative; naming another is a 404."""
    if principal.is_operator:
        return cooperative_id
    if cooperative_id is not None and cooperative_id != principal.cooperative_id:
        raise HTTPException(404, f"cooperative {cooperative_id!r} not found")
    return principal.cooperative_id


def _problem(exc: subs.SubscriptionError, principal: Principal) -> HTTPException:
    """A cooperative's key learns nothing of other cooperatives' farms: its 404 names none."""
    if not isinstance(exc, subs.NotFoundError):
        return HTTPException(422, str(exc))
    return HTTPException(404, str(exc) if principal.is_operator else _NOT_YOURS)


_NOT_YOURS = "not found, or not your cooperative's: check the farm, cooperative or id"


@router.get("/subscriptions", response_model=list[Subscription], responses=ERRORS)
def list_subscriptions(
    principal: AdminDep,
    session: SessionDep,
    farm_id: Annotated[Id | None, Query()] = None,
    cooperative_id: Annotated[Id | None, Query()] = None,
) -> list[Subscription]:
    try:
        rows = subs.listed(session, _scoped(principal, cooperative_id), farm_id)
    except subs.SubscriptionError as exc:
        raise _problem(exc, principal) from None
    return [Subscription.model_validate(row) for row in rows]


@router.post("/subscriptions", response_model=Subscription, status_code=201, responses=ERRORS)
def create_subscription(
    body: SubscriptionIn, principal: AdminDep, session: SessionDep
) -> Subscription:
    try:
        spec = subs.SubscriptionSpec(
            cooperative_id=_scoped(principal, body.cooperative_id),
            farm_id=body.farm_id,
            channel=body.channel,
            address=body.address,
            label=body.label,
            kinds=body.kinds,
            language=body.language,
            quiet=subs.parse_quiet(body.quiet),
            repeat_interval_s=body.repeat_interval_s,
        )
        row = subs.create(session, spec)
    except subs.SubscriptionError as exc:
        raise _problem(exc, principal) from None
    return Subscription.model_validate(row)


@router.delete("/subscriptions/{subscription_id}", status_code=204, responses=ERRORS)
def delete_subscription(
    subscription_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    principal: AdminDep,
    session: SessionDep,
) -> Response:
    try:
        subs.delete(session, subscription_id, principal.cooperative_id)
    except subs.SubscriptionError as exc:
        raise _problem(exc, principal) from None
    return Response(status_code=204)


@router.post("/link-codes", response_model=LinkCode, status_code=201, responses=ERRORS)
def create_link_code(body: LinkCodeIn, principal: AdminDep, session: SessionDep) -> LinkCode:
    """A one-time code the farmer sends to the cooperative's LINE Official Account."""
    try:
        code = subs.create_link_code(
            session, _scoped(principal, body.cooperative_id), body.farm_id, body.language
        )
    except subs.SubscriptionError as exc:
        raise _problem(exc, principal) from None
    return LinkCode(code=code, valid_days=subs.LINK_CODE_TTL.days)
