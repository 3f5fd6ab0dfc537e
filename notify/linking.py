"""Linking a farmer's LINE account to his farm, from LINE's webhook.

The cooperative prints a one-time code (``isanfarm notify link-code --farm F``); the farmer
adds the Official Account and sends the code in the chat; LINE posts a ``message`` event with
his user id, and the code's farm gets a subscription for that id. Everything LINE posts is
signed: ``x-line-signature`` is base64(HMAC-SHA256(channel secret, raw body)), checked on the
raw bytes before anything is parsed. Answers to the farmer go through the notification outbox
like any alert, keyed by LINE's ``webhookEventId`` so a redelivered webhook answers once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from collections import defaultdict, deque
from collections.abc import Mapping
from enum import Enum
from typing import Any, Protocol

from sqlalchemy.orm import Session

from notify.notification import Channel, Notification
from registry import models
from registry.subscriptions import SubscriptionError, normalise_code, redeem_link_code

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-line-signature"
#: Wrong codes a LINE user may send per hour before further ones are ignored (and logged):
#: an eight-digit code cannot be guessed at this rate.
MAX_WRONG_CODES_PER_HOUR = 5

WELCOME = (
    "สวัสดี ยินดีต้อนรับ\n"
    "ส่งรหัส 8 หลักที่ได้จากสหกรณ์มาในแชตนี้ เพื่อรับแจ้งเตือนของฟาร์มทางไลน์\n"
    "Send the 8-digit code from your cooperative in this chat to receive your farm's alerts."
)
LINKED = {
    "th": "เชื่อมไลน์กับ{place}แล้ว\nต่อไปจะได้รับแจ้งเตือนทางแชตนี้",
    "en": "Your LINE is now linked to {place}.\nAlerts will arrive in this chat.",
}
BAD_CODE = (
    "รหัสไม่ถูกต้องหรือหมดอายุแล้ว ขอรหัสใหม่จากสหกรณ์\n"
    "The code is wrong or has expired: ask your cooperative for a new one."
)


class Signature(Enum):
    VALID = "valid"
    MISSING = "missing"
    WRONG = "wrong"


def sign(secret: str, body: bytes) -> str:
    """LINE's signature of ``body``: base64 of its HMAC-SHA256 under the channel secret."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def check_signature(secret: str, body: bytes, presented: str | None) -> Signature:
    if not presented:
        return Signature.MISSING
    if hmac.compare_digest(sign(secret, body).encode(), presented.strip().encode()):
        return Signature.VALID
    return Signature.WRONG


class Outbox(Protocol):
    def put(self, notification: Notification) -> bool: ...


class WrongCodes:
    """Wrong codes per LINE user in the last hour (in memory: a restart forgives)."""

    def __init__(self, limit: int = MAX_WRONG_CODES_PER_HOUR, window_s: float = 3600) -> None:
        self.limit = limit
        self.window_s = window_s
        self._seen: dict[str, deque[float]] = defaultdict(deque)

    def blocked(self, user_id: str, now: float) -> bool:
        seen = self._seen[user_id]
        while seen and seen[0] <= now - self.window_s:
            seen.popleft()
        return len(seen) >= self.limit

    def add(self, user_id: str, now: float) -> None:
        self._seen[user_id].append(now)


def handle_events(
    session: Session, payload: Mapping[str, Any], outbox: Outbox, wrong: WrongCodes
) -> int:
    """Act on a verified webhook body; returns how many users were linked. LINE's
    verification call (no events) and event types other than follow and text are ignored."""
    linked = 0
    for event in payload.get("events") or []:
        if not isinstance(event, dict):
            continue
        user_id = (event.get("source") or {}).get("userId")
        if not isinstance(user_id, str) or not user_id:
            continue
        event_id = str(event.get("webhookEventId") or event.get("replyToken") or "")
        if event.get("type") == "follow":
            _answer(outbox, event_id, user_id, WELCOME, "")
        elif event.get("type") == "message" and (event.get("message") or {}).get("type") == "text":
            text = str(event["message"].get("text", ""))
            linked += _text(session, outbox, wrong, event_id, user_id, text)
    return linked


def _text(
    session: Session, outbox: Outbox, wrong: WrongCodes, event_id: str, user_id: str, text: str
) -> int:
    code = normalise_code(text)
    if code is None:
        return 0  # chat, not a code: no answer, no message spent from the quota
    now = time.time()
    if wrong.blocked(user_id, now):
        log.warning("LINE user %s: too many wrong link codes; ignoring this one", user_id)
        return 0
    try:
        subscription = redeem_link_code(session, code, user_id)
    except SubscriptionError as exc:  # a user id LINE would not send: nothing to link
        log.warning("LINE user %r: link code not redeemed: %s", user_id, exc)
        subscription = None
    if subscription is None:
        wrong.add(user_id, now)
        log.warning("LINE user %s sent a wrong or expired link code", user_id)
        _answer(outbox, event_id, user_id, BAD_CODE, "")
        return 0
    place = _place(session, subscription)
    log.info("LINE user %s linked to %s", user_id, subscription.farm_id or "staff")
    text = LINKED.get(subscription.language, LINKED["th"]).format(place=place)
    _answer(outbox, event_id, user_id, text, subscription.cooperative_id, subscription.farm_id)
    return 1


def _place(session: Session, subscription: models.Subscription) -> str:
    if subscription.farm_id is not None:
        farm = session.get(models.Farm, subscription.farm_id)
        return farm.name if farm is not None else subscription.farm_id
    cooperative = session.get(models.Cooperative, subscription.cooperative_id)
    return cooperative.name if cooperative is not None else subscription.cooperative_id


def _answer(
    outbox: Outbox,
    event_id: str,
    user_id: str,
    text: str,
    cooperative_id: str,
    farm_id: str | None = None,
) -> None:
    """A direct answer: sent at once (``critical``: no quiet hours, no digest)."""
    outbox.put(
        Notification(
            key=f"line-event:{event_id}",
            channel=Channel.LINE,
            address=user_id,
            text=text,
            title=text.split("\n", 1)[0],
            critical=True,
            cooperative_id=cooperative_id,
            farm_id=farm_id,
        )
    )
