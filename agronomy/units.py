"""Units and the Thai clock: each fact written once, here, and imported everywhere else.

Area: Thai farmers and cooperatives count in rai, agronomy in hectares; 1 rai = 1,600 m2, so
1 ha = 6.25 rai (shared/DOMAIN.md, "Units and money"). A yield in t/ha divided by
``RAI_PER_HA`` is t/rai.

Time: Thailand keeps Indochina Time, UTC+7, all year, with no daylight saving. A farmer's
"rain yesterday", a Thai day's rollup and a harvest date all start at local midnight, 17:00
UTC the day before. Timestamps are milliseconds since the Unix epoch (UTC) throughout the
project; ``thai_day`` and ``thai_date`` say which Thai day one falls on, ``thai_midnight_ms``
where a Thai day starts.
"""

from __future__ import annotations

from datetime import date, timedelta, timezone

#: 1 ha = 6.25 rai (1 rai = 1,600 m2; DOMAIN.md "Units and money").
RAI_PER_HA = 6.25

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
#: Day numbers count from here: ``thai_day`` returns days since this date, in Thai time.
EPOCH = date(1970, 1, 1)

#: Thailand's offset from UTC (Indochina Time), constant all year.
THAI_UTC_OFFSET_HOURS = 7
THAI_UTC_OFFSET = timedelta(hours=THAI_UTC_OFFSET_HOURS)
THAI_UTC_OFFSET_MS = THAI_UTC_OFFSET_HOURS * HOUR_MS
#: For ``datetime``: Thai wall-clock time of an instant.
THAI_TIMEZONE = timezone(THAI_UTC_OFFSET, "ICT")
#: The same zone by its IANA name, for the services that take a name (Grafana, Open-Meteo).
THAI_TIMEZONE_NAME = "Asia/Bangkok"


def thai_day(ts_ms: int) -> int:
    """Days since 1970-01-01 of the Thai calendar day ``ts_ms`` (UTC ms) falls on: the index
    the weather generator and the day-by-day models count in."""
    return (ts_ms + THAI_UTC_OFFSET_MS) // DAY_MS


def thai_date(ts_ms: int) -> date:
    """The Thai calendar date ``ts_ms`` (UTC ms) falls on."""
    return EPOCH + timedelta(days=thai_day(ts_ms))


def thai_midnight_ms(day: date) -> int:
    """The instant (UTC ms) a Thai calendar day starts: 17:00 UTC the day before."""
    return (day - EPOCH).days * DAY_MS - THAI_UTC_OFFSET_MS
