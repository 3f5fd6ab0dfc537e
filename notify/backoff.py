"""When to try again: exponential backoff with jitter, and the receiver's ``Retry-After``.

Jitter spreads the retries of many notifications that failed together (LINE down for everyone)
so they do not all come back in the same instant. "Equal jitter": the wait is between half and
all of the exponential step, so it still grows with each failure and is never near zero.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def backoff_s(attempts: int, base_s: float, max_s: float, draw: float) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt (1 for the first), with
    ``draw`` a uniform number in [0, 1): between half and all of ``base_s * 2**(attempts-1)``,
    capped at ``max_s``."""
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    step = min(max_s, base_s * 2.0 ** min(attempts - 1, 60))
    return step / 2 + step / 2 * draw


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now`` (epoch seconds): either delay-seconds or an
    HTTP date (RFC 9110 10.2.3). None when absent or unreadable; never negative."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - datetime.fromtimestamp(now, UTC).timestamp())
