"""A Wagyu-cross finishing herd: growth by breed and feed plan, cut by heat stress; intake.

Figures from shared/DOMAIN.md ("Isan Wagyu and beef cattle"): birth 25-35 kg; weaning at 6-7
months and 170-230 kg; finishing from 10-12 months and about 300 kg to slaughter at 26-32
months and 650-800 kg; average daily gain on a long Wagyu ration 0.6-1.0 kg/day; dry-matter
intake 2.0-2.5% of body weight; water 30-50 L/day in cool weather and 60-90 L/day in hot weather
(NRC Nutrient Requirements of Beef Cattle); THI is Thom's index as used by Mader et al. 2006,
with the Livestock Weather Safety Index alert threshold at 75. How much gain and intake fall per
THI unit above 75 is a modelling choice (below), applied hour by hour so that a day's loss
follows its THI load, the integral of THI above the threshold (St-Pierre, Cobanov & Schnitkey
2003, J. Dairy Sci. 86 E. Suppl., E52-E77).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from agronomy.thi import THI_ALERT as THI_ALERT  # re-exported: the seed's import of it
from agronomy.thi import thi as thi  # re-exported: the barn simulator's import of it

#: Share of gain lost per THI unit above the alert threshold, hour by hour (modelling choice:
#: 5% per unit, so a day whose afternoon peaks at THI 80, in the LWSI "danger" band, loses
#: about a tenth of its gain, and one peaking at 85, "emergency", about a quarter; the
#: response is linear above the threshold as in St-Pierre et al. 2003).
GAIN_LOSS_PER_THI = 0.05
#: Dry-matter intake as a share of body weight (DOMAIN.md: 2.0-2.5%).
DMI_SHARE = 0.022
#: Litres of water per kg dry matter at 21.1 degC, and its rise with air temperature:
#: Winchester & Morris (1956, J. Anim. Sci. 15), the basis of NRC's water table, found water
#: per kg dry matter flat in cold weather and rising at an accelerating rate to 38 degC.
#: The curve a + b exp(T / WATER_CURVE_C) is fitted to NRC's finishing-cattle (363 kg) table
#: at 21.1, 26.7 and 32.2 degC (10.8, 12.3 and 16.5 US gal, ratios 1 : 1.14 : 1.53); at 35
#: degC it is 1.9 times its 22 degC value. The level (3.2 L/kg, 42 L a day for a 600 kg
#: animal at 21 degC) is a modelling choice inside DOMAIN.md's 30-50 L cool range: NRC's
#: figures are for Bos taurus, and Brahman-influenced cattle drink less (Winchester & Morris's
#: separate Bos indicus curve). NRC's hot-weather figures are intakes of cattle in that heat,
#: so the animal's thermoneutral intake is used: heat stress does not lower water here.
WATER_L_PER_KG_DMI_21C = 3.2
WATER_CURVE_C = 5.44
WATER_RISING_SHARE_21C = 0.0772
#: Animals leave for slaughter at this age or weight and are replaced by a feeder calf.
SLAUGHTER_AGE_DAYS = 30 * 30.4
SLAUGHTER_KG = 800.0
FEEDER_AGE_DAYS = 11 * 30.4
WEANING_AGE_DAYS = 200.0
WEANING_KG = 200.0


@dataclass(frozen=True, slots=True)
class Breed:
    """A cross and its finishing gain on the standard ration (modelling choices inside
    DOMAIN.md's 0.6-1.0 kg/day; Charolais crosses gain fastest, Thai native crosses slowest)."""

    name: str
    birth_kg: float
    adg_kg: float


BREEDS = {
    b.name: b
    for b in (
        Breed("wagyu_x_thai_native", 27.0, 0.70),
        Breed("wagyu_x_brahman", 31.0, 0.80),
        Breed("wagyu_x_charolais", 34.0, 0.90),
    )
}
#: Feed plans scale the breed's gain (modelling choice): a forage-heavy plan gains less.
FEED_PLANS = {"standard": 1.0, "high_energy": 1.1, "forage": 0.85}


def heat_factor(thi_value: float) -> float:
    """Share of thermoneutral gain kept at this THI."""
    return max(0.0, 1 - GAIN_LOSS_PER_THI * max(0.0, thi_value - THI_ALERT))


def water_litres_per_day(weight_kg: float, temperature_c: float) -> float:
    """Water drunk per day: rises with dry-matter intake (body weight) and, at an accelerating
    rate, with air temperature (NRC; Winchester & Morris 1956)."""
    rising = WATER_RISING_SHARE_21C * math.exp((temperature_c - 21.1) / WATER_CURVE_C)
    per_kg = WATER_L_PER_KG_DMI_21C * (1 - WATER_RISING_SHARE_21C + rising)
    return DMI_SHARE * weight_kg * per_kg


@dataclass(slots=True)
class Animal:
    animal_id: str
    breed: Breed
    age_days: float
    weight_kg: float

    def potential_gain_kg_day(self, feed_factor: float) -> float:
        """Gain slows as an animal nears finish weight (modelling choice: -30% from 300 to 800
        kg), so a long-fed Wagyu averages the DOMAIN.md 0.6-1.0 kg/day."""
        slowing = 1 - 0.3 * min(1.0, max(0.0, (self.weight_kg - 300) / 500))
        return self.breed.adg_kg * feed_factor * slowing


class Herd:
    """Animals of one barn; ``advance`` moves them on by ``dt_days`` at one THI."""

    def __init__(
        self, seed: int, size: int, breed: str = "wagyu_x_brahman", feed: str = "standard"
    ) -> None:
        if breed not in BREEDS:
            raise ValueError(f"breed {breed!r} is unknown: use one of {', '.join(BREEDS)}")
        if feed not in FEED_PLANS:
            raise ValueError(f"feed {feed!r} is unknown: use one of {', '.join(FEED_PLANS)}")
        self._rng = random.Random(seed)
        self.breed = BREEDS[breed]
        self.feed_factor = FEED_PLANS[feed]
        self._next_id = 1
        self.animals = [
            self._animal(self._rng.uniform(FEEDER_AGE_DAYS, 28 * 30.4)) for _ in range(size)
        ]
        self.sold: list[Animal] = []

    def _animal(self, age_days: float) -> Animal:
        """Weight from age: birth to weaning, then the breed's finishing gain, with spread."""
        breed = self.breed
        pre = (WEANING_KG - breed.birth_kg) / WEANING_AGE_DAYS
        weight = breed.birth_kg + pre * min(age_days, WEANING_AGE_DAYS)
        weight += 0.85 * breed.adg_kg * max(0.0, age_days - WEANING_AGE_DAYS)
        animal_id = f"wagyu-{self._next_id:03d}"
        self._next_id += 1
        return Animal(animal_id, breed, age_days, weight * self._rng.uniform(0.92, 1.08))

    def advance(self, dt_days: float, thi_value: float) -> None:
        factor = heat_factor(thi_value)
        for i, animal in enumerate(self.animals):
            animal.weight_kg += animal.potential_gain_kg_day(self.feed_factor) * factor * dt_days
            animal.age_days += dt_days
            if animal.age_days >= SLAUGHTER_AGE_DAYS or animal.weight_kg >= SLAUGHTER_KG:
                self.sold.append(animal)
                self.animals[i] = self._animal(FEEDER_AGE_DAYS)

    def water_litres_per_day(self, temperature_c: float) -> float:
        return sum(water_litres_per_day(a.weight_kg, temperature_c) for a in self.animals)
