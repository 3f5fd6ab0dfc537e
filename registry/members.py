"""Who belongs to which cooperative, for what is configured outside the API (Grafana)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import Cooperative, Farm


def cooperative_farms(session: Session) -> list[tuple[str, list[str]]]:
    """Each cooperative's name and its farm ids (sorted; empty for a cooperative without
    farms), cooperatives by name."""
    farms: defaultdict[str, list[str]] = defaultdict(list)
    for cooperative_id, farm_id in session.execute(select(Farm.cooperative_id, Farm.id)):
        farms[cooperative_id].append(farm_id)
    cooperatives = session.execute(select(Cooperative.id, Cooperative.name)).all()
    return sorted((name, sorted(farms[cid])) for cid, name in cooperatives)
