"""A daily cassava crop in the spirit of LINTUL-Cassava (Ezui et al. 2018, Field Crops Research).

Each day the canopy intercepts light by Beer's law on its leaf area, turns it into dry matter at
a radiation use efficiency reduced by temperature and water stress, and partitions it to leaves,
stems and storage roots by development stage (thermal time). Leaves age and fall faster in a
drought; when the rains come back after such a shedding, the plant draws on root starch to
regrow its canopy, which is why root starch falls a few weeks after the rains resume. Root dry
matter content rises as the soil dries and falls as roots take up water again, so starch as a
share of fresh weight peaks in the cool dry season and dips after heavy rain (shared/DOMAIN.md,
"Cassava": Sriroth et al. 1999; Santisopasri et al. 2001; Moreno & Gourdji 2015).

Every number below is a LINTUL-type parameter chosen inside the ranges of shared/DOMAIN.md or a
labelled modelling choice; ``tests/unit/test_sim_realism.py`` holds the results to the published
yields, harvest index and starch ranges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from agronomy.weather import DailyWeather

#: Light extinction coefficient: DOMAIN.md gives 0.7-0.9 for cassava (Ezui et al. 2018).
EXTINCTION = 0.88
#: Photosynthetically active share of global radiation (standard).
PAR_SHARE = 0.5
#: Radiation use efficiency, g dry matter per MJ intercepted PAR (modelling choice, a
#: LINTUL-type value; calibrated so water-limited yields reach DOMAIN.md's "good farmer" range).
RUE_G_PER_MJ = 1.7
#: Specific leaf area, m2 leaf per g leaf dry matter (modelling choice).
SLA_M2_PER_G = 0.018
#: Base temperature for development and growth (modelling choice; cassava stops near 15 degC).
T_BASE_C = 15.0
#: Growth is full between these daily means and falls linearly to zero at T_BASE_C and 45 degC.
T_OPT_C = (25.0, 35.0)
T_MAX_C = 45.0
#: Thermal time from planting to sprouting, and from sprouting to the start of root bulking
#: (about 2.5 months in Korat's warm season; modelling choice).
TSUM_EMERGENCE = 170.0
TSUM_BULKING = 1000.0
TSUM_MATURE = 2500.0
#: Leaf dry matter a sprouting stake puts up from its own reserves (g/m2, modelling choice).
STAKE_LEAF_G = 4.0
#: (leaf, stem, root) shares of new growth before bulking and in the mature crop (modelling
#: choice giving a harvest index of about 0.6, inside DOMAIN.md's 0.5-0.7).
PARTITION_YOUNG = (0.55, 0.35, 0.10)
PARTITION_MATURE = (0.15, 0.15, 0.70)
#: Relative leaf death rate per day: ageing, plus extra under drought (cassava sheds leaves).
LEAF_DEATH_BASE = 0.012
LEAF_DEATH_DROUGHT = 0.03
#: Below this leaf area in the bulking phase the crop counts as having shed its canopy; when
#: the topsoil has been wet for a while (its 7-day mean relative available water above
#: WETNESS_FOR_REGROWTH: real rains, not a shower) it regrows to LAI_REGROWN, drawing up to
#: REMOBILISE_PER_DAY of root starch a day, and at most REMOBILISE_MAX of it per flush, into
#: new leaves and stems at REMOBILISE_EFFICIENCY (modelling choices).
LAI_SHED = 0.8
LAI_REGROWN = 1.5
REMOBILISE_PER_DAY = 0.02
REMOBILISE_MAX = 0.15
REMOBILISE_EFFICIENCY = 0.75
WETNESS_FOR_REGROWTH = 0.5
#: Root dry matter content falls by this much from dry to field-capacity soil, relaxing with a
#: time constant of DMC_TAU_DAYS (modelling choice giving seasonal swings of several starch
#: points, as DOMAIN.md describes).
DMC_WET_DROP = 0.06
DMC_TAU_DAYS = 10.0
#: Roots deepen this much a day after sprouting, to the deep layer's bottom (modelling choice).
ROOT_GROWTH_MM_PER_DAY = 12.0
ROOT_MAX_MM = 1500.0
#: FAO-56 crop coefficients: about 0.3 (bare soil at establishment) to about 1.05 at full
#: canopy (DOMAIN.md: 0.3 rising to 0.8-1.1).
KC_BARE = 0.3
KC_FULL = 1.05


@dataclass(frozen=True, slots=True)
class Variety:
    """Per-variety modelling choices inside DOMAIN.md's bounds: they differ mainly in yield
    potential (``rue_factor``) and starch (``starch_share`` of new root dry matter, and root
    dry-matter content in dry soil ``dmc_dry``; dry-season starch = dmc_dry x starch_share)."""

    name: str
    rue_factor: float
    starch_share: float
    dmc_dry: float


VARIETIES = {
    v.name: v
    for v in (
        Variety("KU50", 1.00, 0.82, 0.360),
        Variety("Rayong 72", 1.05, 0.75, 0.340),
        Variety("Rayong 9", 0.95, 0.83, 0.365),
        Variety("Rayong 11", 0.98, 0.80, 0.355),
        Variety("Huay Bong 60", 1.02, 0.81, 0.355),
        Variety("Huay Bong 80", 1.04, 0.82, 0.360),
    )
}
_ALIASES = {name.lower().replace(" ", ""): name for name in VARIETIES} | {"kasetsart50": "KU50"}


def variety(name: str) -> Variety:
    """Look a variety up by name, forgiving case and spaces ("ku50", "Rayong 72", "rayong72")."""
    key = name.lower().replace(" ", "").replace("-", "")
    try:
        return VARIETIES[_ALIASES[key]]
    except KeyError:
        raise ValueError(
            f"variety {name!r} is unknown: use one of {', '.join(VARIETIES)}"
        ) from None


class CassavaCrop:
    """One field's crop from planting; ``step`` once per day, in date order."""

    def __init__(self, variety: Variety, management: float = 1.0) -> None:
        """``management`` (0..1] scales growth for what the water-limited model leaves out:
        nutrients, weeds, pests, stake quality (modelling choice; the yield gap)."""
        if not 0 < management <= 1:
            raise ValueError(f"management {management} is outside (0, 1]: 1 is a perfect field")
        self.variety = variety
        self.management = management
        self.age_days = 0
        self.tsum = 0.0
        self.leaf_g = 0.0
        self.stem_g = 0.0
        self.root_starch_g = 0.0
        self.root_other_g = 0.0
        self.root_depth_mm = 0.0
        self.dmc = variety.dmc_dry - DMC_WET_DROP / 2
        self._shed = False
        self._flush_left_g = 0.0
        self._wet_memory = 0.0

    @property
    def lai(self) -> float:
        return self.leaf_g * SLA_M2_PER_G

    @property
    def cover(self) -> float:
        """Share of light (and of the evaporative surface) the canopy takes."""
        return 1 - math.exp(-EXTINCTION * self.lai)

    @property
    def root_dm_g(self) -> float:
        return self.root_starch_g + self.root_other_g

    @property
    def fresh_yield_t_ha(self) -> float:
        """Fresh storage-root yield; g/m2 x 0.01 is t/ha."""
        return self.root_dm_g * 0.01 / self.dmc

    @property
    def starch_pct(self) -> float:
        """Starch as % of fresh root weight, as the factory's specific-gravity balance reads it."""
        if self.root_dm_g <= 0:
            return 0.0
        return 100 * self.dmc * self.root_starch_g / self.root_dm_g

    @property
    def harvest_index(self) -> float:
        total = self.root_dm_g + self.stem_g + self.leaf_g
        return self.root_dm_g / total if total else 0.0

    def water_demand_mm(self, et0_mm: float) -> tuple[float, float]:
        """(soil evaporation, transpiration) demand for a day with reference ET ``et0_mm``."""
        cover = self.cover
        return et0_mm * KC_BARE * (1 - cover), et0_mm * KC_FULL * cover

    def step(self, day: DailyWeather, water_factor: float, wetness: float) -> None:
        """One day: ``water_factor`` is actual/potential transpiration, ``wetness`` the relative
        available water of the top 40 cm, where the storage roots sit (both 0..1, from the soil
        model)."""
        self.age_days += 1
        self.tsum += max(0.0, day.tmean_c - T_BASE_C)
        target = self.variety.dmc_dry - DMC_WET_DROP * wetness
        self.dmc += (target - self.dmc) / DMC_TAU_DAYS
        self._wet_memory += (wetness - self._wet_memory) / 7
        if self.tsum < TSUM_EMERGENCE:
            return
        if self.leaf_g == 0 and self.stem_g == 0:
            self.leaf_g = STAKE_LEAF_G
        self.root_depth_mm = min(ROOT_MAX_MM, self.root_depth_mm + ROOT_GROWTH_MM_PER_DAY)
        intercepted = PAR_SHARE * day.radiation_mj * self.cover
        growth = (
            RUE_G_PER_MJ
            * self.variety.rue_factor
            * self.management
            * intercepted
            * temperature_factor(day.tmean_c)
            * water_factor
        )
        leaf, stem, root = self._partition()
        self.leaf_g += leaf * growth
        self.stem_g += stem * growth
        self.root_starch_g += root * growth * self.variety.starch_share
        self.root_other_g += root * growth * (1 - self.variety.starch_share)
        self.leaf_g -= self.leaf_g * (LEAF_DEATH_BASE + LEAF_DEATH_DROUGHT * (1 - water_factor))
        self._regrow()

    def _partition(self) -> tuple[float, float, float]:
        if self._shed:
            return PARTITION_YOUNG  # a regrowing canopy invests in leaves first
        stage = (self.tsum - TSUM_EMERGENCE - TSUM_BULKING) / (TSUM_MATURE - TSUM_BULKING)
        stage = min(1.0, max(0.0, stage))
        young, mature = PARTITION_YOUNG, PARTITION_MATURE
        leaf = young[0] + (mature[0] - young[0]) * stage
        stem = young[1] + (mature[1] - young[1]) * stage
        return leaf, stem, 1 - leaf - stem

    def _regrow(self) -> None:
        """After a drought has shed the canopy, returning water triggers a regrowth flush fed
        by root starch (Santisopasri et al. 2001; DOMAIN.md "Cassava")."""
        bulking = self.tsum > TSUM_EMERGENCE + TSUM_BULKING
        if bulking and self.lai < LAI_SHED and not self._shed:
            self._shed = True
            self._flush_left_g = self.root_starch_g * REMOBILISE_MAX
        if not self._shed or self._wet_memory < WETNESS_FOR_REGROWTH:
            return
        needed_leaf = (LAI_REGROWN - self.lai) / SLA_M2_PER_G
        if needed_leaf <= 0:
            self._shed = False
            return
        # New shoots carry as much stem as leaf.
        draw = min(
            self.root_starch_g * REMOBILISE_PER_DAY,
            2 * needed_leaf / REMOBILISE_EFFICIENCY,
            self._flush_left_g,
        )
        self._flush_left_g -= draw
        self.root_starch_g -= draw
        self.leaf_g += draw * REMOBILISE_EFFICIENCY / 2
        self.stem_g += draw * REMOBILISE_EFFICIENCY / 2


def temperature_factor(tmean_c: float) -> float:
    low, high = T_OPT_C
    if tmean_c <= T_BASE_C or tmean_c >= T_MAX_C:
        return 0.0
    if tmean_c < low:
        return (tmean_c - T_BASE_C) / (low - T_BASE_C)
    if tmean_c > high:
        return (T_MAX_C - tmean_c) / (T_MAX_C - high)
    return 1.0
