"""``notify.service.run`` assembled for real (registry, poll, HTTP listener, stop), with the
delivery side's two classes replaced by stand-ins of their interface
(``NotificationOutbox(path)`` with ``put``/``close``, ``Deliverer(settings, outbox)`` with
``run(stop)``): what this test checks is the assembly, not delivery."""

from __future__ import annotations

import sys
import threading
import types
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from pydantic import SecretStr

from notify.notification import Notification
from notify.service import run
from notify.settings import LineSettings, NotifySettings
from tests.helpers import wait_for
from tests.integration.notify_world import (
    FARMER_LINE,
    raise_alert,
    registry,
    subscribe_farmer_and_officer,
)
from tooling.services import free_port


class _Outbox:
    instances: ClassVar[list[_Outbox]] = []

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kept: dict[str, Notification] = {}
        self.closed = False
        _Outbox.instances.append(self)

    def put(self, notification: Notification) -> bool:
        return self.kept.setdefault(notification.key, notification) is notification

    def close(self) -> None:
        self.closed = True


class _Deliverer:
    started: ClassVar[threading.Event] = threading.Event()

    def __init__(self, settings: NotifySettings, outbox: Any) -> None:
        self.outbox = outbox

    def run(self, stop: threading.Event) -> None:
        _Deliverer.started.set()
        stop.wait()


def test_the_service_polls_the_registry_into_the_outbox_serves_webhooks_and_stops(
    sqlite_registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, cls in (
        ("notify.outbox", ("NotificationOutbox", _Outbox)),
        ("notify.delivery", ("Deliverer", _Deliverer)),
    ):
        module = types.ModuleType(name)
        setattr(module, *cls)
        monkeypatch.setitem(sys.modules, name, module)
    sessions = registry(sqlite_registry)
    subscribe_farmer_and_officer(sessions)
    raise_alert(
        sessions,
        "soil_dry",
        "korat-001-f1",
        "soil at 30 cm is 7.2% VWC, below 8% for loamy_sand",
        datetime.now(UTC),
    )
    settings = NotifySettings(
        database_url=sqlite_registry,
        outbox_path=tmp_path / "outbox.sqlite3",
        notify_port=free_port(),
        poll_interval_s=0.2,
        line=LineSettings(channel_secret=SecretStr("s")),
    )
    stop = threading.Event()
    service = threading.Thread(target=run, args=(settings, stop))
    service.start()
    try:
        wait_for(lambda: _Outbox.instances, "the outbox to open", timeout_s=30)
        outbox = _Outbox.instances[-1]
        assert outbox.path == settings.outbox_path
        wait_for(
            lambda: any(n.address == FARMER_LINE for n in outbox.kept.values()),
            "the registry alert in the outbox",
            timeout_s=60,
        )
        assert _Deliverer.started.wait(30)
        url = f"http://127.0.0.1:{settings.notify_port}"
        wait_for(lambda: _answers(f"{url}/healthz"), "the listener", timeout_s=30)
        assert httpx.post(f"{url}/line/webhook", content=b"{}", timeout=30).status_code == 401
    finally:
        stop.set()
        service.join(timeout=60)
    assert not service.is_alive()
    assert outbox.closed
    [farmer] = [n for n in outbox.kept.values() if n.address == FARMER_LINE]
    assert farmer.text.startswith("⚠️ ดินแห้ง\nแปลง: ไร่หนองบัว (ฟาร์มลุงสมชาย)\n")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
