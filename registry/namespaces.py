"""Which cooperative an id belongs to.

Member ids (farms, fields, herds, animals, devices) are global: they name MQTT topics and
InfluxDB tags. A cooperative's namespace is the ids that begin with its id and ``-``, so that
a clash on a new id can only be with the cooperative's own rows. Cooperative ids may contain
``-`` themselves (``coop-a``; registries in use have such ids, and topics already carry them,
so they cannot be renamed), which makes ``coopa-x-farm1`` begin with both ``coopa-`` and
``coopa-x-``. Such an id belongs to the cooperative with the LONGEST id it begins with
(``coopa-x``): every id has at most one owner, whatever cooperatives exist, so namespaces
cannot overlap. The owner is asked of the registry's cooperatives, never guessed from one
prefix.

What one cooperative can still learn: that a cooperative whose id begins with its own id and
``-`` exists (its ids are refused as outside the caller's namespace). It learns nothing about
that cooperative's members.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import Animal, Base, Cooperative, Device, Farm, Field, Herd

SEPARATOR = "-"

#: The tables whose ids live in cooperatives' namespaces, by the name an error uses.
MEMBER_TABLES: dict[str, type[Base]] = {
    "farm": Farm,
    "field": Field,
    "herd": Herd,
    "animal": Animal,
    "device": Device,
}


def candidate_owners(item_id: str) -> list[str]:
    """Every cooperative id that could own ``item_id``: its parts before each ``-``
    (``coopa-x-new`` -> ``coopa``, ``coopa-x``)."""
    parts = item_id.split(SEPARATOR)
    return [SEPARATOR.join(parts[:n]) for n in range(1, len(parts))]


def namespace_owner(session: Session, item_id: str) -> str | None:
    """The cooperative whose namespace ``item_id`` is in; None if in no cooperative's. One
    query by primary key, the same whatever exists: what the answer depends on is only which
    cooperatives exist, never another cooperative's members."""
    candidates = candidate_owners(item_id)
    if not candidates:
        return None
    found = session.scalars(select(Cooperative.id).where(Cooperative.id.in_(candidates)))
    return max(found, key=len, default=None)


def namespace_problem(item_id: str, cooperative_id: str) -> str:
    """Why ``item_id`` may not be created for ``cooperative_id``, worded the same whether the
    id is outside every namespace or inside another cooperative's."""
    return (
        f"{item_id!r} is not in cooperative {cooperative_id!r}'s namespace: its ids begin with "
        f"'{cooperative_id}{SEPARATOR}' (and not with another cooperative's id and "
        f"'{SEPARATOR}'), e.g. '{cooperative_id}{SEPARATOR}farm1'"
    )


def may_claim(owner: str | None, cooperative_id: str, operator: bool) -> bool:
    """A cooperative creates ids in its own namespace only; the operator may also create ids
    in no cooperative's namespace (``farm-17``), never in another cooperative's."""
    return owner == cooperative_id or (operator and owner is None)


@dataclass(frozen=True, slots=True)
class Trespass:
    """A row of one cooperative whose id lies in another cooperative's namespace."""

    kind: str
    id: str
    owner: str  # the cooperative whose namespace holds the id
    cooperative_id: str  # the cooperative the row belongs to


def trespasses_if_added(session: Session, new_cooperative: str) -> list[Trespass]:
    """The existing rows that a new cooperative ``new_cooperative`` would find in its
    namespace while they belong to another: adding it would hand them a namespace they are
    already squatting (registries from before namespaces could not overlap, or ids an
    operator chose)."""
    existing = set(session.scalars(select(Cooperative.id)))
    cooperatives = existing | {new_cooperative}
    found = []
    for kind, table in MEMBER_TABLES.items():
        rows = session.execute(
            select(table.id, table.cooperative_id).where(  # type: ignore[attr-defined]
                table.id.startswith(f"{new_cooperative}{SEPARATOR}", autoescape=True),  # type: ignore[attr-defined]
                table.cooperative_id != new_cooperative,  # type: ignore[attr-defined]
            )
        )
        for item_id, cooperative_id in rows:
            owner = max((c for c in candidate_owners(item_id) if c in cooperatives), key=len)
            if owner == new_cooperative:
                found.append(Trespass(kind, item_id, owner, cooperative_id))
    return found


def trespasses(session: Session) -> list[Trespass]:
    """Every row whose id lies in another cooperative's namespace: left by registries from
    before namespaces could not overlap (``coopa`` creating ``coopa-x-new``), or by an
    operator's import. Ids name telemetry, so they are reported for a person to decide, never
    moved."""
    cooperatives = set(session.scalars(select(Cooperative.id)))
    found = []
    for kind, table in MEMBER_TABLES.items():
        query = select(table.id, table.cooperative_id).order_by(table.id)  # type: ignore[attr-defined]
        for item_id, cooperative_id in session.execute(query):
            owners = [c for c in candidate_owners(item_id) if c in cooperatives]
            owner = max(owners, key=len, default=None)
            if owner is not None and owner != cooperative_id:
                found.append(Trespass(kind, item_id, owner, cooperative_id))
    return found
