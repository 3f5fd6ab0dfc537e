"""Alerts to LINE through a failing LINE: nothing lost, nothing doubled, and how late.

A few hundred alerts' notifications are put into the durable outbox (``NotificationOutbox``, a
real SQLite file in a temp dir) at a steady rate, one in ten critical, to 40 farmers; one
``Deliverer`` with the production delivery settings (backoff 1 s doubling to 60 s, Retry-After
honoured) sends them to the local stand-in of LINE's Messaging API (``simulators/line_api.py``,
a real HTTP server on a loopback port), which meanwhile:

- answers 15 % of pushes with an error: 500, 502 or 503, and one in fifteen of them 429 with
  ``Retry-After: 1`` (after which the deliverer sends nothing to LINE for that second),
- limits pushes to LINE's documented 2,000 a second per channel (a token bucket; one
  sequential deliverer does not reach it),
- accepts a smaller share but loses the answer (the connection closed unanswered, as a timeout
  looks: the retry must be recognised by its ``X-Line-Retry-Key`` and answered 409),
- goes down (connection refused) for a while in the middle of the run.

Counted from what the stand-in stored (each message carries its alert's number): delivered
(alerts with at least one message), lost (none), duplicates (messages beyond the first).
Latency is from the ``put`` to the stand-in storing the message; p99 is taken over the alerts
whose put-to-delivery span does not overlap the outage (those raised after it ended or
delivered before it began), the others are reported apart. Goal (issue 18): lost 0,
duplicates 0, p99 under 5 s.

Usage: python bench/notify.py [--quick]
Last line: alerts, delivered, lost, duplicates, p99_s.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# Run as ``python bench/notify.py``, bench/ comes first on sys.path, where this file's own name
# would hide the ``notify`` package it measures.
if str(Path(__file__).resolve().parent) in sys.path:
    sys.path.remove(str(Path(__file__).resolve().parent))

from pydantic import SecretStr

from notify.delivery import Deliverer
from notify.notification import Channel, Notification
from notify.outbox import NotificationOutbox, State
from notify.settings import LineSettings, NotifySettings
from simulators.line_api import LineApiStandIn, PushedMessage, line_user_id
from tooling.benchmarking import load_average, machine

FARMERS = 40
CRITICAL_EVERY = 10
ALERT = re.compile(r"^\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class Plan:
    alerts: int
    span_s: float  # alerts are put evenly over this long
    outage_at_s: float
    outage_s: float
    fail_share: float
    lose_share: float
    rate_per_s: float  # the stand-in's rate limit (bursts of as many)
    drain_s: float  # longest wait for the last deliveries after the last put


FULL = Plan(2000, 180.0, 60.0, 60.0, 0.15, 0.03, 2000.0, 120.0)
QUICK = Plan(300, 30.0, 10.0, 8.0, 0.15, 0.03, 2000.0, 20.0)
#: The failures' mix: 14 in 15 a server error, 1 in 15 a rate limit.
FAILURES = (500,) * 5 + (502,) * 5 + (503,) * 4 + (429,)


def notification(number: int, farmer: str) -> Notification:
    critical = number % CRITICAL_EVERY == 0
    return Notification(
        key=f"bench-{number}:firing:{farmer}",
        channel=Channel.LINE,
        address=farmer,
        text=f"[{number}] ดินแห้ง แปลง {number % 7 + 1}: ความชื้นดิน 7.2% ต่ำกว่าเกณฑ์ 8.0%",
        title=f"ดินแห้ง แปลง {number % 7 + 1}",
        critical=critical,
        cooperative_id="bench",
        farm_id=f"farm-{number % FARMERS}",
    )


def put_alerts(
    outbox: NotificationOutbox, plan: Plan, farmers: list[str], stand_in: LineApiStandIn
) -> tuple[dict[int, float], tuple[float, float]]:
    """Puts the alerts at a steady rate, taking the stand-in down on schedule. Returns each
    alert's put time and the outage's (start, end)."""
    put_at: dict[int, float] = {}
    start = time.monotonic()
    outage = (0.0, 0.0)
    for number in range(plan.alerts):
        due = start + number * plan.span_s / plan.alerts
        if outage == (0.0, 0.0) and due - start >= plan.outage_at_s:
            went_down = time.time()
            stand_in.down_for(plan.outage_s)
            outage = (went_down, went_down + plan.outage_s)
        time.sleep(max(0.0, due - time.monotonic()))
        put_at[number] = time.time()
        outbox.put(notification(number, farmers[number % FARMERS]))
    return put_at, outage


def wait_for_drain(outbox: NotificationOutbox, drain_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < drain_s and outbox.counts()[State.PENDING]:
        time.sleep(0.1)
    return time.monotonic() - started


def first_arrivals(messages: list[PushedMessage]) -> tuple[dict[int, float], int]:
    """Each alert's first message time, and how many messages came beyond the first."""
    first: dict[int, float] = {}
    extra = 0
    for message in messages:
        match = ALERT.match(message.text)
        if match is None:
            continue
        number = int(match.group(1))
        if number in first:
            extra += 1
        else:
            first[number] = message.at
    return first, extra


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 alerts, under a minute")
    plan = QUICK if parser.parse_args().quick else FULL
    print(f"{machine()}; {load_average()}", flush=True)
    print(
        f"plan: {plan.alerts} alerts over {plan.span_s:.0f} s to {FARMERS} farmers; LINE fails "
        f"{plan.fail_share:.0%} of pushes (5xx, 429), loses {plan.lose_share:.0%} of answers, "
        f"limits pushes to {plan.rate_per_s:.0f}/s (429), down {plan.outage_s:.0f} s "
        f"from t={plan.outage_at_s:.0f} s",
        flush=True,
    )
    farmers = [line_user_id(f"bench-farmer-{i}") for i in range(FARMERS)]
    with tempfile.TemporaryDirectory() as tmp, LineApiStandIn(users=farmers, seed=18) as api:
        api.fail_share(plan.fail_share, statuses=FAILURES, retry_after_s=1)
        api.rate_limit(plan.rate_per_s, burst=int(plan.rate_per_s), retry_after_s=1)
        api.lose_share(plan.lose_share)
        outbox = NotificationOutbox(Path(tmp) / "outbox.sqlite3")
        settings = NotifySettings(
            line=LineSettings(channel_access_token=SecretStr(api.token), api_base_url=api.url)
        )
        stop = threading.Event()
        deliverer = threading.Thread(target=Deliverer(settings, outbox).run, args=(stop,))
        deliverer.start()
        started = time.monotonic()
        put_at, outage = put_alerts(outbox, plan, farmers, api)
        drained_s = wait_for_drain(outbox, plan.drain_s)
        stop.set()
        deliverer.join(30)
        counts = outbox.counts()
        attempts = sum(e.attempts for e in outbox.entries(limit=plan.alerts + 10))
        outbox.close()
        report(plan, put_at, outage, api, counts, attempts, time.monotonic() - started, drained_s)


def report(
    plan: Plan,
    put_at: dict[int, float],
    outage: tuple[float, float],
    api: LineApiStandIn,
    counts: dict[State, int],
    attempts: int,
    elapsed_s: float,
    drained_s: float,
) -> None:
    first, duplicates = first_arrivals(api.delivered)
    lost = len(put_at) - len(first)
    down_from, down_to = outage
    clear: list[float] = []
    spanning: list[float] = []
    for number, arrived in first.items():
        latency = arrived - put_at[number]
        overlaps = put_at[number] < down_to and arrived > down_from
        (spanning if overlaps else clear).append(latency)
    answers: Counter[int] = Counter(api.answers)
    print(
        f"outbox: {', '.join(f'{s.value} {n}' for s, n in counts.items())}; {attempts} "
        f"attempts; drained {drained_s:.1f} s after the last put; run {elapsed_s:.1f} s",
    )
    print(
        "LINE stand-in answers: "
        + ", ".join(f"{'lost' if s == 0 else s}: {n}" for s, n in sorted(answers.items()))
    )
    print(
        f"latency outside the outage ({len(clear)} alerts): p50 {percentile(clear, 0.5):.2f} s, "
        f"p99 {percentile(clear, 0.99):.2f} s, max {max(clear, default=float('nan')):.2f} s"
    )
    print(
        f"alerts whose delivery spanned the {plan.outage_s:.0f} s outage ({len(spanning)}): "
        f"max {max(spanning, default=float('nan')):.2f} s"
    )
    print(load_average())
    print(
        f"alerts: {len(put_at)} delivered: {len(first)} lost: {lost} duplicates: {duplicates} "
        f"p99_s: {percentile(clear, 0.99):.2f}"
    )


if __name__ == "__main__":
    main()
