"""The exact texts a farmer (or the cooperative's staff) reads, for each kind, in Thai and in
English: what, where, measured against what, since when (Thai time), what to do."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notify.alert import AlertEvent, AlertState, Severity
from notify.intake import values_from_message
from notify.messages import Item, Place, local_time, render, render_group

SINCE = datetime(2026, 12, 3, 7, 5, tzinfo=UTC)  # 14:05 in Thailand
FARM = "ฟาร์มลุงสมชาย"
FIELD = Place("field", "ไร่หนองบัว", FARM)
BARN = Place("barn", "คอกวากิว 1", FARM)
DEVICE = Place("device", "korat-001-n3", FARM, site="ไร่หนองบัว")


def _event(kind: str, message: str, severity: Severity = Severity.WARNING) -> AlertEvent:
    values = values_from_message(kind, message)
    return AlertEvent(
        "registry:1",
        AlertState.FIRING,
        kind,
        "korat",
        "korat-001",
        "s",
        SINCE,
        severity,
        values,
        message,
    )


CASES = [
    (
        _event("soil_dry", "soil at 30 cm is 7.2% VWC, below 8% for loamy_sand"),
        FIELD,
        "⚠️ ดินแห้ง\n"
        "แปลง: ไร่หนองบัว (ฟาร์มลุงสมชาย)\n"
        "ความชื้นดินลึก 30 ซม.: 7.2% (ต่ำกว่าเกณฑ์ 8%)\n"
        "ตั้งแต่: 3 ธ.ค. 14:05 น.\n"
        "ควรทำ: ให้น้ำแปลงนี้โดยเร็ว",
        "⚠️ Soil dry\n"
        "Field: ไร่หนองบัว (ฟาร์มลุงสมชาย)\n"
        "Soil moisture at 30 cm: 7.2% (below the threshold of 8%)\n"
        "Since: 3 Dec 14:05\n"
        "What to do: irrigate this field soon",
    ),
    (
        _event("heat_stress", "barn THI is 84 (danger from 79)", Severity.CRITICAL),
        BARN,
        "🔴 วัวเครียดเพราะอากาศร้อน\n"
        "คอก: คอกวากิว 1 (ฟาร์มลุงสมชาย)\n"
        "ค่าร้อนชื้น (THI): 84 (อันตรายตั้งแต่ 79 ขึ้นไป)\n"
        "ตั้งแต่: 3 ธ.ค. 14:05 น.\n"
        "ควรทำ: ทำร่มเงา เปิดพัดลม ฉีดน้ำให้คอกเย็นลง และให้วัวมีน้ำกินตลอด",
        "🔴 Heat stress in the barn\n"
        "Barn: คอกวากิว 1 (ฟาร์มลุงสมชาย)\n"
        "Temperature-humidity index (THI): 84 (danger from 79)\n"
        "Since: 3 Dec 14:05\n"
        "What to do: shade the barn, run the fans, spray water to cool it, keep water in the "
        "troughs",
    ),
    (
        _event("device_offline", "device korat-001-n3 has not been heard from in 1 h"),
        DEVICE,
        "⚠️ อุปกรณ์ไม่ส่งข้อมูล\n"
        "อุปกรณ์: korat-001-n3 ที่ ไร่หนองบัว (ฟาร์มลุงสมชาย)\n"
        "ไม่ได้รับข้อมูลนานเกิน 1 ชม.\n"
        "ตั้งแต่: 3 ธ.ค. 14:05 น.\n"
        "ควรทำ: ดูว่าไฟเข้ากล่องเกตเวย์ไหม สายหลุดไหม และสัญญาณเน็ตยังมีไหม",
        "⚠️ Device not reporting\n"
        "Device: korat-001-n3 at ไร่หนองบัว (ฟาร์มลุงสมชาย)\n"
        "No reading for more than 1 h\n"
        "Since: 3 Dec 14:05\n"
        "What to do: check the gateway's power, its cables and its network link",
    ),
    (
        _event("device_offline", "device korat-001-n3 went offline"),
        DEVICE,
        "⚠️ อุปกรณ์ไม่ส่งข้อมูล\n"
        "อุปกรณ์: korat-001-n3 ที่ ไร่หนองบัว (ฟาร์มลุงสมชาย)\n"
        "อุปกรณ์แจ้งว่าหลุดการเชื่อมต่อ\n"
        "ตั้งแต่: 3 ธ.ค. 14:05 น.\n"
        "ควรทำ: ดูว่าไฟเข้ากล่องเกตเวย์ไหม สายหลุดไหม และสัญญาณเน็ตยังมีไหม",
        "⚠️ Device not reporting\n"
        "Device: korat-001-n3 at ไร่หนองบัว (ฟาร์มลุงสมชาย)\n"
        "The device reported itself offline\n"
        "Since: 3 Dec 14:05\n"
        "What to do: check the gateway's power, its cables and its network link",
    ),
    (
        _event("ingest_rejects", "12 messages from farm korat-001 were rejected in the last hour"),
        Place("farm", FARM),
        "⚠️ ข้อมูลจากฟาร์มถูกปฏิเสธ\n"
        "ฟาร์ม: ฟาร์มลุงสมชาย\n"
        "ข้อมูลถูกปฏิเสธ 12 ข้อความ ในชั่วโมงที่ผ่านมา\n"
        "ตั้งแต่: 3 ธ.ค. 14:05 น.\n"
        "ควรทำ: แจ้งเจ้าหน้าที่สหกรณ์ให้ตรวจการตั้งค่าอุปกรณ์",
        "⚠️ Farm data rejected\n"
        "Farm: ฟาร์มลุงสมชาย\n"
        "12 messages were rejected in the last hour\n"
        "Since: 3 Dec 14:05\n"
        "What to do: ask the cooperative's staff to check the devices' settings",
    ),
    (
        _event(
            "forecast_coverage",
            "forecast yield intervals covered 5 of 12 recent harvests (stated 80%): treat this "
            "cooperative's forecast ranges as too narrow until `isanfarm calibrate` is run",
        ),
        Place("cooperative", "สหกรณ์การเกษตรโนนสูง"),
        "⚠️ การคาดการณ์ผลผลิตคลาดเคลื่อน\n"
        "สหกรณ์: สหกรณ์การเกษตรโนนสูง\n"
        "ผลเก็บเกี่ยวจริงตกในช่วงที่คาดไว้ 5 จาก 12 ครั้งล่าสุด (ควรได้ราว 80%)\n"
        "ตั้งแต่: 3 ธ.ค. 14:05 น.\n"
        "ควรทำ: (เจ้าหน้าที่สหกรณ์) ปรับเทียบใหม่ด้วยคำสั่ง isanfarm calibrate",
        "⚠️ Yield forecasts off target\n"
        "Cooperative: สหกรณ์การเกษตรโนนสูง\n"
        "Recorded harvests inside the forecast range: 5 of the last 12 (80% expected)\n"
        "Since: 3 Dec 14:05\n"
        "What to do: (cooperative staff) recalibrate with isanfarm calibrate",
    ),
    (
        AlertEvent(
            "grafana:x:1",
            AlertState.FIRING,
            "forecast_stale",
            "korat",
            None,
            "korat",
            SINCE,
            values={"threshold": 36.0},
        ),
        Place("cooperative", "สหกรณ์การเกษตรโนนสูง"),
        "⚠️ การคาดการณ์ไม่อัปเดต\n"
        "สหกรณ์: สหกรณ์การเกษตรโนนสูง\n"
        "ไม่มีการคาดการณ์ใหม่เกิน 36 ชม.\n"
        "ตั้งแต่: 3 ธ.ค. 14:05 น.\n"
        "ควรทำ: (เจ้าหน้าที่สหกรณ์) ตรวจว่างานคาดการณ์ isanfarm forecast ยังทำงานอยู่",
        "⚠️ Forecasts not updated\n"
        "Cooperative: สหกรณ์การเกษตรโนนสูง\n"
        "No new forecast for over 36 h\n"
        "Since: 3 Dec 14:05\n"
        "What to do: (cooperative staff) check that the isanfarm forecast job runs",
    ),
]


@pytest.mark.parametrize(("event", "place", "thai", "english"), CASES)
def test_each_kind_renders_exactly_in_thai_and_english(
    event: AlertEvent, place: Place, thai: str, english: str
) -> None:
    assert render(event, place, "th").text == thai
    assert render(event, place, "en").text == english


def test_a_kind_without_a_template_still_says_what_where_and_since() -> None:
    event = AlertEvent(
        "grafana:f:1",
        AlertState.FIRING,
        "High CPU usage",
        "korat",
        "korat-001",
        "korat-001",
        SINCE,
        message="CPU above 90%",
    )
    assert render(event, Place("farm", FARM), "th").text == (
        "⚠️ แจ้งเตือน: High CPU usage\nฟาร์ม: ฟาร์มลุงสมชาย\nCPU above 90%\nตั้งแต่: 3 ธ.ค. 14:05 น."
    )


def test_resolved_says_when_it_cleared_and_since_when_it_was_on() -> None:
    resolved = AlertEvent(
        "registry:1",
        AlertState.RESOLVED,
        "soil_dry",
        "korat",
        "korat-001",
        "f",
        SINCE,
        values={"resolved_at": SINCE.timestamp() + 4 * 3600},
    )
    assert render(resolved, FIELD, "th").text == (
        "✅ กลับมาปกติแล้ว: ดินแห้ง\n"
        "แปลง: ไร่หนองบัว (ฟาร์มลุงสมชาย)\n"
        "ปกติเมื่อ 3 ธ.ค. 18:05 น. (เตือนตั้งแต่ 3 ธ.ค. 14:05 น.)"
    )
    assert render(resolved, FIELD, "en").text == (
        "✅ Back to normal: Soil dry\n"
        "Field: ไร่หนองบัว (ฟาร์มลุงสมชาย)\n"
        "Normal at 3 Dec 18:05 (alert since 3 Dec 14:05)"
    )
    assert render(resolved, FIELD, "th").title == "กลับมาปกติแล้ว - ดินแห้ง: ไร่หนองบัว"


def test_a_repeat_says_the_alert_is_still_on() -> None:
    text = render(CASES[0][0], FIELD, "th", repeat=True).text
    assert text.splitlines()[0] == "⚠️ ดินแห้ง (ยังไม่หาย)"
    assert render(CASES[0][0], FIELD, "en", repeat=True).text.startswith("⚠️ Soil dry (still on)")


def test_several_fields_of_one_farm_become_one_numbered_message() -> None:
    second = Place("field", "ไร่โคกกลาง", FARM)
    soil = CASES[0][0]
    rendered = render_group(
        [Item(soil, FIELD), Item(soil, second), Item(CASES[1][0], BARN)], FARM, "th"
    )
    assert rendered.title == "ฟาร์มลุงสมชาย: แจ้งเตือน 3 เรื่อง"
    assert rendered.text == (
        "🔴 ฟาร์มลุงสมชาย: แจ้งเตือน 3 เรื่อง\n\n"
        "1) ⚠️ ดินแห้ง\nแปลง: ไร่หนองบัว\nความชื้นดินลึก 30 ซม.: 7.2% (ต่ำกว่าเกณฑ์ 8%)\n"
        "ตั้งแต่: 3 ธ.ค. 14:05 น.\nควรทำ: ให้น้ำแปลงนี้โดยเร็ว\n\n"
        "2) ⚠️ ดินแห้ง\nแปลง: ไร่โคกกลาง\nความชื้นดินลึก 30 ซม.: 7.2% (ต่ำกว่าเกณฑ์ 8%)\n"
        "ตั้งแต่: 3 ธ.ค. 14:05 น.\nควรทำ: ให้น้ำแปลงนี้โดยเร็ว\n\n"
        "3) 🔴 วัวเครียดเพราะอากาศร้อน\nคอก: คอกวากิว 1\n"
        "ค่าร้อนชื้น (THI): 84 (อันตรายตั้งแต่ 79 ขึ้นไป)\nตั้งแต่: 3 ธ.ค. 14:05 น.\n"
        "ควรทำ: ทำร่มเงา เปิดพัดลม ฉีดน้ำให้คอกเย็นลง และให้วัวมีน้ำกินตลอด"
    )
    english = render_group([Item(soil, FIELD), Item(soil, second)], FARM, "en")
    assert english.text.startswith("📋 ฟาร์มลุงสมชาย: 2 alerts\n\n1) ⚠️ Soil dry\nField: ไร่หนองบัว\n")


def test_times_are_thai_local_across_midnight_and_the_year() -> None:
    assert local_time(datetime(2026, 12, 31, 17, 30, tzinfo=UTC), "th") == "1 ม.ค. 00:30 น."
    assert local_time(datetime(2026, 12, 31, 17, 30, tzinfo=UTC), "en") == "1 Jan 00:30"
