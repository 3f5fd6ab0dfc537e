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

#: Photosynthetically active share of global radiation (standard).
PAR_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class CropParameters:
    """The crop's physiology: one object, so that a "truth world" can grow a crop that differs
    from the forecaster's own (``simulators/worlds.py``). The defaults are the standard
    cassava; each is a LINTUL-type value inside shared/DOMAIN.md's ranges or a labelled
    modelling choice."""

    #: Light extinction coefficient: DOMAIN.md gives 0.7-0.9 for cassava (Ezui et al. 2018).
    extinction: float = 0.88
    #: Radiation use efficiency, g dry matter per MJ intercepted PAR (modelling choice, a
    #: LINTUL-type value; calibrated so that a population of typical farms lands near the
    #: national yield and well-managed fields in the "good farmer" range, DOMAIN.md).
    rue_g_per_mj: float = 1.7
    #: Specific leaf area, m2 leaf per g leaf dry matter (modelling choice).
    sla_m2_per_g: float = 0.018
    #: Base temperature for development and growth (modelling choice; cassava stops near
    #: 15 degC); growth is full between the optimum temperatures and falls linearly to zero at
    #: the base and the maximum.
    t_base_c: float = 15.0
    t_opt_low_c: float = 25.0
    t_opt_high_c: float = 35.0
    t_max_c: float = 45.0
    #: Thermal time from planting to sprouting, from sprouting to the start of root bulking
    #: (about 2.5 months in Korat's warm season), and to the mature partitioning (modelling
    #: choices).
    tsum_emergence: float = 170.0
    tsum_bulking: float = 1000.0
    tsum_mature: float = 2500.0
    #: Leaf dry matter a sprouting stake puts up from its own reserves (g/m2, modelling choice).
    stake_leaf_g: float = 4.0
    #: Shares of new growth before bulking and in the mature crop (modelling choice giving a
    #: harvest index of about 0.6, inside DOMAIN.md's 0.5-0.7). The root share is taken as
    #: given; leaves and stems share the rest in proportion to their two figures, so that a
    #: world may change the root share alone (``partition``).
    partition_young_leaf: float = 0.55
    partition_young_stem: float = 0.35
    partition_young_root: float = 0.10
    partition_mature_leaf: float = 0.15
    partition_mature_stem: float = 0.15
    partition_mature_root: float = 0.70
    #: Relative leaf death rate per day: ageing, plus extra under drought (cassava sheds its
    #: older leaves), the extra only on leaf area above ``lai_kept``: a stressed plant keeps a
    #: tuft of young leaves at its shoot tips through the dry season (El-Sharkawy 2007,
    #: Brazilian Journal of Plant Physiology 19; modelling choice for the figures).
    leaf_death_base: float = 0.012
    leaf_death_drought: float = 0.03
    lai_kept: float = 0.5
    #: Below ``lai_shed`` in the bulking phase the crop counts as having shed its canopy; when
    #: the topsoil has been wet for a while (its 7-day mean relative available water above
    #: ``wetness_for_regrowth``: real rains, not a shower) it regrows to ``lai_regrown``,
    #: drawing up to ``remobilise_per_day`` of root starch a day, and at most
    #: ``remobilise_max`` of it per flush, into new leaves and stems at
    #: ``remobilise_efficiency`` (modelling choices).
    lai_shed: float = 0.8
    lai_regrown: float = 1.5
    remobilise_per_day: float = 0.02
    remobilise_max: float = 0.15
    remobilise_efficiency: float = 0.75
    wetness_for_regrowth: float = 0.5
    #: Root dry matter content falls by ``dmc_wet_drop`` from dry to field-capacity soil,
    #: relaxing with a time constant of ``dmc_tau_days`` (modelling choice giving seasonal
    #: swings of several starch points, as DOMAIN.md describes).
    dmc_wet_drop: float = 0.06
    dmc_tau_days: float = 10.0
    #: Roots deepen this much a day after sprouting, to ``root_max_mm``: cassava roots reach
    #: 2 m and more and keep extracting water there through the dry season (DOMAIN.md;
    #: El-Sharkawy 2007); the speed is a modelling choice.
    root_growth_mm_per_day: float = 15.0
    root_max_mm: float = 2500.0
    #: Root water uptake weight with depth, exp(-depth / scale) (modelling choice: most fine
    #: roots are in the top 40 cm, a few reach the deep layer), and compensated uptake (Jarvis
    #: 1989): roots in moist layers make up for roots in dry ones, the plant being stressed
    #: only when the root-weighted stress index falls below ``uptake_compensation``.
    root_uptake_scale_mm: float = 600.0
    uptake_compensation: float = 0.5
    #: FAO-56 Table 22, cassava (year 1): soil water depletion fraction before stress.
    depletion_fraction: float = 0.35
    #: Growth follows transpiration as water_factor ** this: below 1, partial stomatal closure
    #: saves more water than it costs carbon. Cassava's tight stomatal control keeps leaf
    #: photosynthesis at reasonable rates through prolonged water deficits (El-Sharkawy 2007);
    #: the figure is a modelling choice (1 would be LINTUL's proportional reduction).
    water_growth_exponent: float = 0.7
    #: Storage roots are initiated and set in the first months: water deficit then leaves
    #: fewer of them and impairs their later growth (FAO 2013, "Save and Grow: Cassava";
    #: El-Sharkawy 2007: two months or more of deficit in the first five months cut root yield
    #: by a third to more than half). Each day from sprouting until ``tsum_sink_set`` degree-
    #: days later removes ``sink_loss_per_day`` x (1 - water factor) of the crop's
    #: storage-root sink, down to ``sink_min``; the growth the missing roots cannot take goes
    #: to stems (modelling choices).
    tsum_sink_set: float = 1800.0
    sink_loss_per_day: float = 0.02
    sink_min: float = 0.3
    #: FAO-56 crop coefficients: about 0.3 (bare soil at establishment) to about 1.05 at full
    #: canopy (DOMAIN.md: 0.3 rising to 0.8-1.1).
    kc_bare: float = 0.3
    kc_full: float = 1.05

    def partition(self, young: bool) -> tuple[float, float, float]:
        """(leaf, stem, root) shares of new growth, young or mature, summing to 1."""
        if young:
            leaf, stem, root = (
                self.partition_young_leaf,
                self.partition_young_stem,
                self.partition_young_root,
            )
        else:
            leaf, stem, root = (
                self.partition_mature_leaf,
                self.partition_mature_stem,
                self.partition_mature_root,
            )
        root = min(1.0, max(0.0, root))
        rest = 1 - root
        return rest * leaf / (leaf + stem), rest * stem / (leaf + stem), root


#: The standard cassava: what the forecaster always runs.
STANDARD_CROP = CropParameters()


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

    def __init__(
        self,
        variety: Variety,
        management: float = 1.0,
        parameters: CropParameters = STANDARD_CROP,
    ) -> None:
        """``management`` (0..1] scales growth for what the water-limited model leaves out:
        nutrients, weeds, pests, stake quality (modelling choice; the yield gap)."""
        if not 0 < management <= 1:
            raise ValueError(f"management {management} is outside (0, 1]: 1 is a perfect field")
        self.variety = variety
        self.management = management
        self.parameters = parameters
        self._young = parameters.partition(young=True)
        self._mature = parameters.partition(young=False)
        self.age_days = 0
        self.tsum = 0.0
        self.leaf_g = 0.0
        self.stem_g = 0.0
        self.root_starch_g = 0.0
        self.root_other_g = 0.0
        self.root_depth_mm = 0.0
        self.dmc = variety.dmc_dry - parameters.dmc_wet_drop / 2
        #: Share of the storage-root sink left after water deficit at root initiation.
        self.sink = 1.0
        self._shed = False
        self._flush_left_g = 0.0
        self._wet_memory = 0.0

    @property
    def lai(self) -> float:
        return self.leaf_g * self.parameters.sla_m2_per_g

    @property
    def cover(self) -> float:
        """Share of light (and of the evaporative surface) the canopy takes."""
        return 1 - math.exp(-self.parameters.extinction * self.lai)

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
        cover, p = self.cover, self.parameters
        return et0_mm * p.kc_bare * (1 - cover), et0_mm * p.kc_full * cover

    def step(self, day: DailyWeather, water_factor: float, wetness: float) -> None:
        """One day: ``water_factor`` is actual/potential transpiration, ``wetness`` the relative
        available water of the top 40 cm, where the storage roots sit (both 0..1, from the soil
        model)."""
        p = self.parameters
        self.age_days += 1
        self.tsum += max(0.0, day.tmean_c - p.t_base_c)
        target = self.variety.dmc_dry - p.dmc_wet_drop * wetness
        self.dmc += (target - self.dmc) / p.dmc_tau_days
        self._wet_memory += (wetness - self._wet_memory) / 7
        if self.tsum < p.tsum_emergence:
            return
        if self.leaf_g == 0 and self.stem_g == 0:
            self.leaf_g = p.stake_leaf_g
        self.root_depth_mm = min(p.root_max_mm, self.root_depth_mm + p.root_growth_mm_per_day)
        if self.tsum < p.tsum_emergence + p.tsum_sink_set:
            self.sink = max(p.sink_min, self.sink - p.sink_loss_per_day * (1 - water_factor))
        intercepted = PAR_SHARE * day.radiation_mj * self.cover
        growth = (
            p.rue_g_per_mj
            * self.variety.rue_factor
            * self.management
            * intercepted
            * temperature_factor(day.tmean_c, p)
            * water_factor**p.water_growth_exponent
        )
        leaf, stem, root = self._partition()
        self.leaf_g += leaf * growth
        self.stem_g += stem * growth
        self.root_starch_g += root * growth * self.variety.starch_share
        self.root_other_g += root * growth * (1 - self.variety.starch_share)
        kept_g = p.lai_kept / p.sla_m2_per_g
        self.leaf_g -= self.leaf_g * p.leaf_death_base + p.leaf_death_drought * (
            1 - water_factor
        ) * max(0.0, self.leaf_g - kept_g)
        self._regrow()

    def _partition(self) -> tuple[float, float, float]:
        p = self.parameters
        if self._shed and self._wet_memory >= p.wetness_for_regrowth:
            leaf, stem, _ = self._young  # a regrowing canopy invests in leaves first
        else:
            stage = (self.tsum - p.tsum_emergence - p.tsum_bulking) / (
                p.tsum_mature - p.tsum_bulking
            )
            stage = min(1.0, max(0.0, stage))
            young, mature = self._young, self._mature
            leaf = young[0] + (mature[0] - young[0]) * stage
            stem = young[1] + (mature[1] - young[1]) * stage
        root = 1 - leaf - stem
        return leaf, stem + root * (1 - self.sink), root * self.sink

    def _regrow(self) -> None:
        """After a drought has shed the canopy, returning water triggers a regrowth flush fed
        by root starch (Santisopasri et al. 2001; DOMAIN.md "Cassava")."""
        p = self.parameters
        bulking = self.tsum > p.tsum_emergence + p.tsum_bulking
        if bulking and self.lai < p.lai_shed and not self._shed:
            self._shed = True
            self._flush_left_g = self.root_starch_g * p.remobilise_max
        if not self._shed or self._wet_memory < p.wetness_for_regrowth:
            return
        needed_leaf = (p.lai_regrown - self.lai) / p.sla_m2_per_g
        if needed_leaf <= 0:
            self._shed = False
            return
        # New shoots carry as much stem as leaf.
        draw = min(
            self.root_starch_g * p.remobilise_per_day,
            2 * needed_leaf / p.remobilise_efficiency,
            self._flush_left_g,
        )
        self._flush_left_g -= draw
        self.root_starch_g -= draw
        self.leaf_g += draw * p.remobilise_efficiency / 2
        self.stem_g += draw * p.remobilise_efficiency / 2


def temperature_factor(tmean_c: float, parameters: CropParameters = STANDARD_CROP) -> float:
    base, top = parameters.t_base_c, parameters.t_max_c
    low, high = parameters.t_opt_low_c, parameters.t_opt_high_c
    if tmean_c <= base or tmean_c >= top:
        return 0.0
    if tmean_c < low:
        return (tmean_c - base) / (low - base)
    if tmean_c > high:
        return (top - tmean_c) / (top - high)
    return 1.0
