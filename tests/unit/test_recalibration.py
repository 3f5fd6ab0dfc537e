"""Recalibration from a cooperative's records: a forecaster that is biased and too sure of
itself in the world it meets is brought back to what its intervals say."""

from __future__ import annotations

import numpy as np

from models.recalibration import Recalibration, coverage_of

YIELD_INTERVAL, STARCH_INTERVAL = (1, 2), (4, 5)


def _world(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forecasts 10 % too high in yield and 1 point too low in starch, with intervals half as
    wide as the errors need, at leads of 14 and 91 days."""
    rng = np.random.default_rng(seed)
    true_yield = rng.uniform(15, 35, n)
    true_starch = rng.uniform(22, 30, n)
    point_yield = true_yield * 1.10 * np.exp(rng.normal(0, 0.10, n))
    point_starch = true_starch - 1.0 + rng.normal(0, 0.8, n)
    # An honest 80 % half-width would be 1.28 sd; these are about half of that.
    yield_half, starch_half = 0.064, 0.5
    predicted = np.column_stack(
        [
            point_yield,
            point_yield * np.exp(-yield_half),
            point_yield * np.exp(yield_half),
            point_starch,
            point_starch - starch_half,
            point_starch + starch_half,
        ]
    )
    leads = rng.choice([14.0, 91.0], n)
    return predicted, np.column_stack([true_yield, true_starch]), leads


def test_a_biased_overconfident_forecaster_is_recalibrated_to_its_stated_coverage() -> None:
    records, recorded, record_leads = _world(400, seed=1)
    fresh, truth, leads = _world(4000, seed=2)
    assert coverage_of(fresh, truth[:, 0], YIELD_INTERVAL) < 0.5
    assert coverage_of(fresh, truth[:, 1], STARCH_INTERVAL) < 0.5

    corrected = Recalibration().fit(records, recorded, record_leads).apply(fresh, leads)

    assert 0.75 <= coverage_of(corrected, truth[:, 0], YIELD_INTERVAL) <= 0.85
    assert 0.75 <= coverage_of(corrected, truth[:, 1], STARCH_INTERVAL) <= 0.85
    yield_bias = np.median(np.log(corrected[:, 0] / truth[:, 0]))
    starch_bias = np.median(corrected[:, 3] - truth[:, 1])
    assert abs(yield_bias) < 0.03, f"yield still biased by {yield_bias:+.3f} (log)"
    assert abs(starch_bias) < 0.25, f"starch still biased by {starch_bias:+.2f} points"


def test_too_few_records_change_nothing_and_say_so() -> None:
    records, recorded, record_leads = _world(10, seed=3)
    fresh, _, leads = _world(50, seed=4)

    recalibration = Recalibration(min_records=20).fit(records, recorded, record_leads)

    assert np.array_equal(recalibration.apply(fresh, leads), fresh)
    assert all(f.width == 1.0 and f.shift == 0.0 for f in recalibration.fits["yield_t_ha"])
    assert any("records" in line for line in recalibration.describe())


def test_an_unfitted_recalibration_leaves_forecasts_alone() -> None:
    fresh, _, leads = _world(20, seed=5)
    assert np.array_equal(Recalibration().apply(fresh, leads), fresh)
