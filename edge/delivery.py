"""The agent's in-flight window: readings sent and not yet confirmed, and when to send again.

Bookkeeping only (no I/O, no clock of its own: callers pass ``now``), so the rules are
unit-tested on their own. A reading enters the window when it is published and leaves it when
it is confirmed: by its PUBACK when the agent trusts PUBACKs (``receipts = "off"``, or
``"auto"`` before this device ever got a receipt), else by a receipt from ingest covering its
``seq`` (``isanfarm.receipt``). A reading PUBACKed but not receipted ``timeout_s`` after it
was sent is due again: the broker may have lost it (killed before it saved its queue) or
dropped it (an ACL refusal over MQTT 3.1.1 is PUBACKed as a success).

Two bounds: at most ``in_flight`` readings await a PUBACK (resends included: they share the
one in-flight window, so a backlog drains in a steady stream), and at most ``limit`` are
sent and unconfirmed in all, which bounds what one broker crash can cost and what is sent
again at once. The second is the larger: a receipt takes a round trip through ingest's batch
(about a second), a PUBACK only through the broker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from isanfarm.receipt import Receipt

#: The wait before sending again doubles with each resend, up to 2**6 times ``timeout_s``
#: (about an hour at the default 60 s): while ingest is down for hours, a fleet must not fill
#: the broker's queues with copies.
MAX_DOUBLINGS = 6


@dataclass(slots=True)
class _Sent:
    seq: int | None
    sent_at: float
    #: The packet id while the broker's PUBACK is awaited; None once it came.
    mid: int | None
    #: Times sent again: each doubles the wait for the next (up to ``MAX_DOUBLINGS``).
    resends: int = 0


class DeliveryWindow:
    """Readings keyed by outbox id, from first publish to confirmation."""

    def __init__(self, in_flight: int, limit: int, timeout_s: float) -> None:
        if in_flight < 1 or limit < 1 or timeout_s <= 0:
            raise ValueError("the window needs in_flight >= 1, limit >= 1 and timeout_s > 0")
        self.in_flight = in_flight
        self.limit = limit
        self.timeout_s = timeout_s
        self._sent: dict[int, _Sent] = {}
        self._by_seq: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._sent)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._sent

    def ids(self) -> set[int]:
        return set(self._sent)

    def room(self) -> int:
        """How many more readings may be sent now (first sends or resends)."""
        return max(0, min(self.in_flight - self.awaiting_puback(), self.limit - len(self._sent)))

    def awaiting_puback(self) -> int:
        return sum(1 for sent in self._sent.values() if sent.mid is not None)

    def sent(self, item_id: int, seq: int | None, mid: int, now: float) -> None:
        """Published (or published again) as packet ``mid``."""
        before = self._sent.get(item_id)
        self._sent[item_id] = _Sent(seq, now, mid, 0 if before is None else before.resends + 1)
        if seq is not None:
            self._by_seq[seq] = item_id

    def answered(self, answers: Mapping[int, bool]) -> tuple[list[int], list[int]]:
        """Match PUBACKs (packet id -> taken) to readings: (taken ids, refused ids). Refused
        readings leave the window (they are unsent again); taken ones stay until confirmed."""
        taken: list[int] = []
        refused: list[int] = []
        for item_id, sent in list(self._sent.items()):
            if sent.mid is None or sent.mid not in answers:
                continue
            mid, sent.mid = sent.mid, None
            if answers[mid]:
                taken.append(item_id)
            else:
                refused.append(item_id)
        self.forget(refused)
        return taken, refused

    def covered(self, receipt: Receipt) -> list[int]:
        """The readings ``receipt`` confirms; they leave the window."""
        confirmed = [item_id for seq, item_id in self._by_seq.items() if receipt.covers(seq)]
        self.forget(confirmed)
        return confirmed

    def due_again(self, now: float) -> list[int]:
        """PUBACKed readings no receipt covered in time, oldest first, as many as the
        in-flight window has room for."""
        due = sorted(
            item_id
            for item_id, sent in self._sent.items()
            if sent.mid is None
            and now - sent.sent_at >= self.timeout_s * 2 ** min(sent.resends, MAX_DOUBLINGS)
        )
        return due[: max(0, self.in_flight - self.awaiting_puback())]

    def forget(self, ids: Iterable[int]) -> None:
        for item_id in ids:
            sent = self._sent.pop(item_id, None)
            if sent is not None and sent.seq is not None:
                self._by_seq.pop(sent.seq, None)
