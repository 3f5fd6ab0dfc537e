"""A small registry for the notifier's integration tests: one cooperative, one farm with two
fields and a barn, a LINE subscriber (Thai) and an e-mail one (English), and an outbox that
records what it accepted: the real ``notify.outbox.NotificationOutbox`` where it exists, else
a double idempotent by key as that outbox promises to be (the outbox is built on another
branch, issue 18's delivery side)."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from notify.notification import Notification
from registry import models
from registry import subscriptions as subs
from registry.db import make_engine, migrate, session_factory

COOP = "korat"
FARM = "korat-001"
FARMER_LINE = "U" + "4f" * 16
OFFICER_MAIL = "officer@coop.example"


class _KeyedDouble:
    """Idempotent by key, like the real outbox: a second offer of a key is refused."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    def put(self, notification: Notification) -> bool:
        if notification.key in self.keys:
            return False
        self.keys.add(notification.key)
        return True

    def close(self) -> None:
        pass


class OutboxDouble:
    """Offers go to the real outbox (in ``directory``) when it exists, else to the double;
    what it accepted is kept here for the test to read."""

    def __init__(self, directory: Path | None = None) -> None:
        self.inner: Any = _KeyedDouble()
        if directory is not None:
            try:
                real = importlib.import_module("notify.outbox")
            except ImportError:
                pass
            else:
                self.inner = real.NotificationOutbox(directory / "notify-outbox.sqlite3")
        self.kept: dict[str, Notification] = {}
        self.offers = 0

    def put(self, notification: Notification) -> bool:
        self.offers += 1
        accepted = bool(self.inner.put(notification))
        if accepted:
            self.kept[notification.key] = notification
        return accepted

    def close(self) -> None:
        self.inner.close()

    def to(self, address: str) -> list[Notification]:
        return [n for n in self.kept.values() if n.address == address]


def registry(url: str) -> sessionmaker[Session]:
    engine = make_engine(url)
    migrate(engine)
    sessions = session_factory(engine)
    with sessions() as session, session.begin():
        session.add(
            models.Cooperative(id=COOP, name="สหกรณ์การเกษตรโนนสูง", province="Nakhon Ratchasima")
        )
        session.flush()
        session.add(
            models.Farm(id=FARM, cooperative_id=COOP, name="ฟาร์มลุงสมชาย", district="Non Sung")
        )
        session.flush()
        for field_id, name in (("korat-001-f1", "ไร่หนองบัว"), ("korat-001-f2", "ไร่โคกกลาง")):
            session.add(
                models.Field(
                    id=field_id,
                    farm_id=FARM,
                    cooperative_id=COOP,
                    name=name,
                    area_rai=12.0,
                    variety="Kasetsart 50",
                    planting_date=date(2026, 5, 1),
                    soil="loamy_sand",
                )
            )
        session.add(
            models.Herd(id="korat-001-h1", farm_id=FARM, cooperative_id=COOP, name="คอกวากิว 1")
        )
        session.flush()
    return sessions


def subscribe_farmer_and_officer(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        subs.create(
            session,
            subs.SubscriptionSpec(None, FARM, "line", FARMER_LINE, "ลุงสมชาย"),
        )
        subs.create(
            session,
            subs.SubscriptionSpec(
                COOP, None, "email", OFFICER_MAIL, "officer", language="en", quiet=None
            ),
        )


def raise_alert(
    sessions: sessionmaker[Session],
    kind: str,
    subject: str,
    message: str,
    at: datetime,
    farm_id: str | None = FARM,
) -> int:
    """As ``api.alerts.evaluate`` does: one open row."""
    with sessions() as session, session.begin():
        alert = models.Alert(
            cooperative_id=COOP,
            farm_id=farm_id,
            kind=kind,
            subject=subject,
            message=message,
            raised_at=at,
        )
        session.add(alert)
        session.flush()
        return alert.id


def acknowledge(sessions: sessionmaker[Session], alert_id: int, at: datetime) -> None:
    with sessions() as session, session.begin():
        alert = session.get(models.Alert, alert_id)
        assert alert is not None
        alert.acknowledged_at, alert.acknowledged_by = at, "ลุงสมชาย"


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)
