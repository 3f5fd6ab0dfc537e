"""What one attempt to deliver came to, whichever channel tried: the senders' common answer.

The deliverer decides what happens next from it alone (mark delivered, retry later, or put in
the dead letters), so LINE's status codes and SMTP's reply codes are read in one place each
(``notify.line``, ``notify.email``) and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from notify.notification import Notification


@dataclass(frozen=True, slots=True)
class Sent:
    #: The receiving side's id of the message (LINE's ``x-line-request-id``), for the log.
    request_id: str | None = None
    #: False when the receiver said it had already accepted this very message (LINE's 409 on a
    #: reused retry key): delivered, but not a second message off the monthly quota.
    counted: bool = True


@dataclass(frozen=True, slots=True)
class Retry:
    """Not delivered this time, may be later: a timeout, a refused connection, 5xx, 429, 4xx
    of SMTP."""

    reason: str
    #: The receiver said how long to wait (``Retry-After``): honoured instead of the backoff.
    after_s: float | None = None
    #: LINE's monthly message limit is reached: nothing more goes out this month.
    quota_exhausted: bool = False
    #: Our own configuration is at fault (a refused token or SMTP login), not the message:
    #: worth retrying once an operator has fixed it, never worth dead-lettering for.
    misconfigured: bool = False


@dataclass(frozen=True, slots=True)
class Refused:
    """The receiver refused this message for good (a bad or unknown LINE id, a mailbox that
    does not exist): retrying cannot help, it goes to the dead letters with ``reason``."""

    reason: str


Outcome = Sent | Retry | Refused


class Sender(Protocol):
    """One channel's way out: a single attempt, never raising for what the far side did."""

    def send(self, notification: Notification, retry_key: str) -> Outcome: ...

    def close(self) -> None: ...
