"""One cassava field: its soil water and its crop, stepped together.

The soil steps at whatever interval the caller has (a live node every reading, an offline season
once a day); the crop steps once per day with that day's mean water stress. Before planting the
field is bare soil, evaporating only. The crop's physiology (``CropParameters``) and the soil's
hydraulics (``SoilType``) are arguments, so that a simulated field may differ from the
forecaster's standard crop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from agronomy.crop import STANDARD_CROP, CassavaCrop, CropParameters, Variety
from agronomy.soil import PROBED_LAYERS, SoilType, SoilWater, Uptake
from agronomy.weather import DailyWeather, day_index

#: A field starts this many days before planting (or before the live start), so that its soil
#: water has forgotten the arbitrary starting moisture (modelling choice).
SPIN_UP_DAYS = 60
#: Storage roots sit in the top 40 cm: their water content follows that layer's wetness.
STORAGE_ROOT_DEPTH_MM = 400.0


class DailySource(Protocol):
    """Daily weather by day index: a ``KoratWeather``, or a test's altered copy of one."""

    def day(self, day_index: int) -> DailyWeather: ...


@dataclass(frozen=True, slots=True)
class FieldDay:
    """The truth about one field at the end of one day: what forecasts are scored on."""

    day: int
    weather: DailyWeather
    soil_moisture_pct: tuple[float, ...]
    water_factor: float
    lai: float
    root_dm_t_ha: float
    fresh_yield_t_ha: float
    starch_pct: float


class FieldModel:
    def __init__(
        self,
        soil: SoilType,
        variety: Variety,
        planting_day: int,
        management: float = 1.0,
        parameters: CropParameters = STANDARD_CROP,
    ) -> None:
        self.soil = SoilWater(soil, uptake(parameters))
        self.variety = variety
        self.management = management
        self.parameters = parameters
        self.planting_day = planting_day
        self.crop: CassavaCrop | None = None
        self._demand = 0.0
        self._supplied = 0.0

    def advance_soil(self, rain_mm: float, et0_mm: float, dt_days: float) -> None:
        """Rain and reference ET over the last ``dt_days``."""
        crop = self.crop
        if crop is None:
            evaporation, transpiration = et0_mm * self.parameters.kc_bare, 0.0
            roots = 0.0
        else:
            evaporation, transpiration = crop.water_demand_mm(et0_mm)
            roots = crop.root_depth_mm
        factor = self.soil.step(rain_mm, evaporation, transpiration, roots, dt_days)
        self._demand += transpiration
        self._supplied += transpiration * factor

    def end_day(self, day: int, weather: DailyWeather) -> float:
        """Close day ``day``: plant on the planting day, grow the crop; returns the day's water
        factor (actual / potential transpiration)."""
        water_factor = self._supplied / self._demand if self._demand > 0 else 1.0
        self._demand = self._supplied = 0.0
        if self.crop is None and day >= self.planting_day:
            self.crop = CassavaCrop(self.variety, self.management, self.parameters)
        if self.crop is not None:
            wetness = self.soil.root_zone_wetness(STORAGE_ROOT_DEPTH_MM)
            self.crop.step(weather, water_factor, wetness)
        return water_factor

    def step_day(self, day: int, weather: DailyWeather) -> FieldDay:
        """A whole day at once (offline seasons)."""
        self.advance_soil(weather.rain_mm, weather.et0_mm, 1.0)
        water_factor = self.end_day(day, weather)
        return self.snapshot(day, weather, water_factor)

    def snapshot(self, day: int, weather: DailyWeather, water_factor: float) -> FieldDay:
        crop = self.crop
        moisture = tuple(100 * theta for theta in self.soil.theta[:PROBED_LAYERS])
        if crop is None:
            return FieldDay(day, weather, moisture, water_factor, 0.0, 0.0, 0.0, 0.0)
        return FieldDay(
            day,
            weather,
            moisture,
            water_factor,
            crop.lai,
            crop.root_dm_g * 0.01,
            crop.fresh_yield_t_ha,
            crop.starch_pct,
        )


def run_season(
    weather: DailySource,
    soil: SoilType,
    variety: Variety,
    planted: date,
    end: date,
    management: float = 1.0,
    parameters: CropParameters = STANDARD_CROP,
) -> list[FieldDay]:
    """Every day from planting to ``end`` (inclusive), after a bare-soil spin-up."""
    planting_day, end_day = day_index(planted), day_index(end)
    if end_day < planting_day:
        raise ValueError(f"harvest {end} is before planting {planted}: swap them")
    field = FieldModel(soil, variety, planting_day, management, parameters)
    for day in range(planting_day - SPIN_UP_DAYS, planting_day):
        field.step_day(day, weather.day(day))
    return [field.step_day(day, weather.day(day)) for day in range(planting_day, end_day + 1)]


def uptake(parameters: CropParameters) -> Uptake:
    """The soil model's view of the crop's roots."""
    return Uptake(
        parameters.depletion_fraction,
        parameters.root_uptake_scale_mm,
        parameters.uptake_compensation,
    )
