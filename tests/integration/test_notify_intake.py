"""The alert engine's alerts in the registry (SQLite and PostgreSQL) reach the outbox as the
right messages, once, and "resolved" follows when they are acknowledged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from notify.dispatch import poll_once
from notify.notification import Channel, Notification
from tests.integration.notify_world import (
    FARMER_LINE,
    OFFICER_MAIL,
    OutboxDouble,
    acknowledge,
    raise_alert,
    registry,
    subscribe_farmer_and_officer,
    utc,
)

DRY = "soil at 30 cm is 7.2% VWC, below 8% for loamy_sand"
HOT = "barn THI is 84 (danger from 79)"
AFTERNOON = utc(2026, 12, 3, 7, 5)  # 14:05 Thai time
NIGHT = utc(2026, 12, 3, 16, 30)  # 23:30 Thai time


@pytest.fixture(params=["sqlite_registry", "postgres_registry"])
def sessions(request: pytest.FixtureRequest) -> sessionmaker[Session]:
    made = registry(request.getfixturevalue(request.param))
    subscribe_farmer_and_officer(made)
    return made


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[OutboxDouble]:
    kept = OutboxDouble(tmp_path)
    yield kept
    kept.close()


def test_a_raised_alert_reaches_the_farmer_in_thai_and_the_officer_in_english_once(
    sessions: sessionmaker[Session], outbox: OutboxDouble
) -> None:
    alert_id = raise_alert(sessions, "soil_dry", "korat-001-f1", DRY, AFTERNOON)
    poll_once(sessions, outbox, AFTERNOON + timedelta(seconds=30))
    [farmer] = outbox.to(FARMER_LINE)
    assert (farmer.channel, farmer.critical, farmer.not_before) == (Channel.LINE, False, None)
    assert (farmer.cooperative_id, farmer.farm_id) == ("korat", "korat-001")
    assert farmer.text == (
        "⚠️ ดินแห้ง\n"
        "แปลง: ไร่หนองบัว (ฟาร์มลุงสมชาย)\n"
        "ความชื้นดินลึก 30 ซม.: 7.2% (ต่ำกว่าเกณฑ์ 8%)\n"
        "ตั้งแต่: 3 ธ.ค. 14:05 น.\n"
        "ควรทำ: ให้น้ำแปลงนี้โดยเร็ว"
    )
    [officer] = outbox.to(OFFICER_MAIL)
    assert officer.channel is Channel.EMAIL
    assert officer.title == "Soil dry: ไร่หนองบัว"
    assert officer.text.startswith("⚠️ Soil dry\nField: ไร่หนองบัว (ฟาร์มลุงสมชาย)\n")

    # Looked at again (the next poll, or after a restart): nothing new is offered.
    offers = outbox.offers
    assert poll_once(sessions, outbox, AFTERNOON + timedelta(minutes=10)) == []
    assert outbox.offers == offers

    acknowledge(sessions, alert_id, AFTERNOON + timedelta(hours=2))
    poll_once(sessions, outbox, AFTERNOON + timedelta(hours=2, minutes=1))
    resolved = outbox.to(FARMER_LINE)[1]
    assert resolved.text == (
        "✅ กลับมาปกติแล้ว: ดินแห้ง\n"
        "แปลง: ไร่หนองบัว (ฟาร์มลุงสมชาย)\n"
        "ปกติเมื่อ 3 ธ.ค. 16:05 น. (เตือนตั้งแต่ 3 ธ.ค. 14:05 น.)"
    )
    assert len(outbox.kept) == 4
    assert poll_once(sessions, outbox, AFTERNOON + timedelta(hours=3)) == []


def test_several_alerts_of_one_farm_at_once_are_one_message(
    sessions: sessionmaker[Session], outbox: OutboxDouble
) -> None:
    raise_alert(sessions, "soil_dry", "korat-001-f1", DRY, AFTERNOON)
    raise_alert(sessions, "soil_dry", "korat-001-f2", DRY, AFTERNOON)
    raise_alert(sessions, "heat_stress", "korat-001-h1", HOT, AFTERNOON)
    poll_once(sessions, outbox, AFTERNOON + timedelta(seconds=30))
    [farmer] = outbox.to(FARMER_LINE)
    assert farmer.title == "ฟาร์มลุงสมชาย: แจ้งเตือน 3 เรื่อง"
    assert farmer.critical
    assert farmer.text.startswith("🔴 ฟาร์มลุงสมชาย: แจ้งเตือน 3 เรื่อง\n\n1) ⚠️ ดินแห้ง\nแปลง: ไร่หนองบัว\n")
    assert "\n\n2) ⚠️ ดินแห้ง\nแปลง: ไร่โคกกลาง\n" in farmer.text
    assert "\n\n3) 🔴 วัวเครียดเพราะอากาศร้อน\nคอก: คอกวากิว 1\n" in farmer.text


def test_quiet_hours_hold_back_a_warning_and_let_a_critical_alert_through(
    sessions: sessionmaker[Session], outbox: OutboxDouble
) -> None:
    raise_alert(sessions, "soil_dry", "korat-001-f1", DRY, NIGHT)
    raise_alert(sessions, "heat_stress", "korat-001-h1", HOT, NIGHT)
    poll_once(sessions, outbox, NIGHT + timedelta(seconds=30))
    by_title = {n.title: n for n in outbox.to(FARMER_LINE)}
    held = by_title["ดินแห้ง: ไร่หนองบัว"]
    urgent = by_title["วัวเครียดเพราะอากาศร้อน: คอกวากิว 1"]
    assert held.not_before == utc(2026, 12, 3, 23, 0).timestamp()  # 06:00 Thai time
    assert (urgent.not_before, urgent.critical) == (None, True)
    # The officer's subscription has no quiet hours: both at once, in one message.
    [officer] = outbox.to(OFFICER_MAIL)
    assert officer.not_before is None


def test_a_still_firing_alert_is_sent_again_after_the_repeat_interval(
    sessions: sessionmaker[Session], outbox: OutboxDouble
) -> None:
    raise_alert(sessions, "soil_dry", "korat-001-f1", DRY, AFTERNOON)
    poll_once(sessions, outbox, AFTERNOON + timedelta(minutes=1))
    assert poll_once(sessions, outbox, AFTERNOON + timedelta(hours=5, minutes=59)) == []
    poll_once(sessions, outbox, AFTERNOON + timedelta(hours=6, minutes=1))
    first, again = outbox.to(FARMER_LINE)
    assert again.text.startswith("⚠️ ดินแห้ง (ยังไม่หาย)\n")
    assert again.key != first.key


class _CrashAfterPut(OutboxDouble):
    """Keeps the first notification, then fails as a process killed right after the outbox
    accepted it would: before routing recorded what it carried."""

    def put(self, notification: Notification) -> bool:
        accepted = super().put(notification)
        if self.offers == 1:
            raise RuntimeError("killed after the outbox accepted it")
        return accepted


def test_a_crash_between_the_outbox_and_the_record_sends_nothing_twice(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    outbox = _CrashAfterPut(tmp_path)
    raise_alert(sessions, "soil_dry", "korat-001-f1", DRY, AFTERNOON)
    raise_alert(sessions, "soil_dry", "korat-001-f2", DRY, AFTERNOON)
    with pytest.raises(RuntimeError):
        poll_once(sessions, outbox, AFTERNOON + timedelta(minutes=1))
    poll_once(sessions, outbox, AFTERNOON + timedelta(minutes=2))
    assert len(outbox.to(FARMER_LINE)) == 1
    assert outbox.offers == 3  # the farmer's group twice (refused the second time), the officer's
