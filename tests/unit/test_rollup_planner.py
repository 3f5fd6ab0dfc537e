"""Which rollup windows a batch of stored points marks for recomputation."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ingest.rollups import DAILY, HOURLY, RESOLUTIONS, RollupPlanner

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
