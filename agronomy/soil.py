"""A layered soil water balance for Korat's sandy upland soils: rain, evaporation, uptake, drainage.

Four layers: three read by the capacitive probes at 10, 30 and 60 cm, and a deep layer (80-150
cm) that cassava roots reach and no probe sees, which carries rainy-season water into the dry
season. Rain enters the top layer; water above field capacity drains to the layer below at a
soil-specific rate and leaves the bottom as deep drainage; water above saturation moves down at
once. Soil evaporation dries the top layer; crop transpiration draws on the layers the roots
reach, reduced as the soil dries (FAO-56, Allen et al. 1998, eq. 84, with the depletion fraction
p = 0.35 of FAO-56 Table 22 for cassava), with moist deep layers making up for a dry surface.
Any time step works: the live field node steps every reading (minutes), the offline season
steps daily.

Soil constants are from shared/DOMAIN.md ("Soils": loamy sand field capacity 12-18%, wilting
point 4-8%; sandy loam / loam field capacity 20-30%, wilting point 8-14%); saturation and the
drainage rates are modelling choices (sandier drains faster).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SoilType:
    field_capacity: float
    wilting_point: float
    saturation: float
    #: Fraction of the water above field capacity that drains out of a layer per day.
    drainage_per_day: float


LOAMY_SAND = SoilType(
    field_capacity=0.15, wilting_point=0.06, saturation=0.38, drainage_per_day=0.6
)
SANDY_LOAM = SoilType(
    field_capacity=0.24, wilting_point=0.11, saturation=0.42, drainage_per_day=0.4
)
LOAM = SoilType(field_capacity=0.28, wilting_point=0.13, saturation=0.45, drainage_per_day=0.3)
#: Korat / Warin series upland soils are loamy sands; Yasothon and lower slopes sandy loams.
SOILS = {"loamy_sand": LOAMY_SAND, "sandy_loam": SANDY_LOAM, "loam": LOAM}

#: Layer thickness (mm): 0-20, 20-40, 40-80 cm (probes at 10, 30, 60 cm) and 80-150 cm.
LAYER_MM = (200.0, 200.0, 400.0, 700.0)
PROBED_LAYERS = 3
#: FAO-56 Table 22, cassava (year 1): soil water depletion fraction before stress.
DEPLETION_FRACTION = 0.35
#: An air-dry surface falls below wilting point: evaporation may take the top layer to half of it.
AIR_DRY_SHARE = 0.5
#: Shape of root water uptake with depth: weight exp(-depth / 600 mm) (modelling choice; most
#: cassava fine roots are in the top 40 cm, a few reach 1.5 m).
ROOT_UPTAKE_SCALE_MM = 600.0
#: Compensated uptake (Jarvis 1989): roots in moist layers make up for roots in dry ones; the
#: plant is stressed only when the root-weighted stress index falls below this (modelling
#: choice).
UPTAKE_COMPENSATION = 0.5


def soil_type(name: str) -> SoilType:
    try:
        return SOILS[name]
    except KeyError:
        raise ValueError(f"soil {name!r} is unknown: use one of {', '.join(SOILS)}") from None


class SoilWater:
    """Volumetric water content (0..1) of each layer, stepped forward in time."""

    def __init__(self, soil: SoilType, wetness: float = 0.5) -> None:
        """``wetness`` 0..1 sets the start between wilting point and field capacity."""
        self.soil = soil
        start = soil.wilting_point + wetness * (soil.field_capacity - soil.wilting_point)
        self.theta = [start] * len(LAYER_MM)
        self.deep_drainage_mm = 0.0

    def step(
        self,
        rain_mm: float,
        evaporation_mm: float,
        transpiration_mm: float,
        root_depth_mm: float,
        dt_days: float,
    ) -> float:
        """Advance ``dt_days``; returns actual / potential transpiration (1: no water stress)."""
        self._infiltrate(rain_mm, dt_days)
        self._evaporate(evaporation_mm)
        return self._transpire(transpiration_mm, root_depth_mm)

    def _infiltrate(self, rain_mm: float, dt_days: float) -> None:
        soil, inflow = self.soil, rain_mm
        share = min(1.0, soil.drainage_per_day * dt_days)
        for i, thickness in enumerate(LAYER_MM):
            water = self.theta[i] * thickness + inflow
            drained = max(0.0, water - soil.field_capacity * thickness) * share
            overflow = max(0.0, water - drained - soil.saturation * thickness)
            inflow = drained + overflow
            self.theta[i] = (water - inflow) / thickness
        self.deep_drainage_mm += inflow

    def _evaporate(self, demand_mm: float) -> None:
        soil, thickness = self.soil, LAYER_MM[0]
        floor = AIR_DRY_SHARE * soil.wilting_point
        wetness = (self.theta[0] - floor) / (soil.field_capacity - floor)
        taken = demand_mm * min(1.0, max(0.0, wetness))
        self.theta[0] = max(floor, self.theta[0] - taken / thickness)

    def _transpire(self, demand_mm: float, root_depth_mm: float) -> float:
        if demand_mm <= 0 or root_depth_mm <= 0:
            return 1.0
        weights, top = [], 0.0
        for thickness in LAYER_MM:
            reach = min(thickness, max(0.0, root_depth_mm - top))
            weights.append(reach * math.exp(-(top + reach / 2) / ROOT_UPTAKE_SCALE_MM))
            top += thickness
        soil = self.soil
        available_range = soil.field_capacity - soil.wilting_point
        stress = []
        for i in range(len(LAYER_MM)):
            fraction = (self.theta[i] - soil.wilting_point) / available_range
            stress.append(weights[i] * min(1.0, max(0.0, fraction / (1 - DEPLETION_FRACTION))))
        index = sum(stress) / sum(weights)
        if index <= 0:
            return 0.0
        wanted = demand_mm * min(1.0, index / UPTAKE_COMPENSATION)
        supplied = 0.0
        for i, thickness in enumerate(LAYER_MM):
            available = max(0.0, (self.theta[i] - soil.wilting_point) * thickness)
            taken = min(available, wanted * stress[i] / sum(stress))
            self.theta[i] -= taken / thickness
            supplied += taken
        return supplied / demand_mm

    def root_zone_wetness(self, root_depth_mm: float) -> float:
        """Mean relative available water (0 at wilting point, 1 at field capacity) of the
        layers the roots reach; the top layer when there are no roots yet."""
        soil, top, water, capacity = self.soil, 0.0, 0.0, 0.0
        for i, thickness in enumerate(LAYER_MM):
            reach = thickness if i == 0 else min(thickness, max(0.0, root_depth_mm - top))
            water += (self.theta[i] - soil.wilting_point) * reach
            capacity += (soil.field_capacity - soil.wilting_point) * reach
            top += thickness
        return min(1.0, max(0.0, water / capacity))
