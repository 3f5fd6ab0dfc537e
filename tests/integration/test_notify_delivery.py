"""Delivery to LINE against the local stand-in of the Messaging API (simulators/line_api.py), a
real HTTP server on a loopback port: exactly one message per notification through outages,
lost responses, rate limits and a ``kill -9``; refusals in the dead letters; digests when the
monthly quota runs low.

Backoff is shortened here (base 0.2 s, cap 1-2 s, against 1 s and 60 s by default) so the tests
take seconds; the code paths are the same.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from notify.delivery import Deliverer
from notify.notification import Channel, Notification
from notify.outbox import NotificationOutbox, State
from notify.settings import DeliverySettings, LineSettings, NotifySettings
from simulators.line_api import LineApiStandIn, line_user_id
from tests.helpers import wait_for

pytestmark = pytest.mark.integration

FARMER = line_user_id("somchai")
NEIGHBOUR = line_user_id("malee")
#: How long LINE stays down in the outage test. The issue's story says a minute; nothing in
#: the code depends on the length beyond the backoff cap (1 s here), so a few seconds prove the
#: same while keeping the suite short. Raise it to 60 to see the minute.
OUTAGE_S = 6.0
#: Thai text as N2's rendering produces it: its bytes must arrive unchanged.
SOIL_DRY = (
    "⚠️ ดินแห้ง: แปลง 3 (ฟาร์มสมชาย)\n"
    "ความชื้นดินที่ 30 ซม. 7.2% ต่ำกว่าเกณฑ์ 8.0% ตั้งแต่ 14:20 น.\n"
    "ควรให้น้ำแปลงนี้ภายในวันนี้"
)


def notification(
    key: str, text: str = SOIL_DRY, to: str = FARMER, critical: bool = False, title: str = ""
) -> Notification:
    return Notification(
        key=key,
        channel=Channel.LINE,
        address=to,
        text=text,
        title=title or f"ดินแห้ง {key}",
        critical=critical,
        cooperative_id="coop-korat",
        farm_id="farm-somchai",
    )


@pytest.fixture
def line_api() -> Iterator[LineApiStandIn]:
    with LineApiStandIn(users=[FARMER, NEIGHBOUR]) as api:
        yield api


def settings_for(api: LineApiStandIn, outbox_path: Path, **delivery: float | int) -> NotifySettings:
    timing: dict[str, float | int] = {"backoff_base_s": 0.2, "backoff_max_s": 1.0}
    return NotifySettings(
        line=LineSettings(channel_access_token=SecretStr(api.token), api_base_url=api.url),
        outbox_path=outbox_path,
        delivery=DeliverySettings.model_validate(timing | delivery),
    )


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[NotificationOutbox]:
    box = NotificationOutbox(tmp_path / "outbox.sqlite3")
    yield box
    box.close()


@pytest.fixture
def delivering(
    line_api: LineApiStandIn, outbox: NotificationOutbox
) -> Iterator[Callable[..., Deliverer]]:
    """Starts a deliverer in a thread (with delivery settings given as keywords)."""
    running: list[tuple[threading.Event, threading.Thread]] = []

    def start(**delivery: float | int) -> Deliverer:
        deliverer = Deliverer(settings_for(line_api, outbox.path, **delivery), outbox)
        stop = threading.Event()
        thread = threading.Thread(target=deliverer.run, args=(stop,), daemon=True)
        thread.start()
        running.append((stop, thread))
        return deliverer

    yield start
    for stop, thread in running:
        stop.set()
        thread.join(10)


def state_of(outbox: NotificationOutbox, key: str) -> State | None:
    entry = outbox.entry(key)
    return None if entry is None else entry.state


def test_a_notification_reaches_line_once_with_its_exact_text(
    line_api: LineApiStandIn, outbox: NotificationOutbox, delivering: Callable[..., Deliverer]
) -> None:
    delivering()
    assert outbox.put(notification("a1:firing:somchai"))
    wait_for(lambda: state_of(outbox, "a1:firing:somchai") is State.DELIVERED, "delivery", 30)
    assert not outbox.put(notification("a1:firing:somchai")), "a key is accepted once, ever"
    time.sleep(1.5)  # a second message, if any were coming, would be here by now
    assert line_api.texts_to(FARMER) == [SOIL_DRY]
    (pushed,) = line_api.delivered
    entry = outbox.entry("a1:firing:somchai")
    assert entry is not None
    assert pushed.retry_key == entry.retry_key
    assert entry.request_id == pushed.request_id


def test_line_down_for_a_while_delivers_once_afterwards(
    line_api: LineApiStandIn, outbox: NotificationOutbox, delivering: Callable[..., Deliverer]
) -> None:
    went_down = time.time()
    line_api.down_for(OUTAGE_S)
    delivering()
    outbox.put(notification("a2:firing:somchai"))
    wait_for(lambda: line_api.is_up, "the stand-in back up", OUTAGE_S + 30)
    wait_for(lambda: line_api.delivered, "delivery after the outage", 30)
    time.sleep(1.5)
    assert line_api.texts_to(FARMER) == [SOIL_DRY]
    assert line_api.delivered[0].at >= went_down + OUTAGE_S
    entry = outbox.entry("a2:firing:somchai")
    assert entry is not None
    assert entry.state is State.DELIVERED
    assert entry.attempts > 2, "it was tried during the outage"


def test_a_push_whose_answer_was_lost_is_retried_with_its_key_and_arrives_once(
    line_api: LineApiStandIn, outbox: NotificationOutbox, delivering: Callable[..., Deliverer]
) -> None:
    """LINE took the push but the answer never came (as a timeout looks): the retries carry
    the same X-Line-Retry-Key, LINE answers 409, and the farmer has one message."""
    line_api.lose_next_responses(2)
    delivering()
    outbox.put(notification("a3:firing:somchai"))
    wait_for(lambda: state_of(outbox, "a3:firing:somchai") is State.DELIVERED, "delivery", 30)
    assert line_api.answers[0] == 1, "the first answer was lost"
    assert line_api.answers[409] == 1, "the retry was recognised by its key"
    assert line_api.texts_to(FARMER) == [SOIL_DRY]


DELIVERER_SCRIPT = """
from isanfarm.processes import stop_on_signals
from notify.delivery import Deliverer
from notify.outbox import NotificationOutbox
from notify.settings import NotifySettings

settings = NotifySettings()
Deliverer(settings, NotificationOutbox(settings.outbox_path)).run(stop_on_signals())
"""


def test_a_deliverer_killed_mid_retry_delivers_once_after_restart(
    line_api: LineApiStandIn, outbox: NotificationOutbox
) -> None:
    """The first push reaches LINE but its answer is lost; LINE then fails (503) while the
    deliverer retries; ``kill -9`` it there. The restarted process reads the retry key from
    the outbox, so LINE recognises the push (409) and the farmer has one message."""
    env = os.environ | {
        "ISANFARM_LINE_CHANNEL_ACCESS_TOKEN": line_api.token,
        "ISANFARM_LINE_API_BASE_URL": line_api.url,
        "ISANFARM_OUTBOX_PATH": str(outbox.path),
        # The first retry 1-2 s after the lost answer: time enough to make LINE fail.
        "ISANFARM_DELIVERY_BACKOFF_BASE_S": "2",
        "ISANFARM_DELIVERY_BACKOFF_MAX_S": "2",
    }
    command = [sys.executable, "-c", DELIVERER_SCRIPT]

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, env=env, stderr=subprocess.PIPE)

    line_api.lose_next_responses(1)
    outbox.put(notification("a4:firing:somchai"))
    process = start()
    try:
        wait_for(lambda: line_api.answers[0] == 1, "the first push, its answer lost", 60)
        line_api.fail_next(1000, status=503)
        assert line_api.answers[409] == 0, "(the retry came before LINE failed: test too slow)"
        wait_for(lambda: line_api.answers[503] >= 2, "the deliverer retrying", 60)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        entry = outbox.entry("a4:firing:somchai")
        assert entry is not None
        assert entry.state is State.PENDING
        assert line_api.texts_to(FARMER) == [SOIL_DRY], "LINE has it already"
        line_api.heal()
        process = start()
        wait_for(
            lambda: state_of(outbox, "a4:firing:somchai") is State.DELIVERED,
            "delivery after the restart",
            60,
        )
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr.decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert line_api.answers[409] == 1
    assert line_api.texts_to(FARMER) == [SOIL_DRY]


def test_retry_after_of_a_429_is_honoured(
    line_api: LineApiStandIn, outbox: NotificationOutbox, delivering: Callable[..., Deliverer]
) -> None:
    """Backoff alone would retry after 0.1-0.2 s; LINE said 2 s."""
    line_api.rate_limit_next(1, retry_after_s=2)
    delivering()
    outbox.put(notification("a5:firing:somchai"))
    wait_for(lambda: state_of(outbox, "a5:firing:somchai") is State.DELIVERED, "delivery", 30)
    (limited_at, limited), (sent_at, sent) = line_api.answer_log
    assert (limited, sent) == (429, 200)
    assert sent_at - limited_at >= 1.95
    assert line_api.texts_to(FARMER) == [SOIL_DRY]


def test_refused_ids_go_to_the_dead_letters_with_lines_reason_and_block_nobody(
    line_api: LineApiStandIn, outbox: NotificationOutbox, delivering: Callable[..., Deliverer]
) -> None:
    delivering()
    outbox.put(notification("a6:firing:stranger", to=line_user_id("stranger")))
    outbox.put(notification("a6:firing:typo", to="U123"))
    outbox.put(notification("a6:firing:somchai"))
    wait_for(lambda: outbox.counts()[State.DEAD] == 2, "two dead letters", 30)
    wait_for(lambda: state_of(outbox, "a6:firing:somchai") is State.DELIVERED, "delivery", 30)
    reasons = {e.notification.key: e.dead_reason for e in outbox.entries(State.DEAD)}
    assert reasons == {
        "a6:firing:stranger": "400: Failed to send messages",
        "a6:firing:typo": "400: The property, 'to', in the request body is invalid "
        "(line: -, column: -)",
    }
    assert line_api.texts_to(FARMER) == [SOIL_DRY]
    assert line_api.answers[400] == 2, "a refusal is not retried"


def test_one_persons_messages_keep_their_order_through_a_failure(
    line_api: LineApiStandIn, outbox: NotificationOutbox, delivering: Callable[..., Deliverer]
) -> None:
    line_api.fail_next(2, status=500)
    outbox.put(notification("a7:firing:somchai", text="firing"))
    outbox.put(notification("a7:resolved:somchai", text="resolved"))
    outbox.put(notification("a8:firing:malee", text="other farm", to=NEIGHBOUR))
    delivering()
    wait_for(lambda: outbox.counts()[State.DELIVERED] == 3, "three deliveries", 30)
    assert line_api.texts_to(FARMER) == ["firing", "resolved"]
    assert line_api.texts_to(NEIGHBOUR) == ["other farm"]


def test_digest_mode_folds_warnings_but_not_critical_ones_when_the_quota_runs_low(
    line_api: LineApiStandIn, outbox: NotificationOutbox, delivering: Callable[..., Deliverer]
) -> None:
    line_api.monthly_limit = 100
    line_api.used_elsewhere = 95  # 5 left: under digest_below=10
    titles = ["ดินแห้ง แปลง 1", "ดินแห้ง แปลง 2", "ดินแห้ง แปลง 4"]
    for i, title in enumerate(titles):
        outbox.put(notification(f"w{i}:firing:somchai", text=f"warning {i}", title=title))
    outbox.put(notification("c1:firing:somchai", text="heat stress!", critical=True))
    deliverer = delivering(digest_below=10, digest_window_s=2.0)
    wait_for(lambda: outbox.counts()[State.DELIVERED] == 2, "the critical and the digest", 30)
    texts = line_api.texts_to(FARMER)
    assert texts[0] == "heat stress!", "a critical alert does not wait for the digest"
    assert texts[1].splitlines()[0] == "สรุปการแจ้งเตือน 3 รายการ"
    assert texts[1].splitlines()[2:] == [f"• {title}" for title in titles]
    assert outbox.counts()[State.FOLDED] == 3
    time.sleep(1.0)
    assert len(line_api.delivered) == 2
    quota = deliverer.quota(time.time())
    assert quota.limit == 100
    assert quota.used >= 97


def test_a_wrong_token_is_retried_not_dead_lettered_and_never_logged(
    line_api: LineApiStandIn,
    outbox: NotificationOutbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A refused token is the operator's to fix; what waits goes out once it is fixed."""
    caplog.set_level(logging.DEBUG)
    secret = "wrong-token-c0ffee"
    settings = settings_for(line_api, outbox.path)
    settings.line.channel_access_token = SecretStr(secret)
    stop = threading.Event()
    thread = threading.Thread(target=Deliverer(settings, outbox).run, args=(stop,))
    thread.start()
    try:
        outbox.put(notification("a9:firing:somchai"))
        wait_for(lambda: line_api.answers[401] >= 1, "LINE refusing the token", 30)
    finally:
        stop.set()
        thread.join(10)
    entry = outbox.entry("a9:firing:somchai")
    assert entry is not None
    assert entry.state is State.PENDING
    assert entry.last_error is not None
    assert entry.last_error.startswith("401: Authentication failed")
    assert "ISANFARM_LINE_CHANNEL_ACCESS_TOKEN" in caplog.text
    assert secret not in caplog.text
    assert line_api.delivered == []


def test_the_monthly_limit_holds_line_back_and_empties_the_quota(
    line_api: LineApiStandIn, outbox: NotificationOutbox, delivering: Callable[..., Deliverer]
) -> None:
    line_api.monthly_limit = 1
    deliverer = delivering(backoff_max_s=30.0, digest_below=0)
    outbox.put(notification("b1:firing:somchai", text="first"))
    wait_for(lambda: state_of(outbox, "b1:firing:somchai") is State.DELIVERED, "the first", 30)
    outbox.put(notification("b2:firing:somchai", text="second"))
    wait_for(lambda: line_api.answers[429] == 1, "LINE's monthly limit", 30)
    time.sleep(1.0)
    assert line_api.answers[429] == 1, "nothing more is tried while the limit holds"
    entry = outbox.entry("b2:firing:somchai")
    assert entry is not None
    assert entry.state is State.PENDING
    assert entry.last_error == "429: You have reached your monthly limit."
    assert deliverer.quota(time.time()).remaining == 0
    assert line_api.texts_to(FARMER) == ["first"]


def test_a_notification_undeliverable_for_too_long_is_given_up_with_its_last_error(
    line_api: LineApiStandIn, outbox: NotificationOutbox, delivering: Callable[..., Deliverer]
) -> None:
    line_api.fail_next(1000, status=502)
    delivering(give_up_after_s=1.5)
    outbox.put(notification("b3:firing:somchai"))
    wait_for(lambda: state_of(outbox, "b3:firing:somchai") is State.DEAD, "giving up", 30)
    entry = outbox.entry("b3:firing:somchai")
    assert entry is not None
    assert entry.dead_reason is not None
    assert entry.dead_reason.startswith(f"gave up after {entry.attempts} attempt(s): 502: ")


def test_the_stand_in_shows_what_it_delivered_as_json(
    line_api: LineApiStandIn, outbox: NotificationOutbox, delivering: Callable[..., Deliverer]
) -> None:
    delivering()
    outbox.put(notification("b4:firing:somchai"))
    wait_for(lambda: line_api.delivered, "delivery", 30)
    shown = httpx.get(line_api.messages_url, timeout=10).json()["messages"]
    assert [(m["to"], m["text"]) for m in shown] == [(FARMER, SOIL_DRY)]


def test_the_end_of_an_outage_is_seen_within_the_probe_interval_not_the_backoff(
    line_api: LineApiStandIn, outbox: NotificationOutbox
) -> None:
    """With backoff 3 s doubling (no jitter: the longest draw) the notification's own attempts
    fall at 0, 3 and 9 s; LINE is down for 4 s. A probe every 0.5 s at most delivers it soon
    after LINE is back, not at 9 s."""
    settings = settings_for(
        line_api, outbox.path, backoff_base_s=3.0, backoff_max_s=60.0, probe_interval_s=0.5
    )
    deliverer = Deliverer(settings, outbox, draw=lambda: 0.999)
    line_api.down_for(4.0)
    outbox.put(notification("b5:firing:somchai"))
    stop = threading.Event()
    thread = threading.Thread(target=deliverer.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: line_api.is_up, "LINE back", 30)
        up_at = time.time()
        wait_for(lambda: line_api.delivered, "delivery", 30)
    finally:
        stop.set()
        thread.join(10)
    assert line_api.delivered[0].at - up_at < 2.5
    assert line_api.texts_to(FARMER) == [SOIL_DRY]
