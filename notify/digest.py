"""Digest mode: when LINE's monthly quota runs low, warnings to one person go as one message.

Each LINE push costs a message of the Official Account's monthly allowance, and a farm whose
soil dries in six fields at once would spend six. In digest mode a warning waits up to the
digest window for others to the same address; then all that waited go as one message that
lists their titles. Critical notifications never wait and are never folded. E-mail costs no
quota and is never folded. A notification that was already attempted is never folded either:
LINE may hold it under its retry key, and a digest is a new message (it would arrive twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from notify.line import MAX_TEXT_CHARS
from notify.notification import Channel, Notification
from notify.outbox import OutboxEntry

#: Thai script (U+0E00..U+0E7F): a digest of Thai titles gets a Thai heading.
_THAI = range(0x0E00, 0x0E80)


@dataclass(frozen=True, slots=True)
class Send:
    entry: OutboxEntry


@dataclass(frozen=True, slots=True)
class Fold:
    entries: tuple[OutboxEntry, ...]
    digest: Notification


Step = Send | Fold


def foldable(entry: OutboxEntry) -> bool:
    n = entry.notification
    return n.channel is Channel.LINE and not n.critical and entry.attempts == 0


def plan(
    entries: Sequence[OutboxEntry], digest_mode: bool, now: float, window_s: float
) -> list[Step]:
    """What to do with the due ``entries`` (oldest first) this round. Outside digest mode,
    send each. In it, foldable ones are grouped by address; a group goes once its oldest has
    waited ``window_s`` since it could first go: alone if it is one, else as a digest. Groups
    still waiting are left out (they stay pending)."""
    if not digest_mode:
        return [Send(entry) for entry in entries]
    groups: dict[str, list[OutboxEntry]] = {}
    for entry in entries:
        if foldable(entry):
            groups.setdefault(entry.notification.address, []).append(entry)
    steps: list[Step] = []
    for entry in entries:
        if not foldable(entry):
            steps.append(Send(entry))
            continue
        group = groups[entry.notification.address]
        if group[0] is not entry or min(e.eligible_at for e in group) + window_s > now:
            continue
        steps.append(Send(entry) if len(group) == 1 else Fold(tuple(group), digest_of(group)))
    return steps


def digest_of(group: Sequence[OutboxEntry]) -> Notification:
    """One notification carrying the titles of ``group`` (same address, oldest first)."""
    first = group[0].notification
    farms = {e.notification.farm_id for e in group}
    return Notification(
        key=f"digest:{group[0].id}-{group[-1].id}:{len(group)}",
        channel=first.channel,
        address=first.address,
        text=digest_text([e.notification.title for e in group]),
        title=digest_heading(len(group), thai=_is_thai(first.title)),
        critical=False,
        cooperative_id=first.cooperative_id,
        farm_id=first.farm_id if len(farms) == 1 else None,
    )


def digest_heading(count: int, thai: bool) -> str:
    if thai:
        return f"สรุปการแจ้งเตือน {count} รายการ"
    return f"{count} alerts in one message"


def digest_text(titles: Sequence[str]) -> str:
    """The heading, a note on why, and one line per title, within LINE's text limit."""
    thai = any(_is_thai(title) for title in titles)
    why = (
        "(ส่งรวมเป็นข้อความเดียว เพราะโควตาข้อความ LINE ของเดือนนี้ใกล้หมด)"
        if thai
        else "(sent together: this month's LINE message quota is running low)"
    )
    head = f"{digest_heading(len(titles), thai)}\n{why}"
    lines = [f"• {title}" for title in titles]
    while lines:
        more = len(titles) - len(lines)
        tail = [f"… +{more}"] if more else []
        text = "\n".join([head, *lines, *tail])
        if len(text) <= MAX_TEXT_CHARS:
            return text
        lines.pop()
    return f"{head}\n… +{len(titles)}"


def _is_thai(text: str) -> bool:
    return any(ord(char) in _THAI for char in text)
