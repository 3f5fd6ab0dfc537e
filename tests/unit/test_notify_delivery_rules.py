"""The delivery side's pure rules: the backoff schedule, Retry-After, what LINE's and SMTP's
answers mean, digest folding and quota arithmetic. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from notify import digest
from notify.backoff import backoff_s, parse_retry_after
from notify.email import build_message, classify_reply
from notify.line import MAX_TEXT_CHARS, classify, error_message, fit_text, push_body
from notify.notification import Channel, Notification
from notify.outbox import OutboxEntry, State
from notify.quota import QuotaReading, QuotaTracker, QuotaView, month_of
from notify.sending import Refused, Retry, Sent

NOW = 1_800_000_000.0
USER = "U" + "a" * 32


def entry(
    entry_id: int,
    *,
    address: str = USER,
    critical: bool = False,
    channel: Channel = Channel.LINE,
    attempts: int = 0,
    accepted_at: float = NOW,
    title: str | None = None,
) -> OutboxEntry:
    notification = Notification(
        key=f"k{entry_id}",
        channel=channel,
        address=address,
        text=f"text {entry_id}",
        title=title or f"ดินแห้ง แปลง {entry_id}",
        critical=critical,
        cooperative_id="coop",
        farm_id="farm",
    )
    return OutboxEntry(
        id=entry_id,
        notification=notification,
        retry_key=f"rk{entry_id}",
        state=State.PENDING,
        attempts=attempts,
        accepted_at=accepted_at,
        next_attempt_at=accepted_at,
    )


# ---- backoff ---------------------------------------------------------------------------------


def test_backoff_doubles_from_the_base_and_stays_within_half_and_all_of_each_step() -> None:
    assert [backoff_s(a, 1.0, 60.0, 0.0) for a in range(1, 9)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        16.0,
        30.0,
        30.0,
    ]
    assert [backoff_s(a, 1.0, 60.0, 0.999999) for a in (1, 2, 3)] == pytest.approx([1, 2, 4])


def test_backoff_is_capped_even_after_very_many_attempts() -> None:
    assert backoff_s(10_000, 1.0, 60.0, 0.5) == 45.0


def test_backoff_refuses_attempt_zero() -> None:
    with pytest.raises(ValueError, match="attempts must be >= 1"):
        backoff_s(0, 1.0, 60.0, 0.5)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("7", NOW) == 7.0
    when = datetime.fromtimestamp(NOW + 30, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(when, NOW) == pytest.approx(30.0)
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", NOW) == 0.0
    assert parse_retry_after(None, NOW) is None
    assert parse_retry_after("soon", NOW) is None


# ---- LINE's answers --------------------------------------------------------------------------


def answer(status: int, body: str = "{}", **headers: str) -> object:
    return classify(status, httpx.Headers(headers), body, NOW)


def test_200_is_sent_and_counted_and_409_is_sent_but_not_counted_again() -> None:
    assert answer(200, **{"x-line-request-id": "r1"}) == Sent("r1")
    assert answer(409, **{"x-line-accepted-request-id": "r0"}) == Sent("r0", counted=False)


def test_429_honours_retry_after_and_recognises_the_monthly_limit() -> None:
    limited = answer(
        429, '{"message": "The API rate limit has been exceeded."}', **{"Retry-After": "3"}
    )
    assert isinstance(limited, Retry)
    assert limited.after_s == 3.0
    assert not limited.quota_exhausted
    monthly = answer(429, '{"message": "You have reached your monthly limit."}')
    assert isinstance(monthly, Retry)
    assert monthly.quota_exhausted


def test_5xx_is_retried_and_4xx_refused_with_lines_reason() -> None:
    assert isinstance(answer(500, "oops"), Retry)
    assert isinstance(answer(503, "{}", **{"Retry-After": "2"}), Retry)
    refused = answer(400, '{"message": "Failed to send messages"}')
    assert refused == Refused("400: Failed to send messages")


def test_a_refused_token_is_retried_as_our_misconfiguration_not_dead_lettered() -> None:
    outcome = answer(401, '{"message": "Authentication failed."}')
    assert isinstance(outcome, Retry)
    assert outcome.misconfigured


def test_error_message_keeps_lines_details() -> None:
    body = (
        '{"message": "The request body has 1 error(s)", "details": '
        '[{"message": "Length must be between 0 and 5000", "property": "messages[0].text"}]}'
    )
    assert error_message(body) == (
        "The request body has 1 error(s) (messages[0].text: Length must be between 0 and 5000)"
    )
    assert error_message("<html>bad gateway</html>") == "<html>bad gateway</html>"


def test_texts_longer_than_lines_limit_are_cut_with_an_ellipsis() -> None:
    assert fit_text("ก" * MAX_TEXT_CHARS) == "ก" * MAX_TEXT_CHARS
    cut = fit_text("ก" * (MAX_TEXT_CHARS + 10))
    assert len(cut) == MAX_TEXT_CHARS
    assert cut.endswith("…")
    assert push_body(USER, "สวัสดี") == {"to": USER, "messages": [{"type": "text", "text": "สวัสดี"}]}


# ---- SMTP ------------------------------------------------------------------------------------


def test_smtp_4xx_is_temporary_and_5xx_permanent() -> None:
    assert isinstance(classify_reply(451, "try later"), Retry)
    assert classify_reply(550, "no such user") == Refused("SMTP 550: no such user")


def test_the_mail_carries_a_message_id_from_the_retry_key_and_thai_survives() -> None:
    n = entry(1, channel=Channel.EMAIL, address="farmer@example.org").notification
    message = build_message(n, "isanfarm@example.org", "0f0e")
    assert message["Message-ID"] == "<0f0e@isanfarm.notify>"
    assert message["Subject"] == "ดินแห้ง แปลง 1"
    assert message.get_content().strip() == "text 1"


# ---- digests ---------------------------------------------------------------------------------


def test_outside_digest_mode_everything_is_sent_as_it_is() -> None:
    due = [entry(1), entry(2)]
    assert digest.plan(due, False, NOW, 900) == [digest.Send(due[0]), digest.Send(due[1])]


def test_digest_mode_folds_one_persons_warnings_once_the_window_passed_but_not_criticals() -> None:
    other = "U" + "b" * 32
    due = [entry(1), entry(2, critical=True), entry(3), entry(4, address=other)]
    steps = digest.plan(due, True, NOW + 900, 900)
    assert steps[0] == digest.Fold((due[0], due[2]), digest.digest_of([due[0], due[2]]))
    assert steps[1:] == [digest.Send(due[1]), digest.Send(due[3])]
    fold = steps[0]
    assert isinstance(fold, digest.Fold)
    assert fold.digest.text.splitlines()[2:] == ["• ดินแห้ง แปลง 1", "• ดินแห้ง แปลง 3"]
    assert fold.digest.title == "สรุปการแจ้งเตือน 2 รายการ"
    assert not fold.digest.critical


def test_digest_mode_holds_warnings_until_the_window_passed_and_sends_criticals_at_once() -> None:
    due = [entry(1), entry(2, critical=True), entry(3, channel=Channel.EMAIL, address="a@b.c")]
    assert digest.plan(due, True, NOW + 899, 900) == [digest.Send(due[1]), digest.Send(due[2])]


def test_an_attempted_warning_is_never_folded_lest_line_deliver_it_twice() -> None:
    due = [entry(1, attempts=1), entry(2)]
    assert digest.plan(due, True, NOW + 900, 900) == [digest.Send(due[0]), digest.Send(due[1])]


def test_a_digest_in_english_and_one_too_long_for_line_still_fits() -> None:
    text = digest.digest_text([f"Soil dry in field {i} " + "x" * 80 for i in range(200)])
    assert len(text) <= MAX_TEXT_CHARS
    assert text.startswith("200 alerts in one message")
    assert text.split("\n")[-1].startswith("… +")


# ---- quota -----------------------------------------------------------------------------------


def test_remaining_quota_and_digest_threshold() -> None:
    assert QuotaView(limit=300, used=260).remaining == 40
    assert QuotaView(limit=300, used=260).low(50)
    assert not QuotaView(300, 200).low(50)
    assert QuotaView(limit=300, used=400).remaining == 0
    assert QuotaView(limit=None, used=10**6).remaining is None
    assert not QuotaView(limit=None, used=10**6).low(50)


def test_lines_reading_wins_when_higher_and_our_count_adds_what_we_sent_since() -> None:
    tracker = QuotaTracker(configured_limit=None)
    assert tracker.view("2027-01", counted_locally=5) == QuotaView(None, 5)
    tracker.observe(QuotaReading(limit=300, used=120), "2027-01")
    tracker.sent()
    tracker.sent()
    assert tracker.view("2027-01", counted_locally=10) == QuotaView(300, 122)
    assert tracker.view("2027-01", counted_locally=130) == QuotaView(300, 130)
    assert tracker.view("2027-02", counted_locally=1) == QuotaView(300, 1), "a new month"


def test_the_configured_allowance_counts_until_line_answers_and_the_monthly_limit_empties_it() -> (
    None
):
    tracker = QuotaTracker(configured_limit=300)
    assert tracker.view("2027-01", 290).remaining == 10
    tracker.exhausted("2027-01")
    assert tracker.view("2027-01", 290).remaining == 0
    assert tracker.view("2027-02", 0).remaining == 300


def test_months_are_thai_calendar_months() -> None:
    new_year_bangkok = datetime(2026, 12, 31, 17, 0, tzinfo=UTC).timestamp()
    assert month_of(new_year_bangkok - 1) == "2026-12"
    assert month_of(new_year_bangkok) == "2027-01"
