"""The deliverer: takes due notifications from the outbox, oldest first, and sends them.

One attempt at a time, each recorded in the outbox before and after it (``notify.outbox`` says
why that makes a crash harmless). What an attempt came to (``notify.sending``) decides the rest:

- sent (LINE 200, or 409 for a retry key it had already accepted): delivered. If that channel
  had been failing, the notifications that were only backing off from its failures are brought
  forward: it works again, so they need not wait out their backoff.
- refused (a LINE 4xx such as an unknown user id, an SMTP 5xx): a dead letter with the reason.
- retry: after the receiver's ``Retry-After`` when it gave one, and then nothing goes to that
  channel until it has passed (a rate limit is the channel's, not the message's); otherwise
  after an exponential backoff with jitter. LINE's monthly limit, a refused token or SMTP
  login, and a channel with no settings wait the longest backoff and hold the channel as long.
  A notification not delivered ``give_up_after_s`` after it was accepted becomes a dead letter
  with its last error.
- while a channel fails, the oldest notification waiting for it is tried at least every
  ``probe_interval_s``, whatever its own backoff has grown to: the end of an outage is seen
  within that, and its first success brings the others forward. Each notification's backoff
  may grow to a minute; the probe is one request every few seconds.

One person's notifications keep their order: they go one after another, after a failure to an
address nothing more goes to it in that round, and the outbox holds back the younger ones while
the older one waits. Different people's go at once, ``concurrency`` at a time: after an outage
the backlog of every farm is sent in parallel, so a new alert does not wait behind all of them
(each LINE request is a round trip to Japan or Thailand; one at a time would be tens a second).
When LINE's monthly quota runs low, warnings are folded into digests (``notify.digest``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from notify import digest
from notify.backoff import backoff_s
from notify.email import EmailSender
from notify.line import LineClient
from notify.notification import Channel
from notify.outbox import NotificationOutbox, OutboxEntry
from notify.quota import QuotaTracker, QuotaView, month_of
from notify.sending import Outcome, Refused, Retry, Sender, Sent
from notify.settings import NotifySettings

log = logging.getLogger(__name__)

#: Due notifications taken from the outbox per round.
BATCH = 100
#: The longest the deliverer sleeps without looking at the outbox (a ``put`` from another
#: process does not wake it), and how often it looks at ``stop`` while sleeping.
IDLE_S = 1.0
STOP_CHECK_S = 0.2
#: Shortest sleep before a notification falls due.
MIN_SLEEP_S = 0.01


class Deliverer:
    def __init__(
        self,
        settings: NotifySettings,
        outbox: NotificationOutbox,
        *,
        clock: Callable[[], float] = time.time,
        draw: Callable[[], float] = random.random,
        senders: Mapping[Channel, Sender] | None = None,
    ) -> None:
        """``senders`` replaces the channels built from ``settings`` (LINE when a token is
        set, e-mail when an SMTP host is); ``clock`` (epoch seconds) and ``draw`` (the
        backoff's jitter) are for tests."""
        self._settings = settings.delivery
        self._outbox = outbox
        self._clock = clock
        self._draw = draw
        self._line: LineClient | None = None
        if senders is None:
            senders = self._build_senders(settings)
        self._senders = dict(senders)
        self._quota = QuotaTracker(self._settings.monthly_quota)
        self._quota_read_at = float("-inf")
        self._paused_until: dict[Channel, float] = {}
        #: Guards the bookkeeping below and the quota, shared by the sending threads.
        self._lock = threading.Lock()
        workers = self._settings.concurrency
        self._pool = (
            ThreadPoolExecutor(workers, thread_name_prefix="notify-send") if workers > 1 else None
        )
        #: Channels whose last attempt failed without being told when to come back: their
        #: consecutive failures, and when to probe them next.
        self._failures: dict[Channel, int] = {}
        self._probe_at: dict[Channel, float] = {}

    def _build_senders(self, settings: NotifySettings) -> dict[Channel, Sender]:
        senders: dict[Channel, Sender] = {}
        if settings.line.channel_access_token is not None:
            self._line = LineClient(settings.line, settings.delivery.request_timeout_s)
            senders[Channel.LINE] = self._line
        if settings.smtp.host is not None:
            senders[Channel.EMAIL] = EmailSender(settings.smtp)
        return senders

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set; what is pending then stays in the outbox."""
        log.info("delivering from %s via %s", self._outbox.path, sorted(self._senders))
        try:
            while not stop.is_set():
                if not self.deliver_due():
                    self._sleep(stop)
        finally:
            self.close()

    def deliver_due(self) -> int:
        """One round: every due notification gets one attempt (or is folded into a digest).
        Returns how many attempts and folds were made."""
        self._outbox.arrived.clear()
        now = self._clock()
        self._refresh_quota(now)
        low = self.quota(now).low(self._settings.digest_below)
        due = self._outbox.due(now, BATCH)
        done = 0
        lanes: dict[tuple[Channel, str], list[OutboxEntry]] = {}
        for step in digest.plan(due, low, now, self._settings.digest_window_s):
            if isinstance(step, digest.Fold):
                done += self._outbox.fold(step.entries, step.digest, now)
            else:
                n = step.entry.notification
                lanes.setdefault((n.channel, n.address), []).append(step.entry)
        if self._pool is None or len(lanes) < 2:
            done += sum(self._lane(entries) for entries in lanes.values())
        else:
            done += sum(self._pool.map(self._lane, lanes.values()))
        return done + self._probe(now)

    def _lane(self, entries: Sequence[OutboxEntry]) -> int:
        """One person's due notifications on one channel, in order, until one fails or the
        channel is held. Returns how many were attempted."""
        attempted = 0
        for entry in entries:
            if self._paused_until.get(entry.notification.channel, 0) > self._clock():
                break
            attempted += 1
            if not isinstance(self._attempt(entry), Sent):
                break
        return attempted

    def _probe(self, now: float) -> int:
        """Try the oldest waiting notification of each channel that fails and is due a probe
        (see ``probe_interval_s``), whatever its own backoff says. Returns how many."""
        probed = 0
        for channel, probe_at in list(self._probe_at.items()):
            if probe_at > now or self._paused_until.get(channel, 0) > now:
                continue
            waiting = self._outbox.oldest_waiting(channel)
            if waiting is None:
                self._failures.pop(channel, None)
                self._probe_at.pop(channel, None)
                continue
            self._attempt(waiting)
            probed += 1
        return probed

    def quota(self, now: float) -> QuotaView:
        """LINE messages used and left this month, as far as known."""
        month = month_of(now)
        used = self._outbox.line_usage(month)
        with self._lock:
            return self._quota.view(month, used)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        for sender in self._senders.values():
            sender.close()

    # ---- one attempt ----------------------------------------------------------------------

    def _attempt(self, entry: OutboxEntry) -> Outcome:
        n = entry.notification
        sender = self._senders.get(n.channel)
        outcome: Outcome
        if sender is None:
            outcome = Retry(f"no {n.channel} settings: see docs/notify.md", misconfigured=True)
        else:
            self._outbox.begin_attempt(entry.id)
            outcome = sender.send(n, entry.retry_key)
        now = self._clock()
        with self._lock:
            if isinstance(outcome, Sent):
                self._delivered(entry, outcome, now)
            elif isinstance(outcome, Refused):
                log.warning("%s to %s refused, dead letter: %s", n.key, n.channel, outcome.reason)
                self._outbox.mark_dead(entry.id, outcome.reason)
            else:
                self._retry(entry, outcome, now)
        return outcome

    def _delivered(self, entry: OutboxEntry, outcome: Sent, now: float) -> None:
        channel = entry.notification.channel
        counted = channel is Channel.LINE and outcome.counted
        self._outbox.mark_delivered(
            entry.id, now, outcome.request_id, month_of(now) if counted else None
        )
        if counted:
            self._quota.sent()
        self._probe_at.pop(channel, None)
        if self._failures.pop(channel, None) is not None:
            brought = self._outbox.retry_now(channel, now)
            log.info("%s works again: %d waiting notification(s) brought forward", channel, brought)

    def _retry(self, entry: OutboxEntry, outcome: Retry, now: float) -> None:
        n = entry.notification
        told = True
        if outcome.quota_exhausted or outcome.misconfigured:
            if outcome.quota_exhausted:
                self._quota.exhausted(month_of(now))
            wait = self._settings.backoff_max_s
            self._paused_until[n.channel] = now + wait
        elif outcome.after_s is not None:
            wait = outcome.after_s
            self._paused_until[n.channel] = now + wait
        else:
            told = False
            s = self._settings
            wait = backoff_s(entry.attempts + 1, s.backoff_base_s, s.backoff_max_s, self._draw())
            failures = self._failures[n.channel] = self._failures.get(n.channel, 0) + 1
            probe_in = backoff_s(failures, s.backoff_base_s, s.probe_interval_s, self._draw())
            self._probe_at[n.channel] = now + probe_in
        if now + wait - entry.accepted_at > self._settings.give_up_after_s:
            reason = f"gave up after {entry.attempts + 1} attempt(s): {outcome.reason}"
            log.warning("%s to %s: %s", n.key, n.channel, reason)
            self._outbox.mark_dead(entry.id, reason)
            return
        log.info("%s to %s: retry in %.1f s (%s)", n.key, n.channel, wait, outcome.reason)
        self._outbox.schedule_retry(entry.id, now + wait, outcome.reason, told=told)

    # ---- waiting and the quota -------------------------------------------------------------

    def _sleep(self, stop: threading.Event) -> None:
        """Until the next notification is due (at most ``IDLE_S``), a new one arrives, or
        ``stop`` is set."""
        now = self._clock()
        due_at = min(
            (t for t in (self._outbox.next_attempt_at(), *self._probe_at.values()) if t),
            default=None,
        )
        if due_at is None:
            wait = IDLE_S
        elif due_at > now:
            wait = min(IDLE_S, max(due_at - now, MIN_SLEEP_S))
        else:  # due but held: for a digest, or a channel's Retry-After
            wait = STOP_CHECK_S
        deadline = time.monotonic() + wait
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or self._outbox.arrived.wait(min(left, STOP_CHECK_S)):
                return

    def _refresh_quota(self, now: float) -> None:
        if self._line is None or now - self._quota_read_at < self._settings.quota_refresh_s:
            return
        self._quota_read_at = now
        reading = self._line.quota()
        if reading is not None:
            with self._lock:
                self._quota.observe(reading, month_of(now))
