"""Training data: the same fields over several seasons, simulated in-process.

Each field keeps its variety, soil and management (the yield gap a sensor cannot see) from
season to season, as a real field would; its farm's weather, its planting date and a little of
its management change each season. Fields of one farm share the weather, as in
``simulators.offline``. Early-rainy-season plantings (March-May) are the majority, with a share
of late-rainy-season ones (October-November), as DOMAIN.md describes.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TextIO

import numpy as np

from agronomy.crop import VARIETIES
from agronomy.crop import variety as find_variety
from agronomy.field import SPIN_UP_DAYS, run_season
from agronomy.soil import SOILS, soil_type
from agronomy.weather import KoratWeather, day_index
from models.daily import from_simulation
from models.seasons import HarvestedSeason
from simulators.offline import ProgressBar
from simulators.worlds import STANDARD, World, as_seen, crop_options, true_soil

#: A season is simulated this long after planting: 12 months and a few weeks to spare.
SEASON_DAYS = 380
#: Share of late-rainy-season plantings (modelling choice; DOMAIN.md: "the majority" early).
LATE_PLANTING_SHARE = 0.2
#: Season-to-season variation of a field's management factor (modelling choice).
MANAGEMENT_JITTER = (0.92, 1.05)
#: A season is harvested on one day 8 to 12 months after planting (DOMAIN.md): its record.
HARVEST_AGE_RANGE = (243, 365)


@dataclass(frozen=True, slots=True)
class _FieldPlan:
    field_id: str
    farm: int
    variety: str
    soil: str
    management: float
    late: bool
    plant_offset: int


def simulate(
    fields: int,
    seasons: int,
    seed: int = 1,
    first_year: int = 2013,
    fields_per_farm: int = 10,
    progress: TextIO | None = sys.stderr,
    tick: Callable[[], None] | None = None,
    world: World = STANDARD,
    only_fields: Collection[str] | None = None,
) -> list[HarvestedSeason]:
    """``fields`` x ``seasons`` seasons, season 0 planted in ``first_year``, in ``world`` (the
    forecaster's own by default). ``only_fields``: simulate just these field ids; every other
    field's random draws are still made, so the same seed gives the same fields and weather
    whichever subset is asked for."""
    rng = random.Random(seed)
    plans = [_plan(rng, number, fields_per_farm) for number in range(fields)]
    chosen = [p for p in plans if only_fields is None or p.field_id in only_fields]
    bar = ProgressBar(len(chosen) * seasons, "field seasons", progress)
    out = []
    for index in range(seasons):
        year = first_year + index
        weathers: dict[int, KoratWeather] = {}
        for plan in plans:
            planted = _planting(plan, year, rng)
            draws = _Draws(
                min(1.0, max(0.3, plan.management * rng.uniform(*MANAGEMENT_JITTER))),
                round(rng.uniform(0.8, 8.0), 2),
            )
            if only_fields is not None and plan.field_id not in only_fields:
                continue
            weather = weathers.get(plan.farm)
            if weather is None:
                first = day_index(date(year, 1, 1)) - SPIN_UP_DAYS
                weather = KoratWeather(seed * 1_000_003 + plan.farm * 7919 + index, first)
                weathers[plan.farm] = weather
            out.append(_season(plan, index, planted, weather, draws, world))
            bar.advance()
            if tick is not None:
                tick()
    bar.done()
    return out


@dataclass(frozen=True, slots=True)
class _Draws:
    """A field season's random draws, made whether or not the season is simulated."""

    management: float
    area_ha: float


def _plan(rng: random.Random, number: int, per_farm: int) -> _FieldPlan:
    late = rng.random() < LATE_PLANTING_SHARE
    return _FieldPlan(
        field_id=f"sim-{number + 1:05d}",
        farm=number // per_farm,
        variety=rng.choice(list(VARIETIES)),
        soil=rng.choice(list(SOILS)),
        management=round(rng.triangular(0.4, 1.0, 0.7), 3),
        late=late,
        plant_offset=rng.randrange(0, 61) if late else rng.randrange(0, 92),
    )


def _planting(plan: _FieldPlan, year: int, rng: random.Random) -> date:
    start = date(year, 10, 1) if plan.late else date(year, 3, 1)
    return start + timedelta(days=max(0, plan.plant_offset + rng.randrange(-10, 11)))


def _season(
    plan: _FieldPlan,
    index: int,
    planted: date,
    weather: KoratWeather,
    draws: _Draws,
    world: World,
) -> HarvestedSeason:
    days = run_season(
        weather,
        true_soil(world, soil_type(plan.soil)),
        find_variety(plan.variety),
        planted,
        planted + timedelta(days=SEASON_DAYS - 1),
        draws.management,
        **crop_options(world),
    )
    season = from_simulation(
        plan.field_id,
        f"sim-farm-{plan.farm + 1:04d}",
        plan.variety,
        plan.soil,
        planted,
        days,
        area_ha=draws.area_ha,
    )
    # A generator of its own, so the harvest day leaves the other draws as they were.
    harvested = random.Random(f"{plan.field_id}/{index}").randint(*HARVEST_AGE_RANGE)
    truth = HarvestedSeason(
        season,
        index,
        np.array([d.fresh_yield_t_ha for d in days]),
        np.array([d.starch_pct for d in days]),
        harvested,
    )
    return as_seen(world, truth)
