"""The compiled batch crop model is the simulator's crop model, and the yield gap it calibrates
from a previous harvest is the one the field was simulated with."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest

from agronomy.crop import STANDARD_CROP, VARIETIES, CropParameters
from agronomy.field import FieldDay, FieldModel, run_season
from agronomy.soil import SOILS, SoilType
from agronomy.weather import DailyWeather, KoratWeather, day_index
from models import cropmodel
from models.cropfeatures import (
    LAST_READ_DAY,
    CropCases,
    DailyRows,
    crop_features,
    weather_members,
)
from models.daily import RADIATION, RAIN, TMEAN, FieldSeason, from_simulation

PLANTED = date(2021, 4, 10)
DAYS = 330
#: Rain, mean temperature and radiation among DAILY_VARIABLES.
WEATHER = np.array([RAIN, TMEAN, RADIATION])


def _season(
    seed: int, soil: str, variety: str, management: float
) -> tuple[FieldSeason, list[FieldDay]]:
    weather = KoratWeather(seed, day_index(PLANTED) - 90)
    days = run_season(
        weather, SOILS[soil], VARIETIES[variety], PLANTED, PLANTED + timedelta(DAYS - 1), management
    )
    season = from_simulation(f"f{seed}", "farm", variety, soil, PLANTED, days)
    return season, days


def _scalar(
    season: FieldSeason,
    weather: np.ndarray,
    management: float,
    parameters: CropParameters = STANDARD_CROP,
    soil: SoilType | None = None,
) -> np.ndarray:
    """The simulator's FieldModel stepped on ``weather`` (rain, tmean, radiation) from the
    probes' first-day soil water, as the batch model starts."""
    field = FieldModel(
        soil or SOILS[season.soil], VARIETIES[season.variety], 0, management, parameters
    )
    probes = list(season.values[0, 4:7] / 100)
    field.soil.theta = [*probes, probes[2]]
    out = []
    for day, (rain, tmean, radiation) in enumerate(weather):
        today = DailyWeather(rain, tmean, tmean, 70.0, radiation)
        field.step_day(day, today)
        assert field.crop is not None
        out.append((field.crop.fresh_yield_t_ha, field.crop.starch_pct))
    return np.array(out)


def _groups(seasons: list[FieldSeason], switch: list[int], management: list[float]) -> Any:
    n = len(seasons)
    return cropmodel.Groups(
        first_row=np.arange(n) * DAYS,
        switch=np.array(switch),
        management=np.array(management),
        calendar_start=np.array([(s.planted - date(s.planted.year, 1, 1)).days for s in seasons]),
        soil=np.array(
            [
                (t.field_capacity, t.wilting_point, t.saturation, t.drainage_per_day)
                for t in (SOILS[s.soil] for s in seasons)
            ]
        ),
        variety=np.array(
            [
                (v.rue_factor, v.starch_share, v.dmc_dry)
                for v in (VARIETIES[s.variety] for s in seasons)
            ]
        ),
        theta0=np.array([[*s.values[0, 4:7] / 100, s.values[0, 6] / 100] for s in seasons]),
        read_start=np.arange(n + 1) * DAYS,
        read_days=np.tile(np.arange(DAYS), n),
    )


def _cases(
    season: int, age: int, harvest: int, prev: int = -1, prev_yield: float = np.nan
) -> CropCases:
    """One case; a previous season (``prev``) harvested on the same day as this one."""
    return CropCases(
        np.array([season]),
        np.array([age]),
        np.array([harvest]),
        np.array([prev]),
        np.array([prev_yield]),
        np.array([harvest if prev >= 0 else -1]),
    )


def _rows(*seasons: FieldSeason) -> DailyRows:
    first = np.cumsum([0, *(s.days for s in seasons[:-1])])
    return DailyRows(np.concatenate([s.values for s in seasons]), first)


def test_compiled_model_matches_the_simulator_day_by_day() -> None:
    cases = [
        (3, "loamy_sand", "KU50", 0.55),
        (4, "sandy_loam", "Rayong 72", 0.8),
        (5, "loam", "Rayong 9", 1.0),
    ]
    seasons = [_season(*case)[0] for case in cases]
    rows_of_all = np.concatenate([s.values for s in seasons])
    groups = _groups(seasons, [DAYS] * 3, [c[3] for c in cases])
    yields, starch = cropmodel.simulate(groups, rows_of_all, WEATHER, np.zeros((1, 2 * 366, 3)))
    for i, (season, case) in enumerate(zip(seasons, cases, strict=True)):
        expected = _scalar(season, season.values[:, WEATHER], case[3])
        rows = slice(i * DAYS, (i + 1) * DAYS)
        assert yields[rows, 0] == pytest.approx(expected[:, 0], abs=1e-9)
        assert starch[rows, 0] == pytest.approx(expected[:, 1], abs=1e-9)
    assert yields[DAYS - 1, 0] > 5  # a real crop grew: the comparison is not of zeros


#: A crop unlike the standard one in every way the benchmark's truth worlds vary it, and more.
OTHER_CROP = CropParameters(
    rue_g_per_mj=1.45,
    partition_mature_root=0.6,
    depletion_fraction=0.2,
    water_growth_exponent=1.0,
    dmc_wet_drop=0.12,
    dmc_tau_days=5.0,
    leaf_death_drought=0.05,
    lai_kept=0.2,
    root_max_mm=1500.0,
    root_growth_mm_per_day=10.0,
    sink_loss_per_day=0.01,
)
OTHER_SOIL = SoilType(field_capacity=0.2, wilting_point=0.07, saturation=0.4, drainage_per_day=0.5)


def test_compiled_model_matches_the_simulator_for_another_crop_and_soil() -> None:
    season = _season(8, "loamy_sand", "Huay Bong 60", 0.75)[0]
    groups = replace(
        _groups([season], [DAYS], [0.75]),
        soil=np.array(
            [
                (
                    OTHER_SOIL.field_capacity,
                    OTHER_SOIL.wilting_point,
                    OTHER_SOIL.saturation,
                    OTHER_SOIL.drainage_per_day,
                )
            ]
        ),
    )
    rows = season.values
    yields, starch = cropmodel.simulate(
        groups, rows, WEATHER, np.zeros((1, 2 * 366, 3)), OTHER_CROP
    )
    expected = _scalar(season, rows[:, WEATHER], 0.75, OTHER_CROP, OTHER_SOIL)
    assert yields[:, 0] == pytest.approx(expected[:, 0], abs=1e-9)
    assert starch[:, 0] == pytest.approx(expected[:, 1], abs=1e-9)
    standard = _scalar(season, rows[:, WEATHER], 0.75)
    assert abs(expected[-1, 0] - standard[-1, 0]) > 1, "the other crop really grows otherwise"


def test_each_member_continues_from_the_observed_days_on_its_own_trace() -> None:
    season, _ = _season(7, "loamy_sand", "KU50", 0.7)
    members = weather_members(2, seed=3)
    switch = 150
    groups = _groups([season], [switch], [0.7])
    yields, _ = cropmodel.simulate(groups, season.values, WEATHER, members)
    start = (PLANTED - date(PLANTED.year, 1, 1)).days
    for m in range(2):
        seen = season.values[:switch, WEATHER]
        weather = np.concatenate([seen, members[m, start + switch : start + DAYS]])
        assert yields[:, m] == pytest.approx(_scalar(season, weather, 0.7)[:, 0], abs=1e-9)
    assert yields[switch - 1, 0] == yields[switch - 1, 1]
    assert yields[DAYS - 1, 0] != yields[DAYS - 1, 1]


def test_a_previous_harvest_calibrates_the_fields_yield_gap() -> None:
    members = weather_members(2, seed=1)
    for management in (0.45, 0.62, 0.9):
        before, days = _season(11, "loamy_sand", "KU50", management)
        now, _ = _season(12, "loamy_sand", "KU50", management)
        harvest = 300
        case = _cases(1, 200, harvest, prev=0, prev_yield=days[harvest].fresh_yield_t_ha)
        features = crop_features([before, now], _rows(before, now), case, members)
        # The simulator spun its soil up from another start: close, not exact.
        assert features[0, 3] == pytest.approx(management, abs=0.03)


def test_without_a_previous_season_the_probes_estimate_the_yield_gap() -> None:
    members = weather_members(2, seed=1)
    season, days = _season(13, "sandy_loam", "KU50", 0.5)
    early = crop_features([season], _rows(season), _cases(0, 20, 300), members)
    features = crop_features([season], _rows(season), _cases(0, 200, 300), members)
    # Before the roots reach the probes: the flat prior (mean 0.65, standard deviation 0.2).
    assert early[0, 3] == pytest.approx(0.65)
    assert early[0, 4] == pytest.approx(0.2, abs=0.01)
    # 170 days of probe data: near the field's 0.5, and surer.
    assert features[0, 3] == pytest.approx(0.5, abs=0.06)
    assert features[0, 4] < 0.1
    truth = days[300].fresh_yield_t_ha
    assert abs(features[0, 0] - truth) < abs(early[0, 0] - truth)


def test_a_stale_planting_date_is_read_at_the_members_end_not_past_it() -> None:
    members = weather_members(1, seed=1)
    season, _ = _season(13, "sandy_loam", "KU50", 0.5)
    far = crop_features([season], _rows(season), _cases(0, 200, 2_000), members)
    end = crop_features([season], _rows(season), _cases(0, 200, LAST_READ_DAY), members)
    assert np.array_equal(far, end, equal_nan=True)
    groups = _groups([season], [DAYS], [1.0])
    late = replace(groups, read_days=groups.read_days + members.shape[1])
    with pytest.raises(ValueError, match="into the weather members"):
        cropmodel.simulate(late, season.values, WEATHER, members)
