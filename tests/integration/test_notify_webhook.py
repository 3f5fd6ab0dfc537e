"""The notifier's HTTP listener, served for real: LINE's webhook refuses unsigned and wrongly
signed bodies and links a farmer who sends his code in a correctly signed one (the signature
computed here as LINE documents it); Grafana's webhook JSON becomes messages."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from notify.settings import LineSettings, NotifySettings
from notify.webhook import create_app
from registry import subscriptions as subs
from tests.helpers import wait_for
from tests.integration.notify_world import FARM, OutboxDouble, registry
from tests.unit.test_notify_intake import GRAFANA_BODY
from tooling.services import free_port

SECRET = "3b5c1a0e9f8d7c6b5a4f3e2d1c0b9a88"
TOKEN = "grafana-to-notify"
USER = "U" + "0123456789abcdef" * 2


@dataclass
class Listener:
    url: str
    sessions: sessionmaker[Session]
    outbox: OutboxDouble


@pytest.fixture(params=["sqlite_registry", "postgres_registry"])
def listener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Listener]:
    sessions = registry(request.getfixturevalue(request.param))
    settings = NotifySettings(
        line=LineSettings(channel_secret=SecretStr(SECRET)),
        grafana_webhook_token=SecretStr(TOKEN),
        notify_port=free_port(),
    )
    outbox = OutboxDouble(tmp_path)
    config = uvicorn.Config(
        create_app(settings, sessions, outbox),
        host="127.0.0.1",
        port=settings.notify_port,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, "the notifier's listener", timeout_s=30)
    yield Listener(f"http://127.0.0.1:{settings.notify_port}", sessions, outbox)
    server.should_exit = True
    thread.join(timeout=30)
    outbox.close()


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "x-line-signature": base64.b64encode(digest).decode(),
        "content-type": "application/json",
    }


def _line_body(*events: dict[str, Any]) -> bytes:
    return json.dumps({"destination": "U" + "f" * 32, "events": list(events)}).encode()


def _text(code: str, event_id: str) -> dict[str, Any]:
    return {
        "type": "message",
        "mode": "active",
        "timestamp": 1796281503000,
        "source": {"type": "user", "userId": USER},
        "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": False},
        "replyToken": "b60d432864f44d079f6d8efe86cf404b",
        "message": {"id": "444573844083572737", "type": "text", "quoteToken": "q", "text": code},
    }


def _code(sessions: sessionmaker[Session]) -> str:
    with sessions() as session, session.begin():
        return subs.create_link_code(session, None, FARM)


def _line_subscriptions(sessions: sessionmaker[Session]) -> list[tuple[str | None, str]]:
    with sessions() as session:
        return [(s.farm_id, s.address) for s in subs.listed(session) if s.channel == "line"]


def test_unsigned_and_wrongly_signed_webhooks_are_refused_and_logged(
    listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    code = _code(listener.sessions)
    body = _line_body(_text(code, "01HZZ0000000000000000000A1"))
    with caplog.at_level(logging.WARNING, logger="notify.webhook"):
        unsigned = httpx.post(f"{listener.url}/line/webhook", content=body, timeout=30)
        forged = httpx.post(
            f"{listener.url}/line/webhook",
            content=body,
            headers=_signed(body, "not the secret"),
            timeout=30,
        )
    assert unsigned.status_code == 401
    assert forged.status_code == 403
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert any("signature missing" in m for m in refusals)
    assert any("signature wrong" in m for m in refusals)
    assert _line_subscriptions(listener.sessions) == []
    assert listener.outbox.kept == {}


def test_a_signed_follow_and_link_code_link_the_farmers_line_to_his_farm(
    listener: Listener,
) -> None:
    follow = {
        "type": "follow",
        "mode": "active",
        "timestamp": 1796281500000,
        "source": {"type": "user", "userId": USER},
        "webhookEventId": "01HZZ0000000000000000000F0",
        "deliveryContext": {"isRedelivery": False},
        "replyToken": "8cf9239d56244f4197887e939187e19e",
        "follow": {"isUnblocked": False},
    }
    body = _line_body(follow)
    answer = httpx.post(
        f"{listener.url}/line/webhook", content=body, headers=_signed(body), timeout=30
    )
    assert answer.status_code == 200
    [welcome] = listener.outbox.to(USER)
    assert welcome.text.startswith("สวัสดี ยินดีต้อนรับ\nส่งรหัส 8 หลักที่ได้จากสหกรณ์")

    code = _code(listener.sessions)
    typed = f"{code[:4]} {code[4:]}"
    body = _line_body(_text(typed, "01HZZ0000000000000000000T1"))
    answer = httpx.post(
        f"{listener.url}/line/webhook", content=body, headers=_signed(body), timeout=30
    )
    assert answer.status_code == 200
    assert answer.json() == {"linked": 1}
    assert _line_subscriptions(listener.sessions) == [(FARM, USER)]
    linked = listener.outbox.to(USER)[1]
    assert linked.text == "เชื่อมไลน์กับฟาร์มลุงสมชายแล้ว\nต่อไปจะได้รับแจ้งเตือนทางแชตนี้"

    # LINE redelivers the same event: no second subscription, no second answer.
    again = httpx.post(
        f"{listener.url}/line/webhook", content=body, headers=_signed(body), timeout=30
    )
    assert again.json() == {"linked": 0}
    assert len(listener.outbox.to(USER)) == 2
    # The code was spent: sent again in a new message, it links nothing.
    body = _line_body(_text(code, "01HZZ0000000000000000000T2"))
    reused = httpx.post(
        f"{listener.url}/line/webhook", content=body, headers=_signed(body), timeout=30
    )
    assert reused.json() == {"linked": 0}
    assert listener.outbox.to(USER)[2].text.startswith("รหัสไม่ถูกต้องหรือหมดอายุแล้ว")
    assert _line_subscriptions(listener.sessions) == [(FARM, USER)]


def test_lines_verification_call_with_no_events_is_answered(listener: Listener) -> None:
    body = _line_body()
    answer = httpx.post(
        f"{listener.url}/line/webhook", content=body, headers=_signed(body), timeout=30
    )
    assert answer.status_code == 200


def test_grafanas_webhook_json_becomes_a_message_for_the_farms_subscriber(
    listener: Listener,
) -> None:
    with listener.sessions() as session, session.begin():
        subs.create(session, subs.SubscriptionSpec(None, FARM, "line", USER, "ลุงสมชาย", quiet=None))
    body = json.dumps(GRAFANA_BODY).encode()
    headers = {"content-type": "application/json"}
    refused = httpx.post(
        f"{listener.url}/grafana/webhook", content=body, headers=headers, timeout=30
    )
    assert refused.status_code == 401
    headers["authorization"] = f"Bearer {TOKEN}"
    answer = httpx.post(
        f"{listener.url}/grafana/webhook", content=body, headers=headers, timeout=30
    )
    assert answer.status_code == 200, answer.text
    # The soil alert of the farm, and the platform-wide stale forecast (resolved, never told
    # as firing: not sent); the farm has one cooperative here.
    assert answer.json() == {"alerts": 2, "notifications": 1}
    [message] = listener.outbox.to(USER)
    assert message.text == (
        "⚠️ ดินแห้ง\n"
        "แปลง: ไร่หนองบัว (ฟาร์มลุงสมชาย)\n"
        "ความชื้นดินลึก 30 ซม.: 7.2% (ต่ำกว่าเกณฑ์ 8%)\n"
        "ตั้งแต่: 3 ธ.ค. 14:05 น.\n"
        "ควรทำ: ให้น้ำแปลงนี้โดยเร็ว"
    )
    # Grafana repeats its notification: nothing new for the farmer.
    answer = httpx.post(
        f"{listener.url}/grafana/webhook", content=body, headers=headers, timeout=30
    )
    assert answer.json()["notifications"] == 0
    bad = httpx.post(f"{listener.url}/grafana/webhook", content=b"{}", headers=headers, timeout=30)
    assert bad.status_code == 422
