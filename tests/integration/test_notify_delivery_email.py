"""E-mail delivery against a real SMTP server in-process (aiosmtpd on a loopback port): one mail
per notification, 4xx retried, 5xx in the dead letters, a server that was down caught up."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from notify.delivery import Deliverer
from notify.notification import Channel, Notification
from notify.outbox import NotificationOutbox, State
from notify.settings import DeliverySettings, NotifySettings, SmtpSettings
from tests.helpers import wait_for

pytestmark = pytest.mark.integration

FARMER = "somchai@example.org"
TEXT = "คำเตือน: ดินแห้ง แปลง 3\nความชื้นดิน 7.2% ต่ำกว่าเกณฑ์ 8.0%\nควรให้น้ำภายในวันนี้"
TITLE = "ดินแห้ง แปลง 3"


class Mailbox:
    """aiosmtpd's handler: keeps every mail it accepted; refuses unknown recipients (550) and
    answers 451 to the next ``busy`` DATA commands."""

    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.busy = 0
        self.mails: list[EmailMessage] = []

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address not in self.known:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.busy:
            self.busy -= 1
            return "451 4.3.0 Busy, try again later"
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.mails.append(mail)
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox({FARMER})


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def smtp_server(mailbox: Mailbox, smtp_port: int) -> Iterator[Controller]:
    controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def deliver(tmp_path: Path, smtp_port: int) -> Iterator[Callable[[], NotificationOutbox]]:
    """Starts a deliverer with e-mail only (no LINE token) in a thread; returns its outbox."""
    running: list[tuple[threading.Event, threading.Thread, NotificationOutbox]] = []

    def start() -> NotificationOutbox:
        outbox = NotificationOutbox(tmp_path / "outbox.sqlite3")
        settings = NotifySettings(
            smtp=SmtpSettings(host="127.0.0.1", port=smtp_port, starttls=False, timeout_s=10),
            delivery=DeliverySettings(backoff_base_s=0.2, backoff_max_s=1.0),
        )
        stop = threading.Event()
        thread = threading.Thread(target=Deliverer(settings, outbox).run, args=(stop,))
        thread.start()
        running.append((stop, thread, outbox))
        return outbox

    yield start
    for stop, thread, outbox in running:
        stop.set()
        thread.join(10)
        outbox.close()


def mail(key: str, to: str = FARMER) -> Notification:
    return Notification(
        key=key,
        channel=Channel.EMAIL,
        address=to,
        text=TEXT,
        title=TITLE,
        critical=False,
        cooperative_id="coop-korat",
        farm_id="farm-somchai",
    )


def test_an_email_notification_arrives_once_with_its_thai_subject_and_text(
    smtp_server: Controller, mailbox: Mailbox, deliver: Callable[[], NotificationOutbox]
) -> None:
    outbox = deliver()
    assert outbox.put(mail("m1"))
    wait_for(lambda: outbox.counts()[State.DELIVERED] == 1, "the mail delivered", 30)
    (received,) = mailbox.mails
    entry = outbox.entry("m1")
    assert entry is not None
    assert received["Subject"] == TITLE
    assert received["To"] == FARMER
    assert received["Message-ID"] == f"<{entry.retry_key}@isanfarm.notify>"
    assert received.get_content().rstrip("\n") == TEXT


def test_a_temporary_refusal_is_retried_and_a_permanent_one_is_a_dead_letter(
    smtp_server: Controller, mailbox: Mailbox, deliver: Callable[[], NotificationOutbox]
) -> None:
    mailbox.busy = 2
    outbox = deliver()
    outbox.put(mail("m2"))
    outbox.put(mail("m3", to="nobody@example.org"))
    wait_for(lambda: outbox.counts()[State.DELIVERED] == 1, "the mail delivered", 30)
    wait_for(lambda: outbox.counts()[State.DEAD] == 1, "the dead letter", 30)
    assert len(mailbox.mails) == 1
    dead = outbox.entry("m3")
    assert dead is not None
    assert dead.dead_reason == "SMTP 550: 5.1.1 No such mailbox here"
    delivered = outbox.entry("m2")
    assert delivered is not None
    assert delivered.attempts == 3


def test_mail_waiting_while_the_server_was_down_arrives_once_it_is_up(
    mailbox: Mailbox, smtp_port: int, deliver: Callable[[], NotificationOutbox]
) -> None:
    outbox = deliver()
    outbox.put(mail("m4"))

    def tried_twice() -> bool:
        entry = outbox.entry("m4")
        return entry is not None and entry.attempts >= 2

    wait_for(tried_twice, "attempts while the server is down", 30)
    controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        wait_for(lambda: outbox.counts()[State.DELIVERED] == 1, "the mail delivered", 30)
    finally:
        controller.stop()
    assert len(mailbox.mails) == 1
