"""The forecast job's cassava_forecast lines: exact text, and the one mark of the best harvest
that the API and the dashboards read (isanfarm.storage.BEST_HARVEST)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from isanfarm import storage
from models.store import best_candidate, cassava_forecast_lines

ISSUED = date(2026, 11, 26)
TAGS = {"farm": "korat-001", "field": "korat-001-f1", "variety": "KU50", "issued": "2026-11-26"}
PREDICTED = np.array(
    [
        [30.0, 25.0, 35.0, 27.0, 26.0, 28.0],
        [32.0, 27.0, 37.0, 26.5, 25.5, 27.5],
        [33.0, 28.0, 38.0, 24.0, 23.0, 25.0],
        [20.0, 15.0, 25.0, 25.0, 24.0, 26.0],
    ]
)


def test_the_best_candidate_is_the_highest_revenue_and_the_earliest_of_equals() -> None:
    assert best_candidate([180_000.0, 190_000.0, 182_000.0]) == 1
    assert best_candidate([190_000.0, 120_000.0, 190_000.0]) == 0
    assert best_candidate([]) is None


def test_each_fields_lines_mark_exactly_its_best_candidate() -> None:
    other = {**TAGS, "field": "korat-001-f2"}
    series = [
        (TAGS, 4.0, [date(2027, 1, 25), date(2027, 2, 1), date(2027, 2, 8)]),
        (other, 1.25, [date(2027, 1, 25)]),
    ]
    tonnes = PREDICTED[:, 0] * np.array([4.0, 4.0, 4.0, 1.25])
    revenue = np.array([180_000.0, 190_000.0, 182_000.0, 60_000.0])

    lines = cassava_forecast_lines(series, ISSUED, 1_764_115_200_000, PREDICTED, tonnes, revenue)

    assert lines[1] == (
        "cassava_forecast,farm=korat-001,field=korat-001-f1,issued=2026-11-26,variety=KU50 "
        "area_ha=4,best_harvest=true,horizon_days=67i,issued_at_ms=1764115200000i,"
        "revenue_thb=190000,starch_pct=26.5,starch_pct_p10=25.5,starch_pct_p90=27.5,tonnes=128,"
        "yield_t_ha=32,yield_t_ha_p10=27,yield_t_ha_p90=37 1801414800000"  # 2027-02-01 00:00 +07
    )
    marks = [f"{storage.BEST_HARVEST}=true" in line for line in lines]
    assert marks == [False, True, False, True]
    assert [f"{storage.BEST_HARVEST}=false" in line for line in lines] == [
        not mark for mark in marks
    ]


def test_a_forecast_that_is_not_finite_or_does_not_match_its_dates_is_refused() -> None:
    series = [(TAGS, 4.0, [date(2027, 1, 25), date(2027, 2, 1)])]
    two = PREDICTED[:2]
    with pytest.raises(ValueError, match="finite"):
        cassava_forecast_lines(
            series, ISSUED, 0, two, np.array([1.0, np.nan]), np.array([1.0, 2.0])
        )
    with pytest.raises(ValueError, match="rows"):
        cassava_forecast_lines(series, ISSUED, 0, PREDICTED, np.ones(4), np.ones(4))
