"""Alerts rendered as messages a farmer can act on, in Thai (the default) or English.

Each message says, in this order: what is wrong, where (the field's, barn's or device's name
from the registry, and the farm's), what was measured against which threshold, since when
(Thai local time), and what to do. The Thai is written the way an extension officer in Korat
would write to a farmer on LINE: short lines, plain words, no jargon the farmer has to look up.
Several alerts of one farm at once become one message with a numbered block each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from agronomy.units import THAI_TIMEZONE
from notify.alert import AlertEvent, AlertState, Severity
from registry.models import (
    DEVICE_OFFLINE,
    FORECAST_COVERAGE,
    HEAT_STRESS,
    INGEST_REJECTS,
    SOIL_DRY,
)
from registry.subscriptions import FORECAST_STALE

Values = dict[str, float | str]

_THAI_MONTHS = (
    "ม.ค.",
    "ก.พ.",
    "มี.ค.",
    "เม.ย.",
    "พ.ค.",
    "มิ.ย.",
    "ก.ค.",
    "ส.ค.",
    "ก.ย.",
    "ต.ค.",
    "พ.ย.",
    "ธ.ค.",
)
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

#: Where an alert is: what the subject is (its word in each language) and its names.
PLACE_WORDS = {
    "field": ("แปลง", "Field"),
    "barn": ("คอก", "Barn"),
    "device": ("อุปกรณ์", "Device"),
    "farm": ("ฟาร์ม", "Farm"),
    "cooperative": ("สหกรณ์", "Cooperative"),
}


@dataclass(frozen=True, slots=True)
class Place:
    """The subject of an alert by name (the registry's, else its id)."""

    kind: str  # one of PLACE_WORDS
    name: str
    #: The farm's name; None for a cooperative-wide alert or when the subject is the farm.
    farm: str | None = None
    #: For a device: the name of the field or barn it stands in.
    site: str | None = None


@dataclass(frozen=True, slots=True)
class Rendered:
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class _Template:
    """One kind's words: headline, the measured line (from the event's values, None when they
    are missing) and what to do; each a (Thai, English) pair."""

    headline: tuple[str, str]
    measured: Callable[[Values, int], str | None]
    action: tuple[str, str]


def local_time(at: datetime, language: str) -> str:
    """``3 ธ.ค. 14:05 น.`` or ``3 Dec 14:05``, Thai local time."""
    local = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(THAI_TIMEZONE)
    if language == "th":
        return f"{local.day} {_THAI_MONTHS[local.month - 1]} {local:%H:%M} น."
    return f"{local.day} {_EN_MONTHS[local.month - 1]} {local:%H:%M}"


def _number(value: float | str, digits: int) -> str:
    return f"{float(value):.{digits}f}" if isinstance(value, int | float) else str(value)


def _soil(values: Values, lang: int) -> str | None:
    if "value" not in values or "threshold" not in values:
        return None
    value, limit = _number(values["value"], 1), _number(values["threshold"], 0)
    return (
        f"ความชื้นดินลึก 30 ซม.: {value}% (ต่ำกว่าเกณฑ์ {limit}%)",
        f"Soil moisture at 30 cm: {value}% (below the threshold of {limit}%)",
    )[lang]


def _thi(values: Values, lang: int) -> str | None:
    if "value" not in values or "threshold" not in values:
        return None
    value, limit = _number(values["value"], 0), _number(values["threshold"], 0)
    return (
        f"ค่าร้อนชื้น (THI): {value} (อันตรายตั้งแต่ {limit} ขึ้นไป)",
        f"Temperature-humidity index (THI): {value} (danger from {limit})",
    )[lang]


def _silent(values: Values, lang: int) -> str | None:
    if "threshold" not in values:
        return ("อุปกรณ์แจ้งว่าหลุดการเชื่อมต่อ", "The device reported itself offline")[lang]
    hours = _number(values["threshold"], 0)
    return (f"ไม่ได้รับข้อมูลนานเกิน {hours} ชม.", f"No reading for more than {hours} h")[lang]


def _rejects(values: Values, lang: int) -> str | None:
    if "value" not in values:
        return None
    count = _number(values["value"], 0)
    return (
        f"ข้อมูลถูกปฏิเสธ {count} ข้อความ ในชั่วโมงที่ผ่านมา",
        f"{count} messages were rejected in the last hour",
    )[lang]


def _coverage(values: Values, lang: int) -> str | None:
    if "value" not in values or "threshold" not in values:
        return None
    covered, n = _number(values["value"], 0), _number(values["threshold"], 0)
    return (
        f"ผลเก็บเกี่ยวจริงตกในช่วงที่คาดไว้ {covered} จาก {n} ครั้งล่าสุด (ควรได้ราว 80%)",
        f"Recorded harvests inside the forecast range: {covered} of the last {n} (80% expected)",
    )[lang]


def _stale(values: Values, lang: int) -> str | None:
    if "threshold" not in values:
        return None
    hours = _number(values["threshold"], 0)
    return (f"ไม่มีการคาดการณ์ใหม่เกิน {hours} ชม.", f"No new forecast for over {hours} h")[lang]


TEMPLATES: dict[str, _Template] = {
    SOIL_DRY: _Template(
        ("ดินแห้ง", "Soil dry"),
        _soil,
        ("ให้น้ำแปลงนี้โดยเร็ว", "irrigate this field soon"),
    ),
    HEAT_STRESS: _Template(
        ("วัวเครียดเพราะอากาศร้อน", "Heat stress in the barn"),
        _thi,
        (
            "ทำร่มเงา เปิดพัดลม ฉีดน้ำให้คอกเย็นลง และให้วัวมีน้ำกินตลอด",
            "shade the barn, run the fans, spray water to cool it, keep water in the troughs",
        ),
    ),
    DEVICE_OFFLINE: _Template(
        ("อุปกรณ์ไม่ส่งข้อมูล", "Device not reporting"),
        _silent,
        (
            "ดูว่าไฟเข้ากล่องเกตเวย์ไหม สายหลุดไหม และสัญญาณเน็ตยังมีไหม",
            "check the gateway's power, its cables and its network link",
        ),
    ),
    INGEST_REJECTS: _Template(
        ("ข้อมูลจากฟาร์มถูกปฏิเสธ", "Farm data rejected"),
        _rejects,
        (
            "แจ้งเจ้าหน้าที่สหกรณ์ให้ตรวจการตั้งค่าอุปกรณ์",
            "ask the cooperative's staff to check the devices' settings",
        ),
    ),
    FORECAST_COVERAGE: _Template(
        ("การคาดการณ์ผลผลิตคลาดเคลื่อน", "Yield forecasts off target"),
        _coverage,
        (
            "(เจ้าหน้าที่สหกรณ์) ปรับเทียบใหม่ด้วยคำสั่ง isanfarm calibrate",
            "(cooperative staff) recalibrate with isanfarm calibrate",
        ),
    ),
    FORECAST_STALE: _Template(
        ("การคาดการณ์ไม่อัปเดต", "Forecasts not updated"),
        _stale,
        (
            "(เจ้าหน้าที่สหกรณ์) ตรวจว่างานคาดการณ์ isanfarm forecast ยังทำงานอยู่",
            "(cooperative staff) check that the isanfarm forecast job runs",
        ),
    ),
}


def _lang(language: str) -> int:
    return 0 if language == "th" else 1


def headline(event: AlertEvent, language: str) -> str:
    template = TEMPLATES.get(event.kind)
    if template is None:
        return ("แจ้งเตือน: ", "Alert: ")[_lang(language)] + event.kind
    return template.headline[_lang(language)]


def where(place: Place, language: str) -> str:
    lang = _lang(language)
    word = PLACE_WORDS.get(place.kind, PLACE_WORDS["farm"])[lang]
    line = f"{word}: {place.name}"
    if place.site is not None:
        line += (" ที่ ", " at ")[lang] + place.site
    return line + (f" ({place.farm})" if place.farm else "")


def _marker(event: AlertEvent) -> str:
    if event.state is AlertState.RESOLVED:
        return "✅"
    return "🔴" if event.severity is Severity.CRITICAL else "⚠️"


def block(event: AlertEvent, place: Place, language: str, repeat: bool = False) -> str:
    """The lines of one alert, without a title of the group it may be part of; ``repeat``
    marks a still-firing alert sent again."""
    lang = _lang(language)
    if event.state is AlertState.RESOLVED:
        return _resolved_block(event, place, language)
    template = TEMPLATES.get(event.kind)
    measured = template.measured(event.values, lang) if template else None
    still = (" (ยังไม่หาย)", " (still on)")[lang] if repeat else ""
    lines = [f"{_marker(event)} {headline(event, language)}{still}", where(place, language)]
    lines.append(measured if measured is not None else event.message)
    lines.append(("ตั้งแต่: ", "Since: ")[lang] + local_time(event.since, language))
    if template is not None:
        lines.append(("ควรทำ: ", "What to do: ")[lang] + template.action[lang])
    return "\n".join(line for line in lines if line)


def _resolved_block(event: AlertEvent, place: Place, language: str) -> str:
    lang = _lang(language)
    lines = [
        ("✅ กลับมาปกติแล้ว: ", "✅ Back to normal: ")[lang] + headline(event, language),
        where(place, language),
    ]
    since = local_time(event.since, language)
    resolved_at = event.values.get("resolved_at")
    if isinstance(resolved_at, int | float):
        at = local_time(datetime.fromtimestamp(resolved_at, UTC), language)
        lines.append(
            (f"ปกติเมื่อ {at} (เตือนตั้งแต่ {since})", f"Normal at {at} (alert since {since})")[lang]
        )
    else:
        lines.append((f"เตือนตั้งแต่ {since}", f"Alert since {since}")[lang])
    return "\n".join(lines)


def render(event: AlertEvent, place: Place, language: str, repeat: bool = False) -> Rendered:
    """One alert as one message."""
    title = f"{headline(event, language)}: {place.name}"
    if event.state is AlertState.RESOLVED:
        title = ("กลับมาปกติแล้ว - ", "Back to normal - ")[_lang(language)] + title
    return Rendered(title, block(event, place, language, repeat))


@dataclass(frozen=True, slots=True)
class Item:
    """One alert in a message, where it is, and whether it is a repeat of a firing one."""

    event: AlertEvent
    place: Place
    repeat: bool = False


def render_group(items: Sequence[Item], farm: str, language: str) -> Rendered:
    """Several alerts of one farm as one message: a heading with the farm's name and their
    count, then a numbered block each (without the farm's name again). One item is rendered
    as it would be alone."""
    if len(items) == 1:
        return render(items[0].event, items[0].place, language, items[0].repeat)
    lang = _lang(language)
    critical = any(
        i.event.severity is Severity.CRITICAL and i.event.state is AlertState.FIRING for i in items
    )
    title = (f"{farm}: แจ้งเตือน {len(items)} เรื่อง", f"{farm}: {len(items)} alerts")[lang]
    blocks = [
        f"{n}) {block(i.event, replace(i.place, farm=None), language, i.repeat)}"
        for n, i in enumerate(items, start=1)
    ]
    heading = f"{'🔴' if critical else '📋'} {title}"
    return Rendered(title, "\n\n".join([heading, *blocks]))
