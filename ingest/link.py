"""paho-mqtt's client driven by a loop of our own, in the thread that consumes the messages.

Why not ``loop_start()``: paho's network thread would be a second thread taking the
interpreter lock for every message, and each acknowledgement sent from the consuming thread
wakes it through a socketpair. Measured on ingest (bench/RESULTS.md), that network thread
spent about three times the CPU per message of a plain subscriber's. Here the consuming
thread calls paho's documented external-loop API (``socket()``, ``loop_read()``,
``loop_write()``, ``loop_misc()``): paho still does all of MQTT, we only decide when to read,
which is also how the consumer bounds what it holds (it stops reading).
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import time
from collections.abc import Callable, Iterable, Iterator

import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)

#: Reconnect backoff, as paho's own ``reconnect_delay_set(1, 30)``.
RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 30.0
#: ``loop_misc()`` (keepalive pings, the PINGRESP deadline) at least this often.
MISC_EVERY_S = 1.0
#: Packets read per ``step()`` at most, so that a busy socket cannot hold back what the
#: caller does between steps (sending acknowledgements, cutting a batch that is due).
BURST = 100


class BrokerLink:
    """One MQTT connection served by ``step()`` calls from a single thread, which is also the
    thread paho calls back in. ``wake()`` (any thread) makes a waiting ``step()`` return early.
    ``connect_async()`` must have been called on the client; ``on_message`` is the link's."""

    def __init__(self, client: mqtt.Client, on_message: mqtt.CallbackOnMessage) -> None:
        self.client = client
        self._on_message = on_message
        #: PUBLISH packets handed to ``on_message``.
        self.messages = 0
        client.on_message = self._count_message
        # Packets paho queues (PUBACKs, pings, SUBSCRIBE) wait for ``step()``'s write, rather
        # than one send() each at once: see ``acknowledge()``.
        client.on_socket_register_write = _write_later
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._next_attempt = 0.0
        self._delay = RECONNECT_MIN_S
        self._next_misc = 0.0

    def wake(self) -> None:
        # A full socketpair means wake-ups are pending already: one is enough.
        with contextlib.suppress(BlockingIOError):
            self._wake_w.send(b"w")

    def step(self, may_read: Callable[[], bool], timeout_s: float) -> None:
        """Wait at most ``timeout_s`` for the broker or a ``wake()``, then do what is due:
        (re)connect, read packets while ``may_read()`` (one message per check, so a bound
        holds exactly), write what paho queued, keep the connection alive."""
        sock = self.client.socket()
        if sock is None:
            self._reconnect(timeout_s)
            return
        if self.client.is_connected():
            self._delay = RECONNECT_MIN_S  # accepted by the broker: the next retry is quick
        wanted = [self._wake_r, sock] if may_read() else [self._wake_r]
        writing = [sock] if self.client.want_write() else []
        readable, _, _ = select.select(wanted, writing, [], max(0.0, timeout_s))
        if self._wake_r in readable:
            self._drain_wake()
        if sock in readable:
            self._read(may_read)
        if self.client.want_write():
            self.client.loop_write()
        if time.monotonic() >= self._next_misc:
            self.client.loop_misc()
            self._next_misc = time.monotonic() + MISC_EVERY_S

    def acknowledge(self, mids: Iterable[int]) -> None:
        """PUBACK each QoS 1 message, all in as few TCP segments as the kernel can: paho sends
        each packet with a send() of its own, so the socket is corked meanwhile (Linux), which
        also spares the broker a read per acknowledgement."""
        sock = self.client.socket()
        if sock is None:
            return  # the broker will redeliver; see ingest.worker.Batch.connection
        with _corked(sock):
            for mid in mids:
                self.client.ack(mid, 1)
            self.client.loop_write()

    def _read(self, may_read: Callable[[], bool]) -> None:
        """Each ``loop_read()`` takes one packet; go on while the socket has more, without a
        select per packet. A call that consumed no whole packet (socket drained, a packet in
        parts, or a non-PUBLISH packet) ends the burst; the next select takes it from there."""
        client = self.client
        for _ in range(BURST):
            if not may_read():
                return
            before = self.messages
            if client.loop_read() != mqtt.MQTT_ERR_SUCCESS or client.socket() is None:
                return
            if self.messages == before:
                return

    def _count_message(
        self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        self.messages += 1
        self._on_message(client, userdata, message)

    def _reconnect(self, timeout_s: float) -> None:
        now = time.monotonic()
        if now < self._next_attempt:
            self._sleep(min(timeout_s, self._next_attempt - now))
            return
        # Every attempt pushes the next one back, not only a failed TCP connect: a broker that
        # accepts the connection and then refuses the client must not be hammered either.
        self._next_attempt = now + self._delay
        self._delay = min(self._delay * 2, RECONNECT_MAX_S)
        try:
            self.client.reconnect()
        except OSError as exc:
            log.warning(
                "broker unreachable (%s); retrying in %.0f s", exc, self._next_attempt - now
            )

    def _sleep(self, seconds: float) -> None:
        readable, _, _ = select.select([self._wake_r], [], [], max(0.0, seconds))
        if readable:
            self._drain_wake()

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(4096):
                pass

    def close(self) -> None:
        """Send DISCONNECT (the session and its unacknowledged messages stay with the broker)
        and close the socket."""
        if self.client.socket() is not None:
            self.client.disconnect()
            self.client.loop_write()  # DISCONNECT; paho then closes the socket
        self._wake_r.close()
        self._wake_w.close()


def _write_later(client: mqtt.Client, userdata: object, sock: object) -> None:
    """Registered so that paho queues packets for ``step()`` to write."""


@contextlib.contextmanager
def _corked(sock: object) -> Iterator[None]:
    """Hold back partial TCP segments while inside (Linux's TCP_CORK; elsewhere, or on a
    TLS or WebSocket wrapper, nothing)."""
    cork = getattr(socket, "TCP_CORK", None)
    if cork is None or type(sock) is not socket.socket:
        yield
        return
    sock.setsockopt(socket.IPPROTO_TCP, cork, 1)
    try:
        yield
    finally:
        if sock.fileno() != -1:
            sock.setsockopt(socket.IPPROTO_TCP, cork, 0)
