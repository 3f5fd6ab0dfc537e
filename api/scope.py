"""Every registry read goes through here: a key sees its own cooperative and nothing else.

Something outside the caller's cooperative is answered exactly like something that does not
exist (404), so a key cannot even learn which ids other cooperatives use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from fastapi import HTTPException, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from api.schemas import Page, Problem
from registry.keys import Principal
from registry.models import Base, Cooperative

M = TypeVar("M", bound=Base)

#: The documented 404 of every lookup by id.
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "not found, or not your cooperative's"}
}

Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="items to skip")]


def cooperative_column(model: type[Base]) -> Any:
    return Cooperative.id if model is Cooperative else model.cooperative_id  # type: ignore[attr-defined]


def get_visible(session: Session, model: type[M], item_id: str | int, principal: Principal) -> M:
    """One query, scoped to the caller's cooperative in the database: an id of another
    cooperative finds no row, exactly as an id that exists nowhere, so the two 404s do the
    same work (fetching the row first and then asking whose it is took measurably longer for
    another cooperative's id, and so told that it exists)."""
    conditions = [model.id == item_id]  # type: ignore[attr-defined]
    if not principal.is_operator:
        conditions.append(cooperative_column(model) == principal.cooperative_id)
    item = session.scalars(select(model).where(*conditions)).one_or_none()
    if item is None:
        raise HTTPException(404, f"{model.__tablename__[:-1]} {item_id!r} not found")
    return item


def list_visible(
    session: Session,
    model: type[M],
    principal: Principal,
    filters: Sequence[ColumnElement[bool]],
    limit: int,
    offset: int,
) -> tuple[list[M], int]:
    conditions = list(filters)
    if not principal.is_operator:
        conditions.append(cooperative_column(model) == principal.cooperative_id)
    total = session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0
    query = select(model).where(*conditions).order_by(model.id).limit(limit).offset(offset)  # type: ignore[attr-defined]
    return list(session.scalars(query)), total


S = TypeVar("S", bound=BaseModel)


def page_of(
    session: Session,
    model: type[M],
    schema: type[S],
    principal: Principal,
    filters: Sequence[ColumnElement[bool]],
    limit: int,
    offset: int,
) -> Page[S]:
    """One page of what the caller may see, in the response shape ``schema``."""
    items, total = list_visible(session, model, principal, filters, limit, offset)
    return Page(
        items=[schema.model_validate(i) for i in items], total=total, limit=limit, offset=offset
    )
