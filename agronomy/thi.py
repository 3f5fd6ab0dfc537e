"""Heat stress of cattle: the temperature-humidity index (THI) and its categories.

THI = 0.8 T + (RH / 100) (T - 14.4) + 46.4, with T the air temperature in degC and RH the
relative humidity in %: Thom's index in the form used by Mader, Davis & Brown-Brandl (2006),
"Environmental factors influencing heat stress in feedlot cattle", Journal of Animal Science
84(3), 712-719. The categories are the Livestock Weather Safety Index's (Livestock
Conservation Institute, as cited there and in shared/DOMAIN.md): below 75 normal, 75-78 alert,
79-83 danger, 84 and above emergency.

The simulators, the cattle forecast, the API's heat-stress alert and the dashboards' InfluxQL
all use this one definition: ``thi`` computes it in Python, ``thi_formula`` writes it out over
two expressions of any infix language (InfluxQL, a panel's description).
"""

from __future__ import annotations

from enum import IntEnum

#: THI = TEMPERATURE_WEIGHT T + RH/100 (T - HUMIDITY_BASE_C) + OFFSET (Mader et al. 2006).
TEMPERATURE_WEIGHT = 0.8
HUMIDITY_BASE_C = 14.4
OFFSET = 46.4


class HeatStress(IntEnum):
    """Livestock Weather Safety Index category; the value orders them by severity."""

    NORMAL = 0
    ALERT = 1
    DANGER = 2
    EMERGENCY = 3


#: The THI at which each category above normal begins.
THI_ALERT = 75.0
THI_DANGER = 79.0
THI_EMERGENCY = 84.0
_FROM = (
    (THI_EMERGENCY, HeatStress.EMERGENCY),
    (THI_DANGER, HeatStress.DANGER),
    (THI_ALERT, HeatStress.ALERT),
)


def thi(temperature_c: float, relative_humidity_pct: float) -> float:
    """THI of one reading. Compute it per reading before averaging: it is not linear in T."""
    t = temperature_c
    return TEMPERATURE_WEIGHT * t + relative_humidity_pct / 100 * (t - HUMIDITY_BASE_C) + OFFSET


def heat_stress(index: float) -> HeatStress:
    """The category a THI value falls in."""
    for start, category in _FROM:
        if index >= start:
            return category
    return HeatStress.NORMAL


def thi_formula(temperature: str, humidity: str) -> str:
    """The formula over two expressions (column names, symbols), in the infix syntax shared by
    InfluxQL, SQL and prose: ``0.8 * T + RH / 100 * (T - 14.4) + 46.4``."""
    return (
        f"{TEMPERATURE_WEIGHT:g} * {temperature} + {humidity} / 100 * "
        f"({temperature} - {HUMIDITY_BASE_C:g}) + {OFFSET:g}"
    )
