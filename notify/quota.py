"""How many LINE messages are left this month, and so whether to fold warnings into digests.

An Official Account may send a number of messages a month that depends on its plan; past it,
LINE answers 429 ("You have reached your monthly limit.") until the month turns. The deliverer
counts what it sends (in the outbox, so a restart keeps the count) and asks LINE's quota
endpoints every few minutes; LINE's figure wins when it is higher (other senders share the
account: the Official Account Manager, other bots), ours covers the minutes in between and the
times LINE cannot be asked. Months are counted on Thailand's calendar (the accounts are Thai;
LINE's exact month boundary is not documented on the pages read, so a count may be a few hours
off around midnight of the 1st, which the next reading of the endpoint corrects).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from agronomy.units import THAI_TIMEZONE


@dataclass(frozen=True, slots=True)
class QuotaReading:
    """What LINE's quota endpoints said."""

    #: Messages the account may send this month; None: no limit (``"type": "none"``).
    limit: int | None
    #: Messages sent this month so far, as LINE counts them.
    used: int


@dataclass(frozen=True, slots=True)
class QuotaView:
    limit: int | None
    used: int

    @property
    def remaining(self) -> int | None:
        """Messages left this month (never negative); None: no known limit."""
        return None if self.limit is None else max(0, self.limit - self.used)

    def low(self, below: int) -> bool:
        """Fewer than ``below`` messages left: time for digests."""
        remaining = self.remaining
        return remaining is not None and remaining < below


def month_of(ts: float) -> str:
    """The Thai calendar month ("YYYY-MM") of epoch seconds ``ts``."""
    return datetime.fromtimestamp(ts, THAI_TIMEZONE).strftime("%Y-%m")


class QuotaTracker:
    """The deliverer's running view of the quota (one thread, no I/O)."""

    def __init__(self, configured_limit: int | None) -> None:
        self._configured_limit = configured_limit
        self._reading: QuotaReading | None = None
        self._reading_month: str | None = None
        self._sent_since_reading = 0
        self._exhausted_month: str | None = None

    def observe(self, reading: QuotaReading, month: str) -> None:
        """LINE's own figures, read now."""
        self._reading, self._reading_month = reading, month
        self._sent_since_reading = 0
        if reading.limit is None or reading.used < reading.limit:
            self._exhausted_month = None

    def sent(self) -> None:
        """One more message went out (counted against the quota)."""
        self._sent_since_reading += 1

    def exhausted(self, month: str) -> None:
        """LINE said the monthly limit is reached."""
        self._exhausted_month = month

    def view(self, month: str, counted_locally: int) -> QuotaView:
        """The quota for ``month``, given the messages the outbox counted in it."""
        limit = self._configured_limit
        used = counted_locally
        if self._reading is not None:
            limit = self._reading.limit
            if self._reading_month == month:
                used = max(used, self._reading.used + self._sent_since_reading)
        if self._exhausted_month == month:
            limit = used if limit is None else limit
            used = max(used, limit)
        return QuotaView(limit=limit, used=used)
