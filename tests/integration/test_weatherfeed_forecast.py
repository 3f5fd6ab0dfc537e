"""A weather forecast makes the starch forecast 1-2 weeks before harvest better, and a forecast
that knows nothing does not.

Held-out simulated seasons (``simulators.seasons``), each asked 7 and 14 days before eight
harvest days; the forecast compared is the crop model's (the ``crop_starch_pct`` and
``crop_yield_t_ha`` features the cassava model's trees start from), built by ``SeasonFeatures``
once without a feed and once with each case carrying its farm's forecast from the simulated feed
(``simulators.weatherfeed``), whose skill is what published tropical verification allows. The
comparison is repeated on two draws of the weather members, because how far an ensemble of six
traces misses the truth is itself noise: a skilful feed's gain must hold on each draw and beat
twice the standard error of the paired per-case differences; a no-skill feed's must stay within
what another draw of members changes.

Not marked ``integration``: no server is started; it joins the simulator, the feed and the
forecaster, and takes 10-20 s.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from models.features import Case, SeasonFeatures
from models.seasons import HarvestedSeason
from models.weatherfeed import TROPICAL_SKILL, LeadSkill
from simulators.seasons import simulate
from simulators.weatherfeed import NO_SKILL, SimulatedFeed, truth_from_season

LEADS = (7, 14)
#: Harvest days 17 days apart: their forecast windows (16 days) do not overlap.
HARVESTS = (246, 263, 280, 297, 314, 331, 348, 365)
MEMBER_SEEDS = (1, 2)


def _columns(model: SeasonFeatures) -> tuple[int, int]:
    names = list(model.get_feature_names_out())
    return names.index("crop_starch_pct"), names.index("crop_yield_t_ha")


@pytest.fixture(scope="module")
def held_out() -> list[HarvestedSeason]:
    """One field a farm: every season its own weather, none seen by the fit below. Why so many
    and each alone: fields of a farm share the weather, and so do the leads of one harvest, so
    the independent samples are the farm seasons' harvest windows, and the gain is a few
    percent of the error."""
    return simulate(150, 1, seed=41, first_year=2031, fields_per_farm=1, progress=None)


@pytest.fixture(scope="module")
def fit_on() -> list[HarvestedSeason]:
    return simulate(10, 1, seed=7, first_year=2027, fields_per_farm=10, progress=None)


def _cases(seasons: Sequence[HarvestedSeason], skill: Sequence[LeadSkill] | None) -> list[Case]:
    feed = SimulatedFeed(skill, seed=5) if skill is not None else None
    cases = []
    for s in seasons:
        for harvest in HARVESTS:
            for lead in LEADS:
                case = Case(s.season, harvest - lead, harvest)
                if feed is not None:
                    issued = s.season.day(case.age_days)
                    truth = truth_from_season(s.season, issued, feed.horizon)
                    case.forecast = feed.forecast(s.season.farm_id, issued, truth)
                cases.append(case)
    return cases


@pytest.fixture(scope="module")
def squared_errors(
    held_out: list[HarvestedSeason], fit_on: list[HarvestedSeason]
) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
    """(feed, member seed) -> per-case squared errors of starch (points^2) and log yield."""
    seasons = held_out
    truth_starch = np.array([s.starch_pct[h] for s in seasons for h in HARVESTS for _ in LEADS])
    truth_yield = np.array([s.yield_t_ha[h] for s in seasons for h in HARVESTS for _ in LEADS])
    feeds = {"none": None, "tropical": TROPICAL_SKILL, "no skill": NO_SKILL}
    cases = {name: _cases(held_out, skill) for name, skill in feeds.items()}
    out = {}
    for seed in MEMBER_SEEDS:
        model = SeasonFeatures(weather_seed=seed).fit([Case(s.season, 200, 300) for s in fit_on])
        starch, crop_yield = _columns(model)
        for name in feeds:
            features = model.transform(cases[name])
            out[(name, seed)] = (
                (features[:, starch] - truth_starch) ** 2,
                (np.log(features[:, crop_yield]) - np.log(truth_yield)) ** 2,
            )
    return out


def _gain(errors: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]], feed: str, k: int) -> str:
    """What the failure message shows: RMSE without and with the feed, per member draw (for
    yield, of log yield: these fields have no previous harvest, so it includes their yield
    gap, which no weather forecast changes)."""
    return "; ".join(
        f"members {seed}: {np.sqrt(errors[('none', seed)][k].mean()):.4f} -> "
        f"{np.sqrt(errors[(feed, seed)][k].mean()):.4f}"
        for seed in MEMBER_SEEDS
    )


def _paired(
    errors: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]], feed: str, k: int
) -> tuple[float, float]:
    """Mean over cases and member draws of (squared error without - with the feed), and its
    standard error."""
    diff = np.concatenate([errors[("none", s)][k] - errors[(feed, s)][k] for s in MEMBER_SEEDS])
    return float(diff.mean()), float(diff.std() / np.sqrt(len(diff)))


def test_a_skilful_feed_improves_the_starch_forecast_1_to_2_weeks_out(
    squared_errors: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]],
) -> None:
    gain, se = _paired(squared_errors, "tropical", 0)
    per_draw = [
        squared_errors[("none", s)][0].mean() - squared_errors[("tropical", s)][0].mean()
        for s in MEMBER_SEEDS
    ]
    message = (
        f"starch RMSE (points) without -> with the feed: {_gain(squared_errors, 'tropical', 0)}; "
        f"MSE gain {gain:.4f} +- {se:.4f}. Yield log-RMSE: "
        f"{_gain(squared_errors, 'tropical', 1)}"
    )
    assert min(per_draw) > 0, message
    assert gain > 2 * se, message


def test_a_feed_without_skill_is_no_better_than_none(
    squared_errors: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]],
) -> None:
    """A climatology-only feed still carries the long-run climatology, which the six members
    only sample: over its 16 days it may correct that sampling, never add knowledge of this
    season. Measured, that correction is about 1% of the starch RMSE, near two standard errors
    and on every draw. So its gain must stay within noise (three standard errors, or what
    drawing other members changes, the range of the no-feed error over the draws, whichever is
    larger) and under a quarter of a skilful feed's."""
    gain, se = _paired(squared_errors, "no skill", 0)
    skilful, _ = _paired(squared_errors, "tropical", 0)
    baseline = [squared_errors[("none", s)][0].mean() for s in MEMBER_SEEDS]
    noise = max(baseline) - min(baseline)
    message = (
        f"starch RMSE (points) without -> with a no-skill feed: "
        f"{_gain(squared_errors, 'no skill', 0)}; MSE gain {gain:.4f} +- {se:.4f}, other "
        f"members move it by {noise:.4f}, the skilful feed's gain is {skilful:.4f}"
    )
    assert gain < max(3 * se, noise), message
    assert gain < skilful / 4, message
