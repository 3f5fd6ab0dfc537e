"""When the agent stops trusting its own clock."""

from __future__ import annotations

from edge.clock_health import ClockHealth, TrustedClockHealth

RELEASE = 1_793_491_200_000  # 2026-11-01


def test_a_clock_before_the_release_date_is_suspect() -> None:
    health = ClockHealth(earliest_ms=RELEASE, max_skew_ms=300_000)
    assert health.judge(0).suspect
    assert not health.judge(RELEASE + 1).suspect


def test_a_clock_far_from_platform_time_is_suspect_and_near_is_fine() -> None:
    health = ClockHealth(earliest_ms=RELEASE, max_skew_ms=300_000)
    now = RELEASE + 10 * 86_400_000
    health.observe_platform_time(platform_ms=now + 3_600_000, device_ms=now)
    verdict = health.judge(now)
    assert verdict.suspect
    assert "-3600 s off" in verdict.reason
    health.observe_platform_time(platform_ms=now + 2_000, device_ms=now)
    assert not health.judge(now).suspect


def test_a_simulated_clock_is_always_trusted() -> None:
    assert not TrustedClockHealth().judge(0).suspect
