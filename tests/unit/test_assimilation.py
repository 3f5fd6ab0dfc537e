"""The probes' soil moisture moves a field's estimated management factor towards the one it was
simulated with, a value filled from the climatology is no evidence, and the compiled misfit is
the plain sum over the simulator's own soil water."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from agronomy.crop import VARIETIES
from agronomy.field import FieldModel, run_season
from agronomy.soil import SOILS
from agronomy.weather import DailyWeather, KoratWeather, day_index
from models import cropmodel
from models.cropfeatures import (
    MISFIT_START_DAY,
    POSTERIOR_GRID,
    CropCases,
    DailyRows,
    _groups,
    assimilate,
)
from models.daily import RADIATION, RAIN, SOIL_COLUMNS, TMEAN, FieldSeason, from_simulation

PLANTED = date(2021, 5, 1)
DAYS = 240
WEATHER = np.array([RAIN, TMEAN, RADIATION])
PROBES = np.array(SOIL_COLUMNS)


def _season(seed: int, management: float, soil: str = "sandy_loam") -> FieldSeason:
    weather = KoratWeather(seed, day_index(PLANTED) - 90)
    days = run_season(
        weather, SOILS[soil], VARIETIES["KU50"], PLANTED, PLANTED + timedelta(DAYS - 1), management
    )
    return from_simulation(f"f{seed}", "farm", "KU50", soil, PLANTED, days)


def _cases(n: int, age: int) -> CropCases:
    return CropCases(
        np.arange(n),
        np.full(n, age),
        np.full(n, 300),
        np.full(n, -1),
        np.full(n, np.nan),
        np.full(n, -1),
    )


def _rows(seasons: list[FieldSeason], observed: np.ndarray | None = None) -> DailyRows:
    first = np.cumsum([0, *(s.days for s in seasons[:-1])])
    return DailyRows(np.concatenate([s.values for s in seasons]), first, observed)


def test_the_probes_move_the_estimate_towards_the_true_factor() -> None:
    seasons = [_season(21, 0.5), _season(22, 0.9)]
    flat = np.full(2, np.nan)
    before, before_sd = assimilate(seasons, _rows(seasons), _cases(2, 20), flat)
    after, after_sd = assimilate(seasons, _rows(seasons), _cases(2, 180), flat)
    # Before the misfit starts, both are the flat prior's mean, 0.65.
    assert before == pytest.approx([0.65, 0.65])
    assert after[0] == pytest.approx(0.5, abs=0.06)
    assert after[1] == pytest.approx(0.9, abs=0.06)
    assert np.all(np.abs(after - [0.5, 0.9]) < np.abs(before - [0.5, 0.9]))
    assert np.all(after_sd < before_sd)


def test_probes_that_reported_nothing_leave_the_prior_as_it_was() -> None:
    seasons = [_season(23, 0.5), _season(24, 0.9)]
    silent = np.ones((2 * DAYS, 7))
    silent[:, PROBES] = 0.0  # every soil value filled from the climatology
    cases = _cases(2, 180)
    calibrated = np.array([0.8, np.nan])
    mean, sd = assimilate(seasons, _rows(seasons, silent), cases, calibrated)
    grid = np.array(POSTERIOR_GRID)
    prior = np.exp(-0.5 * ((grid - 0.8) / 0.05) ** 2)
    prior /= prior.sum()
    assert mean[0] == pytest.approx(prior @ grid, abs=1e-12)
    assert sd[0] == pytest.approx(np.sqrt(prior @ grid**2 - (prior @ grid) ** 2), abs=1e-12)
    assert mean[1] == pytest.approx(grid.mean(), abs=1e-12)
    assert sd[1] == pytest.approx(grid.std(), abs=1e-12)
    # The same seasons with their probes: the evidence moves both.
    heard, _ = assimilate(seasons, _rows(seasons), cases, calibrated)
    assert np.all(np.abs(heard - mean) > 0.02)


def _python_misfit(
    season: FieldSeason, management: float, reported: np.ndarray, end: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The simulator's FieldModel from the probes' planting-day water (as the batch model
    starts), compared with the probes day by day, in plain Python."""
    field = FieldModel(SOILS[season.soil], VARIETIES[season.variety], 0, management)
    probes = list(season.values[0, PROBES] / 100)
    field.soil.theta = [*probes, probes[2]]
    squares, sums, count = np.zeros(3), np.zeros(3), np.zeros(3)
    for day in range(end):
        rain, tmean, radiation = season.values[day, WEATHER]
        state = field.step_day(day, DailyWeather(rain, tmean, tmean, 70.0, radiation))
        if day < MISFIT_START_DAY:
            continue
        for j, column in enumerate(PROBES):
            if reported[day, column] > 0:
                d = state.soil_moisture_pct[j] - season.values[day, column]
                squares[j] += d * d
                sums[j] += d
                count[j] += 1
    return squares, sums, count


def test_the_compiled_misfit_is_the_simulators_soil_water_against_the_probes() -> None:
    season = _season(25, 0.6, "loamy_sand")
    reported = np.ones_like(season.values)
    reported[50:70, PROBES[1]] = 0.0  # the 30 cm probe dead for 20 days
    reported[::5, PROBES[0]] = 0.0
    daily = _rows([season], reported)
    groups = np.array([[0, DAYS, 0.6], [0, DAYS, 0.9]])
    reads = np.array([[0, 120], [0, 200], [1, 200]])
    batch = _groups([season], daily, groups, reads)
    squares, sums, count = cropmodel.misfit(
        batch, daily.filled, WEATHER, reported, PROBES, MISFIT_START_DAY
    )
    for r, (g, end) in enumerate(reads):
        expected = _python_misfit(season, groups[g, 2], reported, end)
        assert squares[r] == pytest.approx(expected[0], rel=1e-9)
        assert sums[r] == pytest.approx(expected[1], rel=1e-9, abs=1e-9)
        assert count[r] == pytest.approx(expected[2])
    assert count[0, 1] == 120 - MISFIT_START_DAY - 20
    assert squares[1].sum() != squares[2].sum()  # the factor shows in the probes


def test_a_misfit_needs_three_probe_columns() -> None:
    season = _season(26, 0.7)
    daily = _rows([season])
    batch = _groups([season], daily, np.array([[0, DAYS, 0.7]]), np.array([[0, 100]]))
    with pytest.raises(ValueError, match="probes: 2 columns given"):
        cropmodel.misfit(batch, daily.filled, WEATHER, np.ones_like(daily.filled), PROBES[:2], 30)
