"""A local stand-in for LINE's Messaging API: the push endpoint and the quota endpoints, as
LINE documents them, plus the ways LINE fails, on demand.

Tests, the benchmark and the demo cannot reach api.line.me (nor should they send farmers
messages), so they point ``ISANFARM_LINE_API_BASE_URL`` here. What it follows (developers.line.biz:
Messaging API reference, "Retry failed API requests", "Handle HTTP status code 429 errors"):

- ``POST /v2/bot/message/push``: ``Authorization: Bearer <token>`` or 401; a body
  ``{"to": "U…", "messages": [{"type": "text", "text": …}]}`` with 1 to 5 messages of at most
  5,000 characters, else 400 "The request body has N error(s)" with ``details``; an id that is
  not a user/group/room id, 400 "The property, 'to', in the request body is invalid"; a
  well-formed id nobody has (not in ``users``), 400 "Failed to send messages". 200 answers
  ``{"sentMessages": [{"id", "quoteToken"}]}`` and an ``x-line-request-id`` header.
- ``X-Line-Retry-Key``: a UUID, else 400. A key already accepted is not executed again: 409
  ``{"message": "The retry key is already accepted", "sentMessages": […]}`` with header
  ``x-line-accepted-request-id``, and the message is stored once.
- 429 "You have reached your monthly limit." once ``monthly_limit`` messages went out;
  ``GET /v2/bot/message/quota`` and ``/v2/bot/message/quota/consumption``.

Failures on demand: 5xx or 429 (with ``Retry-After``) for the next N pushes or a random share of
them, a response lost after the push was accepted (the connection closed unanswered, as a
timeout looks to the sender: the case retry keys exist for), and going down (connection refused)
for a while. ``delivered`` lists what was stored, and ``GET /_standin/messages`` shows it as JSON
(the demo prints that address).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PUSH_PATH = "/v2/bot/message/push"
QUOTA_PATH = "/v2/bot/message/quota"
CONSUMPTION_PATH = "/v2/bot/message/quota/consumption"
MESSAGES_PATH = "/_standin/messages"
#: A user, group or room id: U, C or R and 32 hex digits.
LINE_ID = re.compile(r"^[UCR][0-9a-f]{32}$")
RETRY_KEY = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
MAX_TEXT_CHARS = 5000
MAX_MESSAGES = 5

AUTH_FAILED = (
    "Authentication failed. Confirm that the access token in the authorization header is valid."
)
RATE_LIMITED = "The API rate limit has been exceeded. Try again later."
MONTHLY_LIMIT = "You have reached your monthly limit."
FAILED_TO_SEND = "Failed to send messages"
INVALID_TO = "The property, 'to', in the request body is invalid (line: -, column: -)"
ALREADY_ACCEPTED = "The retry key is already accepted"


def line_user_id(seed: str) -> str:
    """A well-formed LINE user id, the same for the same seed (tests and the demo name their
    farmers by it)."""
    return "U" + uuid.uuid5(uuid.NAMESPACE_URL, f"isanfarm:{seed}").hex


@dataclass(frozen=True, slots=True)
class PushedMessage:
    to: str
    text: str
    retry_key: str | None
    request_id: str
    #: When it was stored (epoch seconds).
    at: float


class _Faults:
    """What the next pushes will suffer; all under the stand-in's lock."""

    def __init__(self, seed: int) -> None:
        self.fail_next: list[int] = []  # statuses, one per coming push
        self.lose_next = 0
        self.fail_share = 0.0
        self.fail_statuses: tuple[int, ...] = (500,)
        self.lose_share = 0.0
        self.retry_after_s: int | None = 1
        self.random = random.Random(seed)
        self.rate_per_s: float | None = None  # a token bucket, as a real rate limit
        self.burst = 1.0
        self.tokens = 0.0
        self.refilled_at = 0.0

    def over_rate(self, now: float) -> bool:
        if self.rate_per_s is None:
            return False
        self.tokens = min(self.burst, self.tokens + (now - self.refilled_at) * self.rate_per_s)
        self.refilled_at = now
        if self.tokens < 1:
            return True
        self.tokens -= 1
        return False

    def status(self) -> int | None:
        if self.fail_next:
            return self.fail_next.pop(0)
        if self.fail_share and self.random.random() < self.fail_share:
            return self.random.choice(self.fail_statuses)
        return None

    def lose(self) -> bool:
        if self.lose_next:
            self.lose_next -= 1
            return True
        return bool(self.lose_share) and self.random.random() < self.lose_share


class LineApiStandIn:
    def __init__(
        self,
        token: str = "standin-channel-token",
        users: tuple[str, ...] | list[str] | set[str] = (),
        *,
        port: int = 0,
        monthly_limit: int | None = None,
        seed: int = 0,
    ) -> None:
        self.token = token
        self.users = set(users)
        self.monthly_limit = monthly_limit
        #: Messages counted against the quota that other senders sent (the account manager).
        self.used_elsewhere = 0
        #: How many answers of each status code the push endpoint gave (0: response lost).
        self.answers: Counter[int] = Counter()
        #: Every push's answer in order: (epoch seconds, status; 0 when the response was lost).
        self.answer_log: list[tuple[float, int]] = []
        self._port = port
        self._lock = threading.Lock()
        self._delivered: list[PushedMessage] = []
        self._accepted: dict[str, tuple[str, list[dict[str, str]]]] = {}
        self._faults = _Faults(seed)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._up_timer: threading.Timer | None = None

    # ---- life ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def messages_url(self) -> str:
        return self.url + MESSAGES_PATH

    def start(self) -> LineApiStandIn:
        self.come_up()
        return self

    def stop(self) -> None:
        if self._up_timer is not None:
            self._up_timer.cancel()
        self.go_down()

    def __enter__(self) -> LineApiStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def go_down(self) -> None:
        """Stop listening: connections are refused until ``come_up``."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()

    def come_up(self) -> None:
        """Listen again, on the same port."""
        with self._lock:
            if self._server is not None:
                return
            server = ThreadingHTTPServer(("127.0.0.1", self._port), _handler_for(self))
            server.daemon_threads = True
            self._port = server.server_address[1]
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()

    def down_for(self, seconds: float) -> None:
        """Go down now and come back up after ``seconds`` (in a timer thread)."""
        self.go_down()
        self._up_timer = threading.Timer(seconds, self.come_up)
        self._up_timer.daemon = True
        self._up_timer.start()

    @property
    def is_up(self) -> bool:
        with self._lock:
            return self._server is not None

    # ---- failures on demand ----------------------------------------------------------------

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._faults.fail_next.extend([status] * count)

    def rate_limit_next(self, count: int, retry_after_s: int | None = 1) -> None:
        with self._lock:
            self._faults.retry_after_s = retry_after_s
            self._faults.fail_next.extend([429] * count)

    def fail_share(
        self,
        share: float,
        statuses: tuple[int, ...] = (500, 502, 503, 429),
        retry_after_s: int | None = 1,
    ) -> None:
        with self._lock:
            self._faults.fail_share = share
            self._faults.fail_statuses = statuses
            self._faults.retry_after_s = retry_after_s

    def rate_limit(self, per_s: float | None, burst: int = 1, retry_after_s: int = 1) -> None:
        """Answer 429 (``Retry-After``) to pushes beyond ``per_s`` a second on average, with
        bursts of up to ``burst``, as LINE's per-channel rate limit does. None: no limit."""
        with self._lock:
            self._faults.rate_per_s = per_s
            self._faults.burst = self._faults.tokens = float(burst)
            self._faults.refilled_at = time.monotonic()
            self._faults.retry_after_s = retry_after_s

    def lose_next_responses(self, count: int) -> None:
        """Accept and store the next ``count`` pushes but close the connection unanswered."""
        with self._lock:
            self._faults.lose_next += count

    def lose_share(self, share: float) -> None:
        with self._lock:
            self._faults.lose_share = share

    def heal(self) -> None:
        """No more failures on demand (going down is undone by ``come_up``)."""
        with self._lock:
            seed_state = self._faults.random.getstate()
            self._faults = _Faults(0)
            self._faults.random.setstate(seed_state)

    # ---- what arrived ----------------------------------------------------------------------

    @property
    def delivered(self) -> list[PushedMessage]:
        with self._lock:
            return list(self._delivered)

    def texts_to(self, to: str) -> list[str]:
        return [m.text for m in self.delivered if m.to == to]

    # ---- the endpoints (called from the handler's threads) ----------------------------------

    def handle_push(
        self, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], dict[str, Any]] | None:
        """Status, headers and JSON body of the answer; None: close the connection unanswered."""
        with self._lock:
            answer = self._push(headers, body)
            status = 0 if answer is None else answer[0]
            self.answers[status] += 1
            self.answer_log.append((time.time(), status))
            return answer

    def _push(
        self, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], dict[str, Any]] | None:
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {}, {"message": AUTH_FAILED}
        retry_key = headers.get("x-line-retry-key")
        if retry_key is not None and not RETRY_KEY.match(retry_key):
            return 400, {}, {"message": "The retry key must be a UUID"}
        status = self._faults.status()
        if status is None and self._faults.over_rate(time.monotonic()):
            status = 429
        if status == 429:
            extra = (
                {}
                if self._faults.retry_after_s is None
                else {"Retry-After": str(self._faults.retry_after_s)}
            )
            return 429, extra, {"message": RATE_LIMITED}
        if status is not None:
            return status, {}, {"message": "Internal server error (stand-in)"}
        if retry_key is not None and retry_key in self._accepted:
            request_id, sent = self._accepted[retry_key]
            return (
                409,
                {"x-line-accepted-request-id": request_id},
                {"message": ALREADY_ACCEPTED, "sentMessages": sent},
            )
        if self.monthly_limit is not None and self._used() >= self.monthly_limit:
            return 429, {}, {"message": MONTHLY_LIMIT}
        refusal = _refusal(body, self.users)
        if refusal is not None:
            return 400, {}, refusal
        return self._store(json.loads(body), retry_key)

    def _store(
        self, request: dict[str, Any], retry_key: str | None
    ) -> tuple[int, dict[str, str], dict[str, Any]] | None:
        request_id = uuid.uuid4().hex
        sent = []
        for message in request["messages"]:
            self._delivered.append(
                PushedMessage(request["to"], message["text"], retry_key, request_id, time.time())
            )
            sent.append({"id": str(len(self._delivered)), "quoteToken": uuid.uuid4().hex})
        if retry_key is not None:
            self._accepted[retry_key] = (request_id, sent)
        if self._faults.lose():
            return None
        return 200, {"x-line-request-id": request_id}, {"sentMessages": sent}

    def _used(self) -> int:
        return (
            len(self._accepted)
            + self.used_elsewhere
            + sum(1 for m in self._delivered if m.retry_key is None)
        )

    def handle_get(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if path == MESSAGES_PATH:
            return 200, {"messages": [asdict(m) for m in self.delivered]}
        if path not in (QUOTA_PATH, CONSUMPTION_PATH):
            return 404, {"message": "Not found"}
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"message": AUTH_FAILED}
        with self._lock:
            if path == CONSUMPTION_PATH:
                return 200, {"totalUsage": self._used()}
            if self.monthly_limit is None:
                return 200, {"type": "none"}
            return 200, {"type": "limited", "value": self.monthly_limit}


def _refusal(body: bytes, users: set[str]) -> dict[str, Any] | None:
    """LINE's 400 answer to a push body, or None if it would be sent."""
    try:
        request = json.loads(body)
    except ValueError:
        return {"message": "The request body could not be parsed as JSON (line: -, column: -)"}
    if not isinstance(request, dict):
        return {"message": "The request body could not be parsed as JSON (line: -, column: -)"}
    to = request.get("to")
    if not isinstance(to, str) or not LINE_ID.match(to):
        return {"message": INVALID_TO}
    details = _message_errors(request.get("messages"))
    if details:
        return {"message": f"The request body has {len(details)} error(s)", "details": details}
    if to not in users:
        return {"message": FAILED_TO_SEND}
    return None


def _message_errors(messages: object) -> list[dict[str, str]]:
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
        return [{"message": f"Size must be between 1 and {MAX_MESSAGES}", "property": "messages"}]
    errors = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("type") != "text":
            errors.append(
                {"message": "Must be a text message (stand-in)", "property": f"messages[{i}].type"}
            )
            continue
        text = message.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT_CHARS:
            errors.append(
                {
                    "message": f"Length must be between 1 and {MAX_TEXT_CHARS}",
                    "property": f"messages[{i}].text",
                }
            )
    return errors


def _handler_for(stand_in: LineApiStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, so going down closes every client's link.
        protocol_version = "HTTP/1.0"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.path != PUSH_PATH:
                self._answer(404, {}, {"message": "Not found"})
                return
            answer = stand_in.handle_push(self._lowered_headers(), body)
            if answer is None:
                self.close_connection = True
                return
            self._answer(*answer)

        def do_GET(self) -> None:
            status, data = stand_in.handle_get(self.path, self._lowered_headers())
            self._answer(status, {}, data)

        def _lowered_headers(self) -> dict[str, str]:
            return {name.lower(): value for name, value in self.headers.items()}

        def _answer(self, status: int, headers: dict[str, str], data: dict[str, Any]) -> None:
            payload = json.dumps(data, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header(
                "x-line-request-id", headers.get("x-line-request-id", uuid.uuid4().hex)
            )
            for name, value in headers.items():
                if name != "x-line-request-id":
                    self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests and the benchmark read ``delivered`` and ``answers``."""

    return Handler
