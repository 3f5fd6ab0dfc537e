"""Stress worlds: what the cooperative sees of a field differs from the truth the way the world
says, and nothing else changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import numpy as np
import pytest

from models.daily import RAIN, SOIL_COLUMNS, TMEAN, FieldSeason
from models.seasons import HarvestedSeason
from models.training import RecordsClimatology
from simulators.seasons import simulate
from simulators.worlds import STANDARD, World, as_seen, observe, registered_soil

DAYS = 60


def _values() -> np.ndarray:
    rng = np.random.default_rng(0)
    values = np.column_stack(
        [
            rng.gamma(0.5, 8.0, DAYS),  # rain
            rng.normal(27, 2, DAYS),
            rng.normal(75, 5, DAYS),
            rng.normal(18, 3, DAYS),
            *(rng.normal(20, 3, DAYS) for _ in SOIL_COLUMNS),
        ]
    )
    return values


def test_a_probe_offset_raises_only_the_soil_moisture_columns() -> None:
    values = _values()
    seen = observe(World("offset", probe_offset_pct=5.0), values, "f/0")
    soil = list(SOIL_COLUMNS)
    assert np.allclose(seen[:, soil] - values[:, soil], 5.0)
    others = [j for j in range(values.shape[1]) if j not in soil]
    assert np.array_equal(seen[:, others], values[:, others])


def test_an_under_catching_gauge_records_its_share_of_the_rain() -> None:
    values = _values()
    seen = observe(World("gauge", rain_catch=0.85), values, "f/0")
    assert np.allclose(seen[:, RAIN], 0.85 * values[:, RAIN])
    assert np.array_equal(seen[:, TMEAN], values[:, TMEAN])


def test_dead_weeks_leave_whole_days_missing_and_the_input_untouched() -> None:
    values = _values()
    seen = observe(World("dead", dead_weeks=2), values, "f/0")
    missing = np.isnan(seen).all(axis=1)
    assert 7 <= missing.sum() <= 14
    assert not np.isnan(seen[~missing]).any()
    assert not np.isnan(values).any()


def test_the_standard_world_shows_the_truth_as_it_is() -> None:
    season = FieldSeason("f", "farm", "KU50", "loam", date(2020, 4, 1), 1.0, _values())
    truth = HarvestedSeason(season, 0, np.ones(DAYS), np.ones(DAYS), 30)
    assert as_seen(STANDARD, truth) is truth


def test_a_world_changes_what_is_seen_and_recorded_never_the_truth() -> None:
    season = FieldSeason("f", "farm", "KU50", "loam", date(2020, 4, 1), 1.0, _values())
    truth = HarvestedSeason(season, 0, np.full(DAYS, 20.0), np.full(DAYS, 25.0), 30)
    world = World("all", wrong_soil=True, probe_offset_pct=2.0, record_noise=0.1)

    seen = as_seen(world, truth)

    assert seen.season.soil == registered_soil(world, "loam") != "loam"
    assert np.array_equal(seen.yield_t_ha, truth.yield_t_ha)
    assert seen.recorded(30)[0] != 20.0
    assert seen.recorded(30)[1] == 25.0


def test_simulating_some_fields_gives_them_exactly_as_in_the_whole_population() -> None:
    whole = simulate(12, 2, seed=5, progress=None)
    chosen = {"sim-00003", "sim-00011"}
    some = simulate(12, 2, seed=5, progress=None, only_fields=chosen)

    assert {s.season.field_id for s in some} == chosen
    by_key = {(s.season.field_id, s.index): s for s in whole}
    for s in some:
        same = by_key[(s.season.field_id, s.index)]
        assert np.array_equal(s.season.values, same.season.values)
        assert np.array_equal(s.yield_t_ha, same.yield_t_ha)


def _record(variety: str, planted: date, age: int, yield_t_ha: float, starch: float) -> Any:
    season = FieldSeason("f", "farm", variety, "loam", planted, 1.0, np.zeros((0, 7)))
    days = age + 1
    return HarvestedSeason(season, 0, np.full(days, yield_t_ha), np.full(days, starch), age)


def test_the_records_climatology_learns_variety_and_harvest_month_from_records() -> None:
    records = []
    for k in range(40):
        # KU50 yields 30 t/ha, Rayong 72 20 t/ha; starch 27 % harvested in January, 23 % in July.
        records.append(_record("KU50", date(2019, 3, 1), 305 + k % 3, 30.0, 27.0))  # January
        records.append(_record("Rayong 72", date(2019, 9, 1), 305 + k % 3, 20.0, 23.0))  # July
    climatology = RecordsClimatology(records)

    ku50_yield, january_starch = climatology(records[0].season, 306)
    r72_yield, july_starch = climatology(records[1].season, 306)

    assert ku50_yield > 27
    assert r72_yield < 23
    assert january_starch > july_starch + 3
    with pytest.raises(ValueError, match="at least one recorded harvest"):
        RecordsClimatology([])


def test_a_noisy_record_is_not_the_truth() -> None:
    truth = _record("KU50", date(2020, 4, 1), 300, 25.0, 26.0)
    recorded = replace(truth, record_factor=1.1)
    assert recorded.recorded(300) == pytest.approx((27.5, 26.0))
    assert recorded.yield_t_ha[300] == 25.0


def test_every_field_season_draws_its_own_sensor_errors() -> None:
    world = World("noisy", probe_noise_pct=2.0, dead_weeks=1)
    values = _values()
    first = observe(world, values, "noisy/sim-00001/0")
    assert np.array_equal(first, observe(world, values, "noisy/sim-00001/0"), equal_nan=True)
    for other in ("noisy/sim-00002/0", "noisy/sim-00001/1"):
        assert not np.array_equal(first, observe(world, values, other), equal_nan=True)
