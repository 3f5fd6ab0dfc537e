"""Register simulated farms, so the demo and the end-to-end tests have a registry that
matches the devices they run (one cooperative, one farm, a field or herd per site)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy.orm import Session

from edge.config import EdgeConfig
from registry import models
from registry.keys import create_key


def register_simulated_farm(
    session: Session, cooperative_id: str, configs: Sequence[EdgeConfig], planting: date
) -> str:
    """Add the cooperative, farm, sites and devices of ``configs``; return a read key."""
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


#: Finishing target for Wagyu crosses: slaughter at 650-800 kg (shared/DOMAIN.md).
TARGET_WEIGHT_KG = 750.0


def _register_herd(session: Session, cooperative_id: str, herd_id: str, config: EdgeConfig) -> None:
    """The simulated barn's animals, by the ear tags the simulator gives them (wagyu-001...).
    Tags are numbered per barn, so a second simulated barn would reuse them: the demo has one."""
    herd_size = int(config.sensors[0].options.get("herd_size", 12))
    for number in range(1, herd_size + 1):
        session.merge(
            models.Animal(
                id=f"wagyu-{number:03d}",
                herd_id=herd_id,
                cooperative_id=cooperative_id,
                breed="Wagyu cross",
                birth_date=date(2024, 11, 1),
                target_weight_kg=TARGET_WEIGHT_KG,
            )
        )
