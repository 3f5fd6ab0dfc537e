"""One message for one recipient on one channel: what the outbox keeps and the senders deliver.

Rendering (which alert, which language, grouped or not) happens before a notification exists;
delivery (retries, quota, dead letters) happens after. This type is the seam between the two, so
it carries the rendered text, not the alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Channel(StrEnum):
    LINE = "line"
    EMAIL = "email"


@dataclass(frozen=True, slots=True)
class Notification:
    #: Idempotency key: the outbox accepts a key once, so the same alert state reaches the same
    #: recipient at most once however often it is offered (e.g. ``"<alert>:<state>:<subscriber>"``).
    key: str
    channel: Channel
    #: A LINE user or group id (``U``/``C`` + 32 hex digits), or an e-mail address.
    address: str
    #: The message, already in the recipient's language.
    text: str
    #: Short title: the e-mail subject, and the line a digest lists.
    title: str
    #: Critical alerts pass quiet hours and are never folded into a digest.
    critical: bool
    cooperative_id: str
    farm_id: str | None = None
    #: Hold until this time (epoch seconds): a warning raised in the recipient's quiet hours
    #: waits for their end. None: send now.
    not_before: float | None = None
