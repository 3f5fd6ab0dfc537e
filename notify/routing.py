"""Alerts to notifications: who gets which alert, when, in which words, grouped how.

Pure functions of the alerts, the subscriptions and what was already routed (``Mark``s), so
every rule is tested without a database:

- a subscription gets the kinds it names (all when it names none);
- a firing alert is sent once, then again each time ``repeat_interval_s`` has passed since the
  previous message was due for delivery (its ``not_before`` when quiet hours held it), so a
  still-firing alert comes again after the interval and never more often, however often it is
  looked at (a restart included); the n-th message of an alert is its round n;
- "resolved" goes once, and only to a subscription that was told the alert was firing;
- in a subscription's quiet hours (Thai time) a warning and a "resolved" wait for the end
  (``not_before``), a critical alert goes now;
- what one subscription gets about one farm at one time becomes one message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from agronomy.units import THAI_TIMEZONE
from notify.alert import AlertEvent, AlertState, Severity
from notify.messages import Item, Place, render_group
from notify.notification import Channel, Notification


@dataclass(frozen=True, slots=True)
class Recipient:
    """A subscription as routing needs it (``notify.subscriptions.recipient``)."""

    subscription_id: int
    cooperative_id: str
    farm_id: str | None
    channel: Channel
    address: str
    language: str
    #: Empty: every kind.
    kinds: frozenset[str]
    #: Thai local (start, end) as "HH:MM"; None: no quiet hours.
    quiet: tuple[str, str] | None
    repeat_interval_s: int

    def wants(self, event: AlertEvent) -> bool:
        return not self.kinds or event.kind in self.kinds


@dataclass(frozen=True, slots=True)
class Mark:
    """One alert state and round routed to one subscription, due for delivery at
    ``deliver_at`` (epoch seconds: when routed, or the end of the quiet hours it waited for)."""

    subscription_id: int
    alert_key: str
    state: str
    round: int
    deliver_at: float


@dataclass(frozen=True, slots=True)
class _History:
    """What one subscription was sent of one alert."""

    rounds: int = 0
    last_due: float = float("-inf")
    resolved: bool = False


def _histories(routed: Iterable[Mark]) -> dict[tuple[int, str], _History]:
    histories: dict[tuple[int, str], _History] = {}
    for m in routed:
        h = histories.get((m.subscription_id, m.alert_key), _History())
        if m.state == "resolved":
            h = _History(h.rounds, h.last_due, resolved=True)
        else:
            h = _History(max(h.rounds, m.round + 1), max(h.last_due, m.deliver_at), h.resolved)
        histories[(m.subscription_id, m.alert_key)] = h
    return histories


@dataclass(frozen=True, slots=True)
class Routed:
    notification: Notification
    #: What it carries; recorded once the outbox has it.
    marks: tuple[Mark, ...]


@dataclass(frozen=True, slots=True)
class Located:
    """An alert with its place and its farm's name (or the cooperative's, farm-less)."""

    event: AlertEvent
    place: Place
    farm_name: str


def quiet_until(now: datetime, quiet: tuple[str, str] | None) -> datetime | None:
    """The end of the quiet hours ``now`` is in (Thai local clock), or None outside them.
    A span whose end is earlier than its start runs over midnight (21:00-06:00)."""
    if quiet is None or quiet[0] == quiet[1]:
        return None
    local = _aware(now).astimezone(THAI_TIMEZONE)
    start, end = (_at(local, clock) for clock in quiet)
    if start < end:
        return end.astimezone(UTC) if start <= local < end else None
    if local >= start:
        return (end + timedelta(days=1)).astimezone(UTC)
    return end.astimezone(UTC) if local < end else None


def _at(day: datetime, clock: str) -> datetime:
    hours, minutes = (int(part) for part in clock.split(":"))
    return day.replace(hour=hours, minute=minutes, second=0, microsecond=0)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def plan(
    alerts: Sequence[Located],
    recipients: Callable[[AlertEvent], Sequence[Recipient]],
    routed: Iterable[Mark],
    now: datetime,
) -> list[Routed]:
    """The notifications ``alerts`` call for, given what was routed before (``routed``)."""
    histories = _histories(routed)
    groups: dict[tuple[int, str, float | None], list[tuple[Item, Mark]]] = {}
    by_id: dict[int, Recipient] = {}
    for located in alerts:
        event = located.event
        for recipient in recipients(event):
            if not recipient.wants(event):
                continue
            held = None if _urgent(event) else quiet_until(now, recipient.quiet)
            due = (held or _aware(now)).timestamp()
            history = histories.get((recipient.subscription_id, event.key), _History())
            mark = _mark(event, recipient, history, due)
            if mark is None:
                continue
            group = (recipient.subscription_id, located.farm_name, _epoch(held))
            item = Item(event, located.place, repeat=mark.round > 0)
            groups.setdefault(group, []).append((item, mark))
            by_id[recipient.subscription_id] = recipient
    return [
        _notification(by_id[sub], farm, not_before, members)
        for (sub, farm, not_before), members in groups.items()
    ]


def _mark(event: AlertEvent, recipient: Recipient, history: _History, due: float) -> Mark | None:
    """The next message of ``event`` for ``recipient``, or None when none is due: "resolved"
    once and only after a "firing"; "firing" first, then once per repeat interval."""
    sub = recipient.subscription_id
    if event.state is AlertState.RESOLVED:
        if history.rounds == 0 or history.resolved:
            return None
        return Mark(sub, event.key, "resolved", 0, due)
    if history.resolved or due < history.last_due + recipient.repeat_interval_s:
        return None
    return Mark(sub, event.key, "firing", history.rounds, due)


def _urgent(event: AlertEvent) -> bool:
    return event.state is AlertState.FIRING and event.severity is Severity.CRITICAL


def _epoch(at: datetime | None) -> float | None:
    return None if at is None else at.timestamp()


def _notification(
    recipient: Recipient,
    farm: str,
    not_before: float | None,
    members: Sequence[tuple[Item, Mark]],
) -> Routed:
    items = [item for item, _ in members]
    marks = tuple(mark for _, mark in members)
    rendered = render_group(items, farm, recipient.language)
    first = items[0].event
    return Routed(
        Notification(
            key=notification_key(marks),
            channel=recipient.channel,
            address=recipient.address,
            text=rendered.text,
            title=rendered.title,
            critical=any(_urgent(i.event) for i in items),
            cooperative_id=recipient.cooperative_id,
            farm_id=first.farm_id if all(i.event.farm_id == first.farm_id for i in items) else None,
            not_before=not_before,
        ),
        marks,
    )


def notification_key(marks: Sequence[Mark]) -> str:
    """The outbox's idempotency key: readable for one alert, a digest of the set for a group.
    The same marks give the same key, so offering a group again after a crash (before the
    marks were recorded) is refused by the outbox."""
    if len(marks) == 1:
        m = marks[0]
        return f"{m.alert_key}:{m.state}:{m.round}:s{m.subscription_id}"
    joined = "|".join(sorted(f"{m.alert_key}:{m.state}:{m.round}" for m in marks))
    digest = hashlib.sha256(joined.encode()).hexdigest()[:24]
    return f"group:{digest}:s{marks[0].subscription_id}"
