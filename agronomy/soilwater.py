"""When soil counts as dry: one definition for the API's alert and the dashboards' bands.

Dry means the volumetric water content (%VWC, what the probes report) has fallen to within
``DRY_MARGIN_PCT`` points of the soil's wilting point: below the wilting point the crop can
take up nothing, so the warning must come while a little water is left. The wilting points are
the soil model's (``agronomy.soil``, from shared/DOMAIN.md "Soils"), the same soil water the
simulators produce and the forecast reads, so the alert and the data agree on what dry is.
"""

from __future__ import annotations

from agronomy.soil import SOILS, SoilType

#: Points of VWC above the wilting point that still count as dry (modelling choice, kept from
#: the API's earlier rule: 2 points over the 20 cm layer the 30 cm probe reads are 4 mm of
#: water, about one day of Korat's 3.5-5.5 mm/day reference ET).
DRY_MARGIN_PCT = 2.0
#: The soil assumed where a field's soil is unknown or not one of ``agronomy.soil.SOILS``: the
#: Korat and Warin series loamy sands, the commonest upland soil of the region (DOMAIN.md).
COMMONEST_SOIL = "loamy_sand"


def dry_below_pct(soil: SoilType) -> float:
    """The %VWC under which this soil is dry (rounded to 0.1, a probe's resolution)."""
    return round(soil.wilting_point * 100 + DRY_MARGIN_PCT, 1)


def dry_below_pct_for(soil_name: str) -> float:
    """As ``dry_below_pct``, for a soil named as the registry names it (``loamy_sand``); an
    unknown name gets the commonest soil's threshold rather than no alert at all."""
    return dry_below_pct(SOILS.get(soil_name, SOILS[COMMONEST_SOIL]))
