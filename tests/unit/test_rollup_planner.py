"""Which rollup windows a batch of stored points marks for recomputation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.rollups import DAILY, HOURLY, RESOLUTIONS, RollupPlanner, recompute_pending
from isanfarm.settings import InfluxSettings

#: 2025-11-25 17:00 UTC: midnight of 26 November in Thailand (UTC+7).
THAI_MIDNIGHT_MS = 1_764_090_000_000


def test_a_point_just_before_thai_midnight_marks_the_previous_thai_day() -> None:
    planner = RollupPlanner()
    planner.mark([THAI_MIDNIGHT_MS - 1, THAI_MIDNIGHT_MS])
    assert set(planner.take()) == {
        (HOURLY, THAI_MIDNIGHT_MS - 3_600_000),
        (HOURLY, THAI_MIDNIGHT_MS),
        (DAILY, THAI_MIDNIGHT_MS - 86_400_000),
        (DAILY, THAI_MIDNIGHT_MS),
    }
    assert planner.pending() == 0


@given(st.lists(st.integers(0, 4_102_444_800_000), max_size=50))
def test_marks_are_exactly_the_windows_the_points_fall_in(timestamps: list[int]) -> None:
    planner = RollupPlanner()
    planner.mark(timestamps)
    expected = {(r, r.window_start(ts)) for ts in timestamps for r in RESOLUTIONS}
    assert set(planner.take()) == expected


class AnswersHtmlOnce:
    """A database behind a proxy that once answers with an error page: an error nobody
    foresaw, not an InfluxError."""

    def __init__(self) -> None:
        self.settings = InfluxSettings(database="isanfarm")
        self.calls = 0

    def execute(self, statement: str) -> None:
        self.calls += 1
        if self.calls == 2:
            raise ValueError("Expecting value: line 1 column 1 (char 0)")


def test_windows_whose_recompute_failed_in_any_way_stay_marked() -> None:
    planner = RollupPlanner()
    planner.mark([THAI_MIDNIGHT_MS, THAI_MIDNIGHT_MS + 3_600_000])
    influx = AnswersHtmlOnce()
    with pytest.raises(ValueError, match="Expecting value"):
        recompute_pending(planner, influx, "rollups")  # type: ignore[arg-type]
    # Three windows (two hours, one Thai day): the first was recomputed, the second failed.
    assert planner.pending() == 2, "the failed window and the one after it are kept"
    assert recompute_pending(planner, influx, "rollups") == 2  # type: ignore[arg-type]
