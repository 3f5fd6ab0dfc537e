"""Register simulated farms, so the demo and the end-to-end tests have a registry that
matches the devices they run (one cooperative, one farm, a field or herd per site, and the
animals each simulated herd weighs)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from edge.config import EdgeConfig
from registry import models
from registry.keys import create_key
from simulators.cattle_barn import CattleBarnSim
from simulators.driver import SimulatedDriver
from simulators.herd import SLAUGHTER_AGE_DAYS, THI_ALERT

#: The animals registered are those the simulated herd weighs from its start until this long
#: after registration: the feeder calves that replace animals sold while the demo runs, too.
HERD_AHEAD_DAYS = 30


@dataclass(frozen=True, slots=True)
class SimulatedAnimal:
    animal_id: str
    breed: str
    birth_date: date
    #: The weight at which the simulated herd sells it: its target.
    sale_weight_kg: float


def register_simulated_farm(
    session: Session,
    cooperative_id: str,
    configs: Sequence[EdgeConfig],
    planting: date,
    herd_start: datetime | None = None,
) -> str:
    """Add the cooperative, farm, sites, devices and animals of ``configs``; return a read key.
    ``herd_start``: when the simulated barns start (their first reading); default now. Running
    it again on the same registry updates the same rows."""
    farm_id = configs[0].device.farm_id
    session.merge(
        models.Cooperative(id=cooperative_id, name="Demo cooperative", province="Nakhon Ratchasima")
    )
    session.merge(
        models.Farm(id=farm_id, cooperative_id=cooperative_id, name="Demo farm", district="Sikhio")
    )
    session.flush()
    for config in configs:
        kind = str(config.sensors[0].options.get("kind", "cassava_field"))
        site = config.device.site or config.device.device_id
        if kind == "cattle_barn":
            session.merge(
                models.Herd(
                    id=site, farm_id=farm_id, cooperative_id=cooperative_id, name=f"Barn {site}"
                )
            )
            session.flush()
            start = herd_start or datetime.now(UTC)
            until = datetime.now(UTC) + timedelta(days=HERD_AHEAD_DAYS)
            _register_animals(
                session, cooperative_id, site, simulated_animals(config, start, until)
            )
        else:
            session.merge(
                models.Field(
                    id=site,
                    farm_id=farm_id,
                    cooperative_id=cooperative_id,
                    name=f"Field {site}",
                    area_rai=25.0,
                    variety="KU50",
                    planting_date=planting,
                    soil="loamy_sand",
                    latitude=None,
                    longitude=None,
                )
            )
        session.flush()
        session.merge(
            models.Device(
                id=config.device.device_id,
                farm_id=farm_id,
                cooperative_id=cooperative_id,
                kind=kind,
                site=site,
                credentials_ref=None,
            )
        )
    session.flush()
    return create_key(session, cooperative_id, "read", "demo")


def simulated_animals(
    config: EdgeConfig, start: datetime, until: datetime
) -> list[SimulatedAnimal]:
    """Every animal the simulated barn of ``config`` weighs from ``start`` to ``until``, by the
    ear tags the simulator gives it, with the weight at which it will be sold.

    The barn's herd is built as its driver builds it, then projected a day at a time without
    heat stress: the fastest it can grow, so every replacement calf the real run brings in by
    ``until`` (an animal leaves at 30 months or 800 kg) is among these, and the projection goes
    on until all of them are sold."""
    driver = SimulatedDriver(**config.sensors[0].options)
    start_ms = int(start.timestamp() * 1000)
    herd = CattleBarnSim(
        driver.seed, start_ms, driver.herd_size, driver.breed, driver.feed, driver.weather_seed
    ).herd
    weighed_days = max(0.0, (until - start) / timedelta(days=1))
    births: dict[str, date] = {}
    for day in range(math.ceil(weighed_days + SLAUGHTER_AGE_DAYS) + 1):
        if day <= weighed_days:
            for animal in herd.animals:
                born = start + timedelta(days=day - animal.age_days)
                births.setdefault(animal.animal_id, born.date())
        sold = {animal.animal_id: animal for animal in herd.sold}
        if births.keys() <= sold.keys():
            break
        herd.advance(1.0, THI_ALERT)
    breed = _breed_name(herd.breed.name)
    return [
        SimulatedAnimal(animal_id, breed, born, round(sold[animal_id].weight_kg))
        for animal_id, born in births.items()
    ]


def _register_animals(
    session: Session, cooperative_id: str, herd_id: str, animals: Sequence[SimulatedAnimal]
) -> None:
    """Ear tags are global in the registry but numbered per barn by the simulator: a tag
    another herd already has (a second simulated barn) stays that herd's."""
    for animal in animals:
        taken = session.get(models.Animal, animal.animal_id)
        if taken is not None and taken.herd_id != herd_id:
            continue
        session.merge(
            models.Animal(
                id=animal.animal_id,
                herd_id=herd_id,
                cooperative_id=cooperative_id,
                breed=animal.breed,
                birth_date=animal.birth_date,
                target_weight_kg=animal.sale_weight_kg,
            )
        )


def _breed_name(name: str) -> str:
    """``wagyu_x_thai_native`` as a farmer writes it: ``Wagyu x Thai Native``."""
    return " ".join(word if word == "x" else word.capitalize() for word in name.split("_"))
