"""A layered soil water balance for Korat's sandy upland soils: rain, evaporation, uptake, drainage.

Four layers: three read by the capacitive probes at 10, 30 and 60 cm, and a deep layer (80-250
cm) that cassava roots reach and no probe sees, which carries rainy-season water into the dry
season: cassava keeps extracting water from 2 m and more (shared/DOMAIN.md "Dry season and
drought"; El-Sharkawy 2007). Rain enters the top layer; water above field capacity drains to
the layer below at a soil-specific rate and leaves the bottom as deep drainage; water above
saturation moves down at once. Soil evaporation dries the top layer; crop transpiration draws
on the layers the roots reach, reduced as the soil dries (FAO-56, Allen et al. 1998, eq. 84),
with moist deep layers making up for a dry surface. How the roots take water up (the
depletion fraction, their spread with depth, compensation) is the crop's, passed in as an
``Uptake``. Any time step works: the live field node steps every reading (minutes), the
offline season steps daily.

Soil constants are from shared/DOMAIN.md ("Soils": loamy sand field capacity 12-18%, wilting
point 4-8%; sandy loam / loam field capacity 20-30%, wilting point 8-14%); saturation and the
drainage rates are modelling choices (sandier drains faster).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SoilType:
    """A soil's hydraulics (volumetric water, 0..1); a world may vary any of them."""

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

#: Layer thickness (mm): 0-20, 20-40, 40-80 cm (probes at 10, 30, 60 cm) and 80-250 cm.
LAYER_MM = (200.0, 200.0, 400.0, 1700.0)
PROBED_LAYERS = 3
#: An air-dry surface falls below wilting point: evaporation may take the top layer to half of it.
AIR_DRY_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class Uptake:
    """How a crop's roots take water up (``agronomy.crop.CropParameters`` holds the figures):
    the soil water depletion fraction before stress (FAO-56 p), the depth scale of the root
    weights exp(-depth / scale), and the root-weighted stress index below which the plant is
    stressed (compensated uptake, Jarvis 1989)."""

    depletion_fraction: float
    scale_mm: float
    compensation: float


def soil_type(name: str) -> SoilType:
    try:
        return SOILS[name]
    except KeyError:
        raise ValueError(f"soil {name!r} is unknown: use one of {', '.join(SOILS)}") from None


class SoilWater:
    """Volumetric water content (0..1) of each layer, stepped forward in time."""

    def __init__(self, soil: SoilType, uptake: Uptake, wetness: float = 0.5) -> None:
        """``wetness`` 0..1 sets the start between wilting point and field capacity."""
        self.soil = soil
        self.uptake = uptake
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
        uptake, weights, top = self.uptake, [], 0.0
        for thickness in LAYER_MM:
            reach = min(thickness, max(0.0, root_depth_mm - top))
            weights.append(reach * math.exp(-(top + reach / 2) / uptake.scale_mm))
            top += thickness
        soil = self.soil
        available_range = soil.field_capacity - soil.wilting_point
        stress = []
        for i in range(len(LAYER_MM)):
            fraction = (self.theta[i] - soil.wilting_point) / available_range
            stress.append(
                weights[i] * min(1.0, max(0.0, fraction / (1 - uptake.depletion_fraction)))
            )
        index = sum(stress) / sum(weights)
        if index <= 0:
            return 0.0
        wanted = demand_mm * min(1.0, index / uptake.compensation)
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
