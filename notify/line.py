"""LINE Messaging API: push one text message to a user or group, and read the monthly quota.

What LINE documents and this module relies on (developers.line.biz, Messaging API reference and
"Retry failed API requests"):

- ``POST /v2/bot/message/push`` with ``Authorization: Bearer <channel access token>`` and
  ``{"to": id, "messages": [{"type": "text", "text": ...}]}``; a text is at most 5,000
  characters. 200 answers ``{"sentMessages": [...]}`` with an ``x-line-request-id`` header.
- ``X-Line-Retry-Key`` (a UUID chosen by us): a request with a key LINE already accepted is not
  executed again but answered 409 with ``x-line-accepted-request-id``. So 409 means delivered.
  A 5xx or a timeout may still have been delivered: only a retry with the same key is safe.
- 429: a rate limit (retry later; we honour ``Retry-After`` when given) or the monthly message
  limit (message "You have reached your monthly limit."; nothing goes out until next month).
- Other 4xx refuse the request itself, e.g. 400 "Failed to send messages" for a user id that
  does not exist: no retry helps, the reason goes to the dead letters. 401 (a wrong or expired
  token) and 403 (the plan does not allow the call) are our configuration, not the message:
  retried, loudly logged, so that fixing the token sends what waited.
- ``GET /v2/bot/message/quota`` (``{"type": "none"}`` or ``{"type": "limited", "value": n}``)
  and ``GET /v2/bot/message/quota/consumption`` (``{"totalUsage": n}``).

httpx's errors are converted here; the token is never logged (httpx logs no headers).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx

from notify.backoff import parse_retry_after
from notify.notification import Notification
from notify.quota import QuotaReading
from notify.sending import Outcome, Refused, Retry, Sent
from notify.settings import LineSettings

log = logging.getLogger(__name__)

PUSH_PATH = "/v2/bot/message/push"
QUOTA_PATH = "/v2/bot/message/quota"
CONSUMPTION_PATH = "/v2/bot/message/quota/consumption"
#: LINE's limit on one text message, in characters.
MAX_TEXT_CHARS = 5000
MONTHLY_LIMIT_HINT = "monthly limit"
ELLIPSIS = "…"


def fit_text(text: str) -> str:
    """The text cut to LINE's 5,000 characters, ending in an ellipsis when cut."""
    if len(text) <= MAX_TEXT_CHARS:
        return text
    return text[: MAX_TEXT_CHARS - len(ELLIPSIS)] + ELLIPSIS


def push_body(to: str, text: str) -> dict[str, Any]:
    return {"to": to, "messages": [{"type": "text", "text": fit_text(text)}]}


def error_message(body: str) -> str:
    """LINE's JSON error ``message`` with its ``details`` (``property: message``), or the raw
    body cut short when it is not LINE's JSON."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:200] or "(empty body)"
    if not isinstance(data, dict):
        return body.strip()[:200]
    message = str(data.get("message", "")).strip() or "(no message)"
    details = [
        f"{d.get('property', '?')}: {d.get('message', '')}"
        for d in data.get("details") or []
        if isinstance(d, dict)
    ]
    return f"{message} ({'; '.join(details)})" if details else message


def classify(status: int, headers: httpx.Headers, body: str, now: float) -> Outcome:
    """The outcome of a push from LINE's answer (see the module's docstring)."""
    if status == 200:
        return Sent(request_id=headers.get("x-line-request-id"))
    if status == 409:
        return Sent(request_id=headers.get("x-line-accepted-request-id"), counted=False)
    message = error_message(body)
    if status == 429:
        if MONTHLY_LIMIT_HINT in message.lower():
            return Retry(f"429: {message}", quota_exhausted=True)
        return Retry(f"429: {message}", after_s=parse_retry_after(headers.get("retry-after"), now))
    if status in (401, 403):
        return Retry(f"{status}: {message}", misconfigured=True)
    if 400 <= status < 500:
        return Refused(f"{status}: {message}")
    return Retry(f"{status}: {message}", after_s=parse_retry_after(headers.get("retry-after"), now))


class LineClient:
    """Pushes over one pooled connection. Never raises for what LINE or the network did."""

    def __init__(self, settings: LineSettings, timeout_s: float) -> None:
        if settings.channel_access_token is None:
            raise ValueError(
                "line.channel_access_token is not set: put the Messaging API channel's "
                "long-lived token in ISANFARM_LINE_CHANNEL_ACCESS_TOKEN"
            )
        token = settings.channel_access_token.get_secret_value()
        self._client = httpx.Client(
            base_url=settings.api_base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
        )

    def send(self, notification: Notification, retry_key: str) -> Outcome:
        return self.push(notification.address, notification.text, retry_key)

    def push(self, to: str, text: str, retry_key: str) -> Outcome:
        try:
            response = self._client.post(
                PUSH_PATH, json=push_body(to, text), headers={"X-Line-Retry-Key": retry_key}
            )
        except httpx.TimeoutException as exc:
            return Retry(f"LINE did not answer in time ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return Retry(f"LINE unreachable ({type(exc).__name__}: {exc})")
        outcome = classify(response.status_code, response.headers, response.text, time.time())
        if isinstance(outcome, Retry) and outcome.misconfigured:
            log.error(
                "LINE refused our credentials (%s): check ISANFARM_LINE_CHANNEL_ACCESS_TOKEN",
                outcome.reason,
            )
        return outcome

    def quota(self) -> QuotaReading | None:
        """This month's allowance and use, or None when LINE cannot be asked right now."""
        try:
            limit = self._get_json(QUOTA_PATH)
            used = self._get_json(CONSUMPTION_PATH)
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            log.warning("LINE's message quota could not be read: %s", exc)
            return None
        value = None if limit.get("type") == "none" else int(limit["value"])
        return QuotaReading(limit=value, used=int(used["totalUsage"]))

    def close(self) -> None:
        self._client.close()

    def _get_json(self, path: str) -> dict[str, Any]:
        response = self._client.get(path)
        response.raise_for_status()
        data = response.json()
        if not isinstance(data, dict):
            raise ValueError(f"{path} answered {data!r}, not a JSON object")
        return data
