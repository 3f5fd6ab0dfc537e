"""The picture in docs/notify.md: a farmer's LINE chat with the Official Account, drawn from
the messages the notifier really renders (linking, an alert, several at once, resolved). With
``ISANFARM_NOTIFY_FIGURE_OUT=docs/img`` set it writes the committed PNG there."""

from __future__ import annotations

import os
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from matplotlib.text import Text

from notify.alert import AlertEvent, AlertState, Severity
from notify.intake import values_from_message
from notify.linking import LINKED, WELCOME
from notify.messages import Item, Place, render, render_group

FIGURE = "notify-line-chat.png"
SINCE = datetime(2026, 12, 3, 7, 5, tzinfo=UTC)  # 14:05 in Thailand
FARM = "ฟาร์มลุงสมชาย"
EMOJI = {"⚠️": "#e8a317", "🔴": "#d62728", "✅": "#2ca02c", "📋": "#1f77b4"}


def _event(kind: str, message: str, subject: str, severity: Severity) -> AlertEvent:
    values = values_from_message(kind, message)
    return AlertEvent(
        f"registry:{subject}",
        AlertState.FIRING,
        kind,
        "korat",
        "korat-001",
        subject,
        SINCE,
        severity,
        values,
        message,
    )


def conversation() -> list[tuple[str, str]]:
    """(who, text): ``farmer``, ``oa`` (the Official Account) or ``note``."""
    field = Place("field", "ไร่หนองบัว", FARM)
    dry = _event(
        "soil_dry", "soil at 30 cm is 7.2% VWC, below 8% for loamy_sand", "f1", Severity.WARNING
    )
    hot = _event("heat_stress", "barn THI is 84 (danger from 79)", "h1", Severity.CRITICAL)
    resolved = AlertEvent(
        dry.key,
        AlertState.RESOLVED,
        dry.kind,
        "korat",
        "korat-001",
        "f1",
        SINCE,
        values={"resolved_at": (SINCE + timedelta(hours=3)).timestamp()},
    )
    group = render_group(
        [
            Item(dry, field),
            Item(dry, Place("field", "ไร่โคกกลาง", FARM)),
            Item(hot, Place("barn", "คอกวากิว 1", FARM)),
        ],
        FARM,
        "th",
    )
    return [
        ("note", "ลุงสมชายเพิ่มเพื่อน LINE OA ของสหกรณ์"),
        ("oa", WELCOME.split("\nSend")[0]),
        ("farmer", "4071 8293"),
        ("oa", LINKED["th"].format(place=FARM)),
        ("note", "3 ธ.ค. 14:05 น.: ดินแห้ง"),
        ("oa", render(dry, field, "th").text),
        ("note", "17:05 น.: ฝนตก ดินกลับมาชื้น"),
        ("oa", render(resolved, field, "th").text),
        ("note", "อีกวัน: หลายแปลงพร้อมกัน รวมเป็นข้อความเดียว"),
        ("oa", group.text),
    ]


def _thai_font() -> str:
    for name in ("Loma", "Garuda", "Waree", "Tlwg Typo"):
        try:
            font_manager.findfont(name, fallback_to_default=False)
        except ValueError:
            continue
        return name
    raise AssertionError("no Thai font (fonts-thai-tlwg): install it to draw this figure")


#: Data units per inch, in both directions: the axes fill the figure, so a text's measured
#: extent converts to data units the same way whatever the figure's final height.
PER_INCH = 10.0
WIDTH_IN = 6.2


def draw(path: Path) -> None:
    plt.rcParams["font.family"] = _thai_font()
    fig = plt.figure(figsize=(WIDTH_IN, 60), dpi=110)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, WIDTH_IN * PER_INCH)
    ax.set_ylim(-60 * PER_INCH + 2, 2)
    ax.axis("off")
    fig.patch.set_facecolor("#8cabd9")  # LINE's chat background
    ax.text(
        WIDTH_IN * PER_INCH / 2,
        0,
        "สหกรณ์การเกษตรโนนสูง (LINE Official Account)",
        ha="center",
        va="top",
        fontsize=11,
        weight="bold",
        color="white",
    )
    y = -4.0
    for who, text in conversation():
        y = _bubble(fig, ax, who, text, y)
    ax.set_ylim(y - 1, 2)
    fig.set_figheight((3 - y) / PER_INCH)
    fig.savefig(path, facecolor=fig.get_facecolor())
    plt.close(fig)


def _extent(fig: Figure, artist: Text) -> tuple[float, float]:
    box = artist.get_window_extent(renderer=fig.canvas.get_renderer())  # type: ignore[attr-defined]
    return box.width / fig.dpi * PER_INCH, box.height / fig.dpi * PER_INCH


def _bubble(fig: Figure, ax: Axes, who: str, text: str, y: float) -> float:
    right = WIDTH_IN * PER_INCH
    if who == "note":
        note = ax.text(
            right / 2, y, text, ha="center", va="top", fontsize=8, color="white", style="italic"
        )
        return y - _extent(fig, note)[1] - 1.5
    marks = sorted((text.index(m), colour) for m, colour in EMOJI.items() if m in text)
    for mark in EMOJI:
        text = text.replace(mark + " ", "").replace(mark, "")
    wrapped = "\n".join(textwrap.fill(line, 52) if line else "" for line in text.split("\n"))
    farmer = who == "farmer"
    label = ax.text(
        0,
        y,
        wrapped,
        va="top",
        fontsize=8.5,
        linespacing=1.3,
        zorder=3,
        color="white" if farmer else "#111111",
    )
    width, height = _extent(fig, label)
    x = right - width - 3 if farmer else 3
    label.set_x(x)
    colour = marks[0][1] if marks else None
    face = "#06c755" if farmer else "white"
    ax.add_patch(
        FancyBboxPatch(
            (x, y - height),
            width,
            height,
            boxstyle="round,pad=1.0,rounding_size=1.5",
            facecolor=face,
            edgecolor=colour or face,
            linewidth=2.5 if colour else 0,
            zorder=2,
        )
    )
    return y - height - 3.5


def test_the_docs_chat_figure_is_drawn_from_the_rendered_messages(tmp_path: Path) -> None:
    out = Path(os.environ.get("ISANFARM_NOTIFY_FIGURE_OUT", tmp_path))
    draw(out / FIGURE)
    assert (out / FIGURE).stat().st_size > 20_000
    texts = "\n".join(text for _, text in conversation())
    assert "ควรทำ: ให้น้ำแปลงนี้โดยเร็ว" in texts
    assert "แจ้งเตือน 3 เรื่อง" in texts
