"""Routing: kinds, repeats (never more often than the interval, quiet hours included), quiet
hours (Thai time), "resolved" only after "firing", grouping per farm, and keys that make a
second look send nothing twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from notify.alert import AlertEvent, AlertState, Severity
from notify.messages import Place
from notify.notification import Channel
from notify.routing import Located, Mark, Recipient, Routed, plan, quiet_until

# 14:05 Thai time (07:05 UTC): outside 21:00-06:00.
DAY = datetime(2026, 12, 3, 7, 5, tzinfo=UTC)
# 23:30 Thai time: inside.
NIGHT = datetime(2026, 12, 3, 16, 30, tzinfo=UTC)
FARMER = Recipient(
    subscription_id=1,
    cooperative_id="korat",
    farm_id="korat-001",
    channel=Channel.LINE,
    address="U" + "a" * 32,
    language="th",
    kinds=frozenset(),
    quiet=("21:00", "06:00"),
    repeat_interval_s=6 * 3600,
)


def _alert(
    key: str,
    subject: str = "f1",
    kind: str = "soil_dry",
    since: datetime = DAY,
    state: AlertState = AlertState.FIRING,
    severity: Severity = Severity.WARNING,
) -> Located:
    event = AlertEvent(
        key,
        state,
        kind,
        "korat",
        "korat-001",
        subject,
        since,
        severity,
        {"value": 7.2, "threshold": 8.0},
    )
    return Located(event, Place("field", subject, "ฟาร์มลุงสมชาย"), "ฟาร์มลุงสมชาย")


def _plan(
    alerts: Sequence[Located],
    now: datetime,
    routed: set[Mark] | None = None,
    recipients: Sequence[Recipient] = (FARMER,),
) -> list[Routed]:
    return plan(alerts, lambda e: list(recipients), routed or set(), now)


def test_a_firing_alert_becomes_one_notification_with_a_readable_key() -> None:
    [routed] = _plan([_alert("registry:7")], DAY + timedelta(minutes=1))
    n = routed.notification
    assert (n.key, n.channel, n.address, n.critical, n.not_before) == (
        "registry:7:firing:0:s1",
        Channel.LINE,
        FARMER.address,
        False,
        None,
    )
    assert n.text.startswith("⚠️ ดินแห้ง\nแปลง: f1 (ฟาร์มลุงสมชาย)\n")
    now = DAY + timedelta(minutes=1)
    assert routed.marks == (Mark(1, "registry:7", "firing", 0, now.timestamp()),)


def test_what_was_routed_is_not_routed_again() -> None:
    marks = {Mark(1, "registry:7", "firing", 0, DAY.timestamp())}
    assert _plan([_alert("registry:7")], DAY + timedelta(hours=5), marks) == []


def test_a_still_firing_alert_repeats_after_the_interval_and_never_sooner() -> None:
    sent = DAY - timedelta(hours=3)  # 11:05 Thai time: the repeat falls at 17:05
    marks = {Mark(1, "registry:7", "firing", 0, sent.timestamp())}
    assert _plan([_alert("registry:7")], sent + timedelta(hours=5, minutes=59), marks) == []
    [again] = _plan([_alert("registry:7")], sent + timedelta(hours=6), marks)
    assert again.marks == (
        Mark(1, "registry:7", "firing", 1, (sent + timedelta(hours=6)).timestamp()),
    )
    assert again.notification.text.startswith("⚠️ ดินแห้ง (ยังไม่หาย)\n")


def test_a_repeat_held_by_quiet_hours_counts_from_when_it_is_delivered() -> None:
    """Sent at 20:00; the repeat falls due at 02:00, waits for 06:00; the next is due at 12:00,
    not at 08:00 (which would be two hours after the last one the farmer read)."""
    eight_pm = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)
    six_am = datetime(2026, 12, 3, 23, 0, tzinfo=UTC)
    first = Mark(1, "registry:7", "firing", 0, eight_pm.timestamp())
    [held] = _plan([_alert("registry:7")], eight_pm + timedelta(hours=6), {first})
    assert held.notification.not_before == six_am.timestamp()
    assert held.marks[0].deliver_at == six_am.timestamp()
    # Polled again at 03:00 and at 06:30: the held repeat is already there.
    both = {first, *held.marks}
    assert _plan([_alert("registry:7")], eight_pm + timedelta(hours=7), both) == []
    assert _plan([_alert("registry:7")], six_am + timedelta(hours=2), both) == []
    [next_one] = _plan([_alert("registry:7")], six_am + timedelta(hours=6), both)
    assert next_one.marks[0].round == 2


def test_quiet_hours_hold_a_warning_until_their_end_and_let_a_critical_alert_through() -> None:
    warning = _alert("registry:1", since=NIGHT)
    critical = _alert("registry:2", "h1", "heat_stress", NIGHT, severity=Severity.CRITICAL)
    held, urgent = _plan([warning, critical], NIGHT)
    six_am = datetime(2026, 12, 3, 23, 0, tzinfo=UTC)  # 06:00 on the 4th, Thai time
    assert (held.notification.not_before, held.notification.critical) == (six_am.timestamp(), False)
    assert (urgent.notification.not_before, urgent.notification.critical) == (None, True)


def test_quiet_hours_over_midnight_and_within_a_day() -> None:
    span = ("21:00", "06:00")
    assert quiet_until(DAY, span) is None
    assert quiet_until(datetime(2026, 12, 3, 22, 0, tzinfo=UTC), span) == datetime(
        2026, 12, 3, 23, 0, tzinfo=UTC
    )  # 05:00 Thai: until 06:00 the same morning
    assert quiet_until(datetime(2026, 12, 3, 23, 0, tzinfo=UTC), span) is None  # 06:00 sharp
    lunch = ("12:00", "13:00")
    assert quiet_until(datetime(2026, 12, 3, 5, 30, tzinfo=UTC), lunch) == datetime(
        2026, 12, 3, 6, 0, tzinfo=UTC
    )
    assert quiet_until(DAY, None) is None


def test_resolved_goes_only_to_who_was_told_it_was_firing_and_only_once() -> None:
    cleared = _alert("registry:7", state=AlertState.RESOLVED)
    assert _plan([cleared], DAY) == []
    told = {Mark(1, "registry:7", "firing", 0, DAY.timestamp())}
    [routed] = _plan([cleared], DAY + timedelta(hours=1), told)
    assert routed.notification.key == "registry:7:resolved:0:s1"
    assert routed.notification.text.startswith("✅ กลับมาปกติแล้ว: ดินแห้ง\n")
    assert _plan([cleared], DAY + timedelta(hours=2), told | set(routed.marks)) == []
    # And a firing look at the same alert after it was resolved sends nothing either.
    assert _plan([_alert("registry:7")], DAY + timedelta(days=1), told | set(routed.marks)) == []


def test_several_fields_of_one_farm_at_once_make_one_message_per_subscriber() -> None:
    alerts = [_alert("registry:1", "f1"), _alert("registry:2", "f2"), _alert("registry:3", "f3")]
    officer = replace(FARMER, subscription_id=2, language="en")
    farmer_msg, officer_msg = _plan(alerts, DAY, recipients=(FARMER, officer))
    assert len(farmer_msg.marks) == 3
    assert farmer_msg.notification.title == "ฟาร์มลุงสมชาย: แจ้งเตือน 3 เรื่อง"
    assert officer_msg.notification.title == "ฟาร์มลุงสมชาย: 3 alerts"
    assert farmer_msg.notification.key.startswith("group:")
    # The same group offered again (a crash before the marks were recorded) has the same key.
    [again, _] = _plan(list(reversed(alerts)), DAY, recipients=(FARMER, officer))
    assert again.notification.key == farmer_msg.notification.key


def test_a_subscription_gets_only_the_kinds_it_names() -> None:
    barns_only = replace(FARMER, kinds=frozenset({"heat_stress"}))
    assert _plan([_alert("registry:1")], DAY, recipients=(barns_only,)) == []
