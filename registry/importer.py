"""Load cooperatives, farms, fields, herds, animals and devices from CSV files.

Every row is checked before anything is written; if any row is wrong, nothing is imported and
each problem is reported as ``<file> row <n>, column <name>: <what is wrong>``, so a
cooperative's clerk can fix the spreadsheet in one pass. Rows whose id exists are updated.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session

from isanfarm.contract import ID_PATTERN
from registry import models
from registry.namespaces import (
    may_claim,
    namespace_owner,
    namespace_problem,
    trespasses_if_added,
)

IdField = Field(pattern=f"^{ID_PATTERN.pattern}$")


class CooperativeRow(BaseModel):
    id: str = IdField
    name: str = Field(min_length=1)
    province: str = Field(min_length=1)


class FarmRow(BaseModel):
    id: str = IdField
    cooperative_id: str = IdField
    name: str = Field(min_length=1)
    district: str | None = None


class FieldRow(BaseModel):
    id: str = IdField
    farm_id: str = IdField
    name: str = Field(min_length=1)
    area_rai: float = Field(gt=0)
    variety: str = Field(min_length=1)
    planting_date: date
    soil: str = Field(min_length=1)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)


class HerdRow(BaseModel):
    id: str = IdField
    farm_id: str = IdField
    name: str = Field(min_length=1)


class AnimalRow(BaseModel):
    id: str = IdField
    herd_id: str = IdField
    breed: str = Field(min_length=1)
    birth_date: date
    target_weight_kg: float = Field(gt=0, le=1500)


class DeviceRow(BaseModel):
    id: str = IdField
    farm_id: str = IdField
    kind: str = Field(pattern="^(cassava_field|cattle_barn)$")
    site: str = IdField
    credentials_ref: str | None = None


#: kind -> (row shape, table, parent table and the row's column naming the parent)
KINDS: Mapping[str, tuple[type[BaseModel], type[models.Base], type[models.Base] | None, str]] = {
    "cooperatives": (CooperativeRow, models.Cooperative, None, ""),
    "farms": (FarmRow, models.Farm, models.Cooperative, "cooperative_id"),
    "fields": (FieldRow, models.Field, models.Farm, "farm_id"),
    "herds": (HerdRow, models.Herd, models.Farm, "farm_id"),
    "animals": (AnimalRow, models.Animal, models.Herd, "herd_id"),
    "devices": (DeviceRow, models.Device, models.Farm, "farm_id"),
}


class RegistryImportError(ValueError):
    """All the problems of one file, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def import_csv(session: Session, kind: str, path: Path) -> int:
    """Validate every row, then insert or update them all; returns the number of rows."""
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    shape, table, parent, parent_column = KINDS[kind]
    problems: list[str] = []
    records: list[dict[str, Any]] = []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        for number, raw in enumerate(csv.DictReader(handle), start=2):
            cleaned = {k.strip(): (v.strip() or None) for k, v in raw.items() if k}
            try:
                row = shape.model_validate(cleaned).model_dump()
            except ValidationError as exc:
                problems += [_problem(path, number, error) for error in exc.errors()]
                continue
            if parent is not None:
                owner = session.get(parent, row[parent_column])
                if owner is None:
                    problems.append(
                        f"{path.name} row {number}, column {parent_column}: "
                        f"{row[parent_column]!r} is not in the registry; import it first"
                    )
                    continue
                if kind != "farms":
                    row["cooperative_id"] = owner.cooperative_id  # type: ignore[attr-defined]
            problem = _namespace_problem(session, kind, table, row)
            if problem:
                problems.append(f"{path.name} row {number}, column id: {problem}")
                continue
            records.append(row)
    if problems:
        raise RegistryImportError(problems)
    for record in records:
        session.merge(table(**record))
    session.flush()
    return len(records)


def _namespace_problem(
    session: Session, kind: str, table: type[models.Base], row: dict[str, Any]
) -> str | None:
    """Namespaces must not overlap (``registry.namespaces``): a new member's id must be in
    its cooperative's namespace or in none, and a new cooperative must not find another's
    rows in its namespace. A row that exists already is an update and keeps its id."""
    existing = session.get(table, row["id"])
    if kind == "cooperatives":
        if existing is not None:
            return None
        found = trespasses_if_added(session, row["id"])
        listed = ", ".join(f"{t.kind} {t.id!r} of {t.cooperative_id!r}" for t in found[:5])
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        return (
            f"a cooperative {row['id']!r} would own ids that belong to other cooperatives: "
            f"{listed}{more}; choose another id"
            if found
            else None
        )
    if existing is not None and existing.cooperative_id == row["cooperative_id"]:  # type: ignore[attr-defined]
        return None
    owner = namespace_owner(session, row["id"])
    if may_claim(owner, row["cooperative_id"], operator=True):
        return None
    return namespace_problem(row["id"], row["cooperative_id"])


def _problem(path: Path, number: int, error: Mapping[str, Any]) -> str:
    column = ".".join(str(part) for part in error["loc"])
    return f"{path.name} row {number}, column {column}: {error['msg']} (got {error.get('input')!r})"
