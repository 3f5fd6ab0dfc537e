"""One pymodbus client per Modbus line, shared by every driver (unit id) on it.

Devices on one RS-485 adapter are one ``[[sensors]]`` table each, but pymodbus opens a serial
port exclusively, so a second client on the same port could never connect. Drivers on one port
therefore share one client, held here and closed when the last of them closes. A lock gives the
line to one driver for a whole read: RTU frames carry no transaction id, so a request sent while
another driver still waits for its answer could be paired with the wrong reply.

Only the standard library is imported here; the driver passes in how to open its client.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pymodbus.client import ModbusBaseSyncClient


@dataclass(frozen=True, slots=True)
class LineSettings:
    """What every device on one serial port must agree on, since they share one client."""

    baudrate: int
    parity: str
    stopbits: int
    timeout_s: float

    def differences(self, other: LineSettings) -> list[str]:
        """``"baudrate 19200 vs 9600"`` for each setting that differs from ``other``."""
        return [
            f"{spec.name} {getattr(self, spec.name)!r} vs {getattr(other, spec.name)!r}"
            for spec in fields(self)
            if getattr(self, spec.name) != getattr(other, spec.name)
        ]


class ModbusLink:
    """A lazily opened pymodbus client and the lock held for one driver's whole read."""

    def __init__(self, open_client: Callable[[], ModbusBaseSyncClient]) -> None:
        self.lock = threading.Lock()
        self._open_client = open_client
        self._client: ModbusBaseSyncClient | None = None

    def connected_client(self) -> ModbusBaseSyncClient | None:
        """The client, connected and with nothing stale in its input; None if it cannot connect.

        A fresh connection is flushed because bytes a slow device sent after the previous
        connection was given up on may still sit in the adapter's buffer.
        """
        if self._client is None:
            self._client = self._open_client()
        was_connected = getattr(self._client, "socket", None) is not None
        if not self._client.connect():
            self.reset()
            return None
        if not was_connected:
            _flush_input(self._client)
        return self._client

    def reset(self) -> None:
        """Flush and close, so that the next request starts on a clean line (call under lock)."""
        if self._client is not None:
            _flush_input(self._client)
            self._client.close()
            self._client = None


@dataclass(slots=True)
class _SharedLine:
    link: ModbusLink
    settings: LineSettings
    #: driver -> how it is named in errors, e.g. "Modbus RTU /dev/ttyUSB0 unit 1 (rain)"
    users: dict[object, str] = field(default_factory=dict)


_LINES: dict[str, _SharedLine] = {}
_LINES_LOCK = threading.Lock()


def claim_serial_link(
    port: str,
    settings: LineSettings,
    user: object,
    user_name: str,
    open_client: Callable[[], ModbusBaseSyncClient],
) -> ModbusLink:
    """The link every driver on ``port`` shares; ValueError if ``settings`` conflict with it."""
    key = _port_key(port)
    with _LINES_LOCK:
        line = _LINES.get(key)
        if line is None:
            line = _LINES[key] = _SharedLine(ModbusLink(open_client), settings)
        elif settings != line.settings:
            other_name = next(iter(line.users.values()))
            raise ValueError(
                f"[driver] serial_port {port}: {user_name} and {other_name} share the port but "
                f"not its settings ({'; '.join(settings.differences(line.settings))}): devices "
                "on one RS-485 line need the same baudrate, parity, stopbits and timeout_s; "
                "set them alike in both [[sensors]] tables"
            )
        line.users[user] = user_name
        return line.link


def release_serial_link(port: str, user: object) -> None:
    """Forget ``user``; the last user to go closes the port, so another program may open it."""
    key = _port_key(port)
    with _LINES_LOCK:
        line = _LINES.get(key)
        if line is None or line.users.pop(user, None) is None or line.users:
            return
        del _LINES[key]
        with line.link.lock:
            line.link.reset()


def _port_key(port: str) -> str:
    """One key per adapter, so /dev/serial/by-id/... and /dev/ttyUSB0 count as the same port."""
    return os.path.realpath(port) if port.startswith("/") else port


def _flush_input(client: ModbusBaseSyncClient) -> None:
    """Drop unread bytes on a serial port (a TCP socket has no such buffer to flush)."""
    reset_input_buffer = getattr(getattr(client, "socket", None), "reset_input_buffer", None)
    if reset_input_buffer is None:
        return
    with contextlib.suppress(OSError):  # pyserial's SerialException too: a port gone bad
        reset_input_buffer()
