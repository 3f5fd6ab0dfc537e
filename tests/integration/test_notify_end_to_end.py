"""From the registry's alert list to the farmer's LINE chat, with nothing replaced: the notify
service as assembled, its durable outbox and deliverer, and the local stand-in of LINE's push
endpoint. One alert, one message, in Thai."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from notify.service import run
from notify.settings import LineSettings, NotifySettings
from simulators.line_api import LineApiStandIn
from tests.helpers import wait_for
from tests.integration.notify_world import (
    FARMER_LINE,
    raise_alert,
    registry,
    subscribe_farmer_and_officer,
)
from tooling.services import free_port


def test_a_registry_alert_reaches_the_farmers_line_once_in_thai(
    sqlite_registry: str, tmp_path: Path
) -> None:
    sessions = registry(sqlite_registry)
    subscribe_farmer_and_officer(sessions)
    raise_alert(
        sessions,
        "soil_dry",
        "korat-001-f1",
        "soil at 30 cm is 7.2% VWC, below 8% for loamy_sand",
        datetime.now(UTC),
    )
    with LineApiStandIn(users=[FARMER_LINE]) as line:
        settings = NotifySettings(
            database_url=sqlite_registry,
            outbox_path=tmp_path / "outbox.sqlite3",
            notify_port=free_port(),
            poll_interval_s=0.2,
            line=LineSettings(
                channel_access_token=SecretStr(line.token),
                channel_secret=SecretStr("s"),
                api_base_url=line.url,
            ),
        )
        stop = threading.Event()
        service = threading.Thread(target=run, args=(settings, stop))
        service.start()
        try:
            wait_for(lambda: line.texts_to(FARMER_LINE), "the farmer's LINE message", timeout_s=60)
            # A few more polls and delivery rounds: the same alert must not be sent again.
            stop.wait(2)
        finally:
            stop.set()
            service.join(timeout=60)
        assert not service.is_alive()
        [text] = line.texts_to(FARMER_LINE)
    assert text.startswith("⚠️ ดินแห้ง\nแปลง: ไร่หนองบัว (ฟาร์มลุงสมชาย)\n")
