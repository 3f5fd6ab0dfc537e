"""The pure parts of the key lifecycle (``registry.keys``): durations, times, states, and when a
use is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from registry.keys import (
    KeyLifecycleError,
    Principal,
    expiry_after,
    key_state,
    parse_duration,
    parse_time,
    use_to_record,
)
from registry.models import ApiKey

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def test_durations() -> None:
    assert parse_duration("90d") == timedelta(days=90)
    assert parse_duration("1d12h") == timedelta(hours=36)
    assert parse_duration("0s") == timedelta(0)
    for bad in ("", "90", "d", "1y", "-1d", "1.5h"):
        with pytest.raises(KeyLifecycleError, match="a number and a unit"):
            parse_duration(bad)
    with pytest.raises(KeyLifecycleError, match="out of range"):
        parse_duration("99999999999w")
    assert expiry_after(parse_duration("9999999d"), NOW) == datetime.max.replace(tzinfo=UTC)


def test_times_need_an_offset() -> None:
    assert parse_time("2027-03-31T07:00:00+07:00") == datetime(2027, 3, 31, tzinfo=UTC)
    with pytest.raises(KeyLifecycleError, match="no UTC offset"):
        parse_time("2027-03-31T00:00:00")
    with pytest.raises(KeyLifecycleError, match="ISO 8601"):
        parse_time("next week")


def test_states() -> None:
    key = ApiKey(created_at=NOW, revoked_at=None, expires_at=None)
    assert key_state(key, NOW) == "active"
    key.expires_at = NOW + timedelta(seconds=1)
    assert key_state(key, NOW) == "active"
    key.expires_at = NOW
    assert key_state(key, NOW) == "expired"
    key.revoked_at = NOW - timedelta(days=1)
    assert key_state(key, NOW) == "revoked"


def test_a_use_is_written_at_most_once_a_minute() -> None:
    def seen(last: datetime | None) -> Principal:
        return Principal("coop-a", "read", "x", "3f9a0c1d", last)

    assert use_to_record(seen(None), NOW)
    assert not use_to_record(seen(NOW - timedelta(seconds=59)), NOW)
    assert use_to_record(seen(NOW - timedelta(seconds=60)), NOW)
