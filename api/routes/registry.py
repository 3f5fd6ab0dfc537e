"""Cooperatives, farms, fields, herds and animals: the registry, scoped by key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from api.deps import AdminDep, PrincipalDep, SessionDep
from api.schemas import (
    NO_NUL,
    Animal,
    Cooperative,
    Farm,
    FarmIn,
    FieldIn,
    FieldOut,
    Herd,
    Id,
    Page,
    Problem,
)
from api.scope import NOT_FOUND, Limit, Offset, get_visible, page_of
from isanfarm.contract import ID_PATTERN
from registry import models
from registry.keys import Principal
from registry.namespaces import may_claim, namespace_owner, namespace_problem

router = APIRouter(prefix="/v1", tags=["registry"])
PathId = Annotated[str, Path(pattern=f"^{ID_PATTERN.pattern}$", examples=["korat-001"])]


@router.get("/cooperatives", response_model=Page[Cooperative])
def list_cooperatives(
    principal: PrincipalDep, session: SessionDep, limit: Limit = 100, offset: Offset = 0
) -> Page[Cooperative]:
    """The caller's own cooperative; every cooperative for the operator's key."""
    return page_of(session, models.Cooperative, Cooperative, principal, [], limit, offset)


@router.get("/cooperatives/{cooperative_id}", response_model=Cooperative, responses=NOT_FOUND)
def get_cooperative(
    cooperative_id: PathId, principal: PrincipalDep, session: SessionDep
) -> Cooperative:
    item = get_visible(session, models.Cooperative, cooperative_id, principal)
    return Cooperative.model_validate(item)


@router.get("/farms", response_model=Page[Farm])
def list_farms(
    principal: PrincipalDep,
    session: SessionDep,
    cooperative_id: Annotated[Id | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[Farm]:
    filters = [] if cooperative_id is None else [models.Farm.cooperative_id == cooperative_id]
    return page_of(session, models.Farm, Farm, principal, filters, limit, offset)


@router.get("/farms/{farm_id}", response_model=Farm, responses=NOT_FOUND)
def get_farm(farm_id: PathId, principal: PrincipalDep, session: SessionDep) -> Farm:
    return Farm.model_validate(get_visible(session, models.Farm, farm_id, principal))


@router.post(
    "/farms",
    response_model=Farm,
    status_code=201,
    responses={**NOT_FOUND, 409: {"model": Problem, "description": "the id is taken"}},
)
def create_farm(body: FarmIn, principal: AdminDep, session: SessionDep) -> Farm:
    """A cooperative's admin key adds members to its own cooperative only."""
    cooperative_id = body.cooperative_id or principal.cooperative_id
    if cooperative_id is None:
        raise HTTPException(422, "cooperative_id: required with an operator key")
    get_visible(session, models.Cooperative, cooperative_id, principal)
    _check_new_id(session, models.Farm, body.id, cooperative_id, principal)
    farm = models.Farm(
        id=body.id, cooperative_id=cooperative_id, name=body.name, district=body.district
    )
    session.add(farm)
    return Farm.model_validate(farm)


@router.get("/fields", response_model=Page[FieldOut])
def list_fields(
    principal: PrincipalDep,
    session: SessionDep,
    farm_id: Annotated[Id | None, Query()] = None,
    variety: Annotated[str | None, Query(max_length=50, pattern=NO_NUL)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[FieldOut]:
    filters = []
    if farm_id is not None:
        filters.append(models.Field.farm_id == farm_id)
    if variety is not None:
        filters.append(models.Field.variety == variety)
    return page_of(session, models.Field, FieldOut, principal, filters, limit, offset)


@router.get("/fields/{field_id}", response_model=FieldOut, responses=NOT_FOUND)
def get_field(field_id: PathId, principal: PrincipalDep, session: SessionDep) -> FieldOut:
    return FieldOut.model_validate(get_visible(session, models.Field, field_id, principal))


@router.post(
    "/fields",
    response_model=FieldOut,
    status_code=201,
    responses={**NOT_FOUND, 409: {"model": Problem, "description": "the id is taken"}},
)
def create_field(body: FieldIn, principal: AdminDep, session: SessionDep) -> FieldOut:
    farm = get_visible(session, models.Farm, body.farm_id, principal)
    _check_new_id(session, models.Field, body.id, farm.cooperative_id, principal)
    field = models.Field(cooperative_id=farm.cooperative_id, **body.model_dump())
    session.add(field)
    return FieldOut.model_validate(field)


@router.get("/herds", response_model=Page[Herd])
def list_herds(
    principal: PrincipalDep,
    session: SessionDep,
    farm_id: Annotated[Id | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[Herd]:
    filters = [] if farm_id is None else [models.Herd.farm_id == farm_id]
    return page_of(session, models.Herd, Herd, principal, filters, limit, offset)


@router.get("/herds/{herd_id}", response_model=Herd, responses=NOT_FOUND)
def get_herd(herd_id: PathId, principal: PrincipalDep, session: SessionDep) -> Herd:
    return Herd.model_validate(get_visible(session, models.Herd, herd_id, principal))


@router.get("/animals", response_model=Page[Animal])
def list_animals(
    principal: PrincipalDep,
    session: SessionDep,
    herd_id: Annotated[Id | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[Animal]:
    filters = [] if herd_id is None else [models.Animal.herd_id == herd_id]
    return page_of(session, models.Animal, Animal, principal, filters, limit, offset)


@router.get("/animals/{animal_id}", response_model=Animal, responses=NOT_FOUND)
def get_animal(animal_id: PathId, principal: PrincipalDep, session: SessionDep) -> Animal:
    return Animal.model_validate(get_visible(session, models.Animal, animal_id, principal))


def _check_new_id(
    session: SessionDep,
    model: type[models.Base],
    item_id: str,
    cooperative_id: str,
    principal: Principal,
) -> None:
    """Ids are global (they name MQTT topics and InfluxDB tags), so a cooperative creates ids
    in its own namespace (``registry.namespaces``): a clash can then only be with its own
    rows, and a 409 tells it nothing about other cooperatives."""
    owner = namespace_owner(session, item_id)
    if not may_claim(owner, cooperative_id, principal.is_operator):
        raise HTTPException(422, f"id: {namespace_problem(item_id, cooperative_id)}")
    if session.get(model, item_id) is not None:
        raise HTTPException(409, f"id {item_id!r} is taken; choose another")
