"""Scenarios: small TOML files naming farms, their fields and barns, faults and outages.

A scenario is what a simulation run is about (``scenarios/*.toml``; the format is in
docs/simulators.md). ``generated`` makes one of any size from a seed, for fleets and offline
seasons of hundreds of fields. Standard library only (``tomllib``).
"""

from __future__ import annotations

import random
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from agronomy.crop import VARIETIES, variety
from agronomy.soil import SOILS, soil_type
from simulators.device_clock import ClockFault
from simulators.faults import Fault
from simulators.herd import BREEDS, FEED_PLANS


@dataclass(frozen=True, slots=True)
class Outage:
    """The device's link is down from ``day`` (after the run's start) for ``hours``."""

    day: float
    hours: float


@dataclass(frozen=True, slots=True)
class DevicePlan:
    id: str
    kind: str  # "cassava_field" or "cattle_barn"
    seed: int
    options: Mapping[str, Any] = field(default_factory=dict)
    faults: tuple[Fault, ...] = ()
    outages: tuple[Outage, ...] = ()
    clock_faults: tuple[ClockFault, ...] = ()

    def driver_options(self, weather_seed: int) -> dict[str, Any]:
        """The ``simulated`` driver's options for this device."""
        faults = [
            {
                "kind": f.kind,
                "day": f.day,
                "hours": f.hours,
                "sensor": f.sensor,
                "magnitude": f.magnitude,
            }
            for f in self.faults
        ]
        return {
            "kind": self.kind,
            "seed": self.seed,
            "weather_seed": weather_seed,
            **self.options,
            "faults": faults,
        }


@dataclass(frozen=True, slots=True)
class FarmPlan:
    id: str
    weather_seed: int
    devices: tuple[DevicePlan, ...]

    def of_kind(self, kind: str) -> list[DevicePlan]:
        return [d for d in self.devices if d.kind == kind]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    seed: int
    #: Offline seasons run from ``start`` for ``days``; live runs start at ``--days-back``.
    start: date
    days: int
    farms: tuple[FarmPlan, ...]

    def devices(self) -> list[tuple[FarmPlan, DevicePlan]]:
        return [(farm, device) for farm in self.farms for device in farm.devices]


_FIELD_KEYS = {
    "id",
    "variety",
    "planted",
    "soil",
    "management",
    "faults",
    "outages",
    "clock_faults",
}
_BARN_KEYS = {"id", "herd_size", "breed", "feed", "faults", "outages", "clock_faults"}


def load(path: Path) -> Scenario:
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"scenario {path}: not valid TOML: {exc}") from None
    try:
        return parse(document)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"scenario {path}: {exc}") from None


def parse(document: Mapping[str, Any]) -> Scenario:
    seed = int(document.get("seed", 1))
    farms = []
    for f_index, table in enumerate(document.get("farms", [])):
        farm_id = str(table["id"])
        devices = [
            _device(t, "cassava_field", _FIELD_KEYS, seed, f_index, i, farm_id)
            for i, t in enumerate(table.get("fields", []))
        ]
        offset = len(devices)
        devices += [
            _device(t, "cattle_barn", _BARN_KEYS, seed, f_index, offset + i, farm_id)
            for i, t in enumerate(table.get("barns", []))
        ]
        farms.append(FarmPlan(farm_id, seed * 1000 + f_index, tuple(devices)))
    if not farms:
        raise ValueError("no [[farms]]: add at least one farm with a field or a barn")
    return Scenario(
        name=str(document.get("name", "unnamed")),
        seed=seed,
        start=date.fromisoformat(str(document.get("start", "2025-04-01"))),
        days=int(document.get("days", 365)),
        farms=tuple(farms),
    )


def _device(
    table: Mapping[str, Any],
    kind: str,
    allowed: set[str],
    seed: int,
    farm: int,
    index: int,
    farm_id: str,
) -> DevicePlan:
    unknown = sorted(set(table) - allowed)
    where = f"farm {farm_id!r} {kind} {table.get('id', index)!r}"
    if unknown:
        raise ValueError(
            f"{where}: option {unknown[0]!r} is unknown: use {', '.join(sorted(allowed))}"
        )
    options: dict[str, Any] = {}
    if kind == "cassava_field":
        options["soil"] = str(table.get("soil", "loamy_sand"))
        soil_type(options["soil"])
        options["variety"] = variety(str(table.get("variety", "KU50"))).name
        if "planted" in table:
            options["planted"] = date.fromisoformat(str(table["planted"])).isoformat()
        options["management"] = float(table.get("management", 1.0))
    else:
        options["herd_size"] = int(table.get("herd_size", 12))
        options["breed"] = str(table.get("breed", "wagyu_x_brahman"))
        options["feed"] = str(table.get("feed", "standard"))
        if options["breed"] not in BREEDS or options["feed"] not in FEED_PLANS:
            raise ValueError(
                f"{where}: breed must be one of {', '.join(BREEDS)}, feed one of "
                f"{', '.join(FEED_PLANS)}"
            )
    return DevicePlan(
        id=str(
            table.get("id", f"{'field' if kind == 'cassava_field' else 'barn'}-{index + 1:02d}")
        ),
        kind=kind,
        seed=seed * 100_000 + farm * 1000 + index,
        options=options,
        faults=tuple(Fault.from_mapping(t) for t in table.get("faults", [])),
        outages=tuple(Outage(float(t["day"]), float(t["hours"])) for t in table.get("outages", [])),
        clock_faults=tuple(ClockFault.from_mapping(t) for t in table.get("clock_faults", [])),
    )


def generated(
    seed: int,
    fields: int,
    barns: int = 0,
    fields_per_farm: int = 10,
    start: date | None = None,
    days: int = 365,
) -> Scenario:
    """A scenario of ``fields`` fields (``fields_per_farm`` to a farm, sharing weather) and
    ``barns`` barns, drawn from ``seed``: varieties and soils uniformly, planting dates in the
    early rainy season (March-May, where most Korat cassava is planted; DOMAIN.md) and a
    management factor from a triangular 0.4-1.0 distribution with mode 0.7 (modelling choice
    for the yield gap between national-average and good farmers)."""
    rng = random.Random(seed)
    start = start or date(2025, 3, 1)
    tables: list[dict[str, Any]] = []
    for number in range(max(1, -(-fields // fields_per_farm), barns and 1)):
        tables.append({"id": f"farm-{number + 1:03d}", "fields": [], "barns": []})
    for number in range(fields):
        planted = start + timedelta(days=rng.randrange(0, 75))
        tables[number // fields_per_farm]["fields"].append(
            {
                "id": f"field-{number + 1:04d}",
                "variety": rng.choice(list(VARIETIES)),
                "soil": rng.choice(list(SOILS)),
                "planted": planted.isoformat(),
                "management": round(rng.triangular(0.4, 1.0, 0.7), 3),
            }
        )
    for number in range(barns):
        tables[number % len(tables)]["barns"].append(
            {
                "id": f"barn-{number + 1:03d}",
                "herd_size": 12,
                "breed": rng.choice(list(BREEDS)),
            }
        )
    return parse(
        {
            "name": f"generated-{seed}",
            "seed": seed,
            "start": start.isoformat(),
            "days": days,
            "farms": tables,
        }
    )
