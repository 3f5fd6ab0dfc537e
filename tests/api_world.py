"""Two cooperatives with a member farm each (a field, a herd with animals, two devices), their
keys, and forecast points written the way the forecast job writes them (isanfarm.storage)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta

from fastapi import FastAPI
from sqlalchemy.orm import Session

from isanfarm import storage
from isanfarm.influx import InfluxV1
from models.store import best_candidate
from registry import models
from registry.keys import create_key

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class World:
    keys: dict[str, str]  # a-admin, a-read, b-admin, operator

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


def seed(app: FastAPI) -> World:
    with app.state.sessions() as session, session.begin():
        for coop in ("coop-a", "coop-b"):
            _members(session, coop)
        keys = {
            "a-admin": create_key(session, "coop-a", "admin", "a admin"),
            "a-read": create_key(session, "coop-a", "read", "a reader"),
            "b-admin": create_key(session, "coop-b", "admin", "b admin"),
            "operator": create_key(session, None, "admin", "operator"),
        }
    return World(keys)


def _members(session: Session, coop: str) -> None:
    farm = f"{coop}-farm1"
    session.add(
        models.Cooperative(id=coop, name=f"Cooperative {coop}", province="Nakhon Ratchasima")
    )
    session.flush()
    session.add(models.Farm(id=farm, cooperative_id=coop, name="Member farm", district="Sikhio"))
    session.flush()
    session.add_all(
        [
            models.Field(
                id=f"{farm}-f1",
                farm_id=farm,
                cooperative_id=coop,
                name="North plot",
                area_rai=25.0,
                variety="KU50",
                planting_date=date(2026, 4, 15),
                soil="loamy_sand",
                latitude=14.9,
                longitude=101.9,
            ),
            models.Herd(id=f"{farm}-h1", farm_id=farm, cooperative_id=coop, name="Finishing barn"),
        ]
    )
    session.flush()
    session.add_all(
        [
            models.Animal(
                id=f"{farm}-cow1",
                herd_id=f"{farm}-h1",
                cooperative_id=coop,
                breed="Wagyu x Brahman",
                birth_date=date(2024, 12, 1),
                target_weight_kg=750,
            ),
            models.Device(
                id=f"{farm}-fnode",
                farm_id=farm,
                cooperative_id=coop,
                kind="cassava_field",
                site=f"{farm}-f1",
                credentials_ref=None,
            ),
            models.Device(
                id=f"{farm}-bnode",
                farm_id=farm,
                cooperative_id=coop,
                kind="cattle_barn",
                site=f"{farm}-h1",
                credentials_ref=None,
            ),
        ]
    )


FIRST_RUN = [(30.0, 27.0, 180_000.0), (32.0, 26.5, 190_000.0), (33.0, 24.0, 182_000.0)]


def write_forecasts(
    influx: InfluxV1,
    coop: str,
    model_version: str = "test-1",
    candidates: list[tuple[float, float, float]] = FIRST_RUN,
    issued_at_ms: int | None = None,
    best: int | None = None,
    marked: bool = True,
) -> None:
    """Three candidate harvest dates (yield, starch, revenue) for the field, issued today, and
    one forecast for the animal. The candidate marked best is the forecast job's choice
    (``models.store.best_candidate``) unless ``best`` says another; none without ``marked``
    (a run written before the job wrote the mark)."""
    farm = f"{coop}-farm1"
    now_ms = time.time_ns() // 1_000_000
    issued_at_ms = issued_at_ms or now_ms
    chosen = best_candidate([c[2] for c in candidates]) if best is None else best
    lines = []
    for weeks, (yield_t_ha, starch, revenue) in enumerate(candidates):
        harvest_ms = _local_midnight_ms(date.today() + timedelta(days=60 + 7 * weeks))
        mark = f",{storage.BEST_HARVEST}={str(weeks == chosen).lower()}" if marked else ""
        lines.append(
            f"{storage.CASSAVA_FORECAST},farm={farm},field={farm}-f1,issued={date.today()},"
            f"model_version={model_version},variety=KU50 "
            f"area_ha=4,horizon_days={60 + 7 * weeks}i,issued_at_ms={issued_at_ms}i{mark},"
            f"revenue_thb={revenue},starch_pct={starch},starch_pct_p10={starch - 1},"
            f"starch_pct_p90={starch + 1},tonnes={yield_t_ha * 4},yield_t_ha={yield_t_ha},"
            f"yield_t_ha_p10={yield_t_ha - 4},yield_t_ha_p90={yield_t_ha + 4} {harvest_ms}"
        )
    lines.append(
        f"{storage.CATTLE_FORECAST},animal={farm}-cow1,farm={farm},herd={farm}-h1,"
        f"model_version=test-1 daily_gain_kg=0.8,days_to_target=120,days_to_target_p10=100,"
        f"days_to_target_p90=150,heat_stress_risk=0.3,market_date_ms={now_ms + 120 * DAY_MS}i,"
        f"target_weight_kg=750,weight_kg=654 {now_ms}"
    )
    influx.write(lines, precision="ms")


def _local_midnight_ms(day: date) -> int:
    return (day.toordinal() - date(1970, 1, 1).toordinal()) * DAY_MS - 7 * 3_600_000
