"""Modbus sensors and meters (RTU over RS-485, or TCP), read with pymodbus as the client.

Soil probes, pyranometers, barn scales and water meters speak Modbus; what differs is a
register map, so the map is config: each ``[[driver.registers]]`` table names a catalogue
reading, where its value sits and how to decode it (``value = raw * scale + offset``).

Addresses are the zero-based addresses on the wire. A datasheet that lists "40001" or
"30001" style numbers means holding or input address 0 for those.

A probe that cannot measure often says so with a code in the register (0xFFFF, 0x7FFF...)
which would decode as a plausible number (-0.1 °C); ``error_values`` lists a register's codes
from its datasheet so that they fail the read instead. There are no defaults: codes differ
between probes, and 0xFFFF is a real reading for some.

Each device (unit id) is one driver; drivers on one serial port share one client and take turns
(see ``edge.drivers.modbus_line``). RTU frames carry no transaction id, so a late answer is
indistinguishable from the answer to the next request: RTU requests are never retried, and after
a timeout or an error the read stops and the line is flushed and closed.

pymodbus is imported here only, so gateways without Modbus never need it. Registers are
decoded with ``struct`` rather than pymodbus's helpers, whose signatures changed between 3.x
releases.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from edge.drivers.base import DriverError, Sample, check_reading_name
from edge.drivers.modbus_line import (
    LineSettings,
    ModbusLink,
    claim_serial_link,
    release_serial_link,
)

if TYPE_CHECKING:
    from pymodbus.client import ModbusBaseSyncClient

TRANSPORTS = ("tcp", "rtu")
log = logging.getLogger(__name__)

KINDS = ("holding", "input")
#: data type -> (struct format of its big-endian bytes, registers it spans)
DATA_TYPES: Mapping[str, tuple[str, int]] = {
    "int16": (">h", 1),
    "uint16": (">H", 1),
    "int32": (">i", 2),
    "uint32": (">I", 2),
    "float32": (">f", 2),
}
#: The smallest positive normal float32: anything closer to zero is subnormal.
FLOAT32_SMALLEST_NORMAL = 1.1754943508222875e-38
WORD_ORDERS = ("big", "little")
PARITIES = ("N", "E", "O")
_REGISTER_KEYS = frozenset(
    {
        "reading",
        "address",
        "kind",
        "data_type",
        "scale",
        "offset",
        "word_order",
        "error_values",
        "cumulative",
    }
)


@dataclass(frozen=True, slots=True)
class Register:
    """Where one reading lives in the device's register map and how to turn it into units."""

    reading: str
    address: int
    kind: str
    data_type: str
    scale: float = 1.0
    offset: float = 0.0
    word_order: str = "big"
    #: Raw values (the register, or both as one unsigned number) that mean "sensor fault".
    error_values: tuple[int, ...] = ()
    #: The device keeps a running total (many weather stations count rain since power-on):
    #: the reading is its increase since the previous read, not the total.
    cumulative: bool = False

    @property
    def count(self) -> int:
        return DATA_TYPES[self.data_type][1]

    @property
    def location(self) -> str:
        return f"{self.reading} ({self.kind} register {self.address})"


class ModbusDriver:
    """One Modbus device (one unit id) per driver; connects on first read, again after errors."""

    def __init__(
        self,
        registers: Sequence[Mapping[str, Any]] = (),
        transport: str = "tcp",
        host: str | None = None,
        port: int = 502,
        serial_port: str | None = None,
        baudrate: int = 9600,
        parity: str = "N",
        stopbits: int = 1,
        unit: int = 1,
        timeout_s: float = 3.0,
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(
                f"[driver] transport {transport!r} is unknown: use one of {', '.join(TRANSPORTS)}"
            )
        if transport == "tcp":
            _check_tcp(host, port)
        else:
            _check_rtu(serial_port, baudrate, parity, stopbits)
        _check_int("unit", unit, 1, 247, "the device's Modbus address, 1..247")
        if not _is_number(timeout_s) or timeout_s <= 0:
            raise ValueError(f"[driver] timeout_s must be a number > 0, got {timeout_s!r}")
        self.transport, self.host, self.port = transport, host, port
        self.serial_port, self.baudrate = serial_port, baudrate
        self.parity, self.stopbits = parity, stopbits
        self.unit, self.timeout_s = unit, float(timeout_s)
        self.registers = parse_registers(registers)
        #: The last total of each cumulative register, for the next read's increase.
        self._totals: dict[str, float] = {}
        self._link: ModbusLink | None = self._claim_link()

    @property
    def endpoint(self) -> str:
        if self.transport == "tcp":
            return f"Modbus TCP {self.host}:{self.port} unit {self.unit}"
        return f"Modbus RTU {self.serial_port} unit {self.unit}"

    def read(self, ts_ms: int) -> Sequence[Sample]:
        if self._link is None:  # read again after close()
            self._link = self._claim_link()
        with self._link.lock:
            words = self._read_words(self._link)
        values = {reg.reading: self._value(reg, words[reg.reading]) for reg in self.registers}
        for reg in self.registers:
            if reg.cumulative:
                increase = self._increase(reg, values.pop(reg.reading))
                if increase is not None:
                    values[reg.reading] = increase
        return [Sample(values)]

    def _increase(self, reg: Register, total: float) -> float | None:
        """How much a running total grew since the previous read; None when that is unknown:
        at the first read (a baseline), and when the total went down (the device restarted its
        count, or it wrapped), which is said once per occurrence."""
        previous, self._totals[reg.reading] = self._totals.get(reg.reading), total
        if previous is None:
            return None
        if total < previous:
            log.warning(
                "%s: %s went down from %g to %g: the device restarted its count (or it "
                "wrapped); this interval's increase is unknown and not sent",
                self.endpoint,
                reg.location,
                previous,
                total,
            )
            return None
        return total - previous

    def close(self) -> None:
        if self._link is None:
            return
        if self.transport == "rtu":
            assert self.serial_port is not None
            release_serial_link(self.serial_port, self)
        else:
            with self._link.lock:
                self._link.reset()
        self._link = None

    def _claim_link(self) -> ModbusLink:
        """A TCP device gets its own connection; an RTU device shares its port's client."""
        if self.transport == "tcp":
            assert self.host is not None
            return ModbusLink(partial(_tcp_client, self.host, self.port, self.timeout_s))
        assert self.serial_port is not None
        settings = LineSettings(self.baudrate, self.parity, self.stopbits, self.timeout_s)
        readings = ", ".join(reg.reading for reg in self.registers)
        return claim_serial_link(
            self.serial_port,
            settings,
            user=self,
            user_name=f"{self.endpoint} ({readings})",
            open_client=partial(_serial_client, self.serial_port, settings, self.endpoint),
        )

    def _read_words(self, link: ModbusLink) -> dict[str, list[int]]:
        """Every register's raw words, by reading; on any failure, DriverError and a reset link.

        After a timeout the device may still answer, and an RTU answer names no request: any
        further request in this read could be paired with it. So the first failure ends the
        read, and the line is flushed and closed before anyone uses it again.
        """
        client = link.connected_client()
        if client is None:
            fix = (
                "check that the device is powered and reachable, and host and port"
                if self.transport == "tcp"
                else "check serial_port and that no other program holds it open"
            )
            raise DriverError(f"{self.endpoint}: cannot connect; {fix}")
        try:
            return {reg.reading: self._request(client, reg) for reg in self.registers}
        except DriverError:
            link.reset()
            raise

    def _request(self, client: ModbusBaseSyncClient, reg: Register) -> list[int]:
        from pymodbus.exceptions import ModbusException

        where = f"{self.endpoint}: {reg.location}"
        call = (
            client.read_holding_registers if reg.kind == "holding" else client.read_input_registers
        )
        try:
            response = call(reg.address, count=reg.count, device_id=self.unit)
        except (ModbusException, OSError) as exc:
            raise DriverError(
                f"{where}: {exc}; check the cable, the unit id and timeout_s"
            ) from None
        if response.isError():
            raise DriverError(
                f"{where}: the device answered with an error ({response}); check the address "
                "and kind against its register map"
            )
        if len(response.registers) != reg.count:
            raise DriverError(
                f"{where}: a {reg.data_type} needs {reg.count} register(s), the device sent "
                f"{len(response.registers)}; check the address, kind and data_type against its "
                "register map"
            )
        return list(response.registers)

    def _value(self, reg: Register, words: Sequence[int]) -> float:
        code = raw_value(words, reg.word_order)
        if code in reg.error_values:
            raise DriverError(
                f"{self.endpoint}: {reg.location} holds {code} (0x{code:0{4 * len(words)}X}), "
                "which its error_values list as a sensor fault code; check the probe's wiring "
                "and placement against its datasheet"
            )
        value = decode_registers(words, reg.data_type, reg.word_order)
        if reg.data_type == "float32" and 0 < abs(value) < FLOAT32_SMALLEST_NORMAL:
            # No sensor reports 1e-38 of anything: this is a real value read with its two
            # words swapped (28.5 read low word first is 2.4e-41), which would pass as ~0.
            raise DriverError(
                f"{self.endpoint}: {reg.location} decodes to {value:g}, a float32 no sensor "
                f"sends; the word order is probably wrong: try word_order = "
                f'"{"big" if reg.word_order == "little" else "little"}"'
            )
        return value * reg.scale + reg.offset


def _tcp_client(host: str, port: int, timeout_s: float) -> ModbusBaseSyncClient:
    from pymodbus.client import ModbusTcpClient

    return ModbusTcpClient(host, port=port, timeout=timeout_s)


def _serial_client(port: str, settings: LineSettings, endpoint: str) -> ModbusBaseSyncClient:
    """A client that never retries: a retry on RTU pairs the late answer with the next request."""
    from pymodbus.client import ModbusSerialClient

    try:
        return ModbusSerialClient(
            port,
            baudrate=settings.baudrate,
            parity=settings.parity,
            stopbits=settings.stopbits,
            timeout=settings.timeout_s,
            retries=0,
        )
    except RuntimeError as exc:  # pyserial is missing
        raise DriverError(f"{endpoint}: {exc}; install isanfarm[pi]") from None


def raw_value(words: Sequence[int], word_order: str = "big") -> int:
    """The registers as one unsigned number, as ``error_values`` lists them (0xFFFF = 65535)."""
    return int.from_bytes(_ordered_bytes(words, word_order), "big")


def decode_registers(words: Sequence[int], data_type: str, word_order: str = "big") -> float:
    """The number that 16-bit ``words`` hold; ``word_order="little"`` puts the low word first."""
    fmt, count = DATA_TYPES[data_type]
    if len(words) != count:
        raise ValueError(f"{data_type} needs {count} register(s), the device sent {len(words)}")
    value: float = struct.unpack(fmt, _ordered_bytes(words, word_order))[0]
    return value


def _ordered_bytes(words: Sequence[int], word_order: str) -> bytes:
    ordered = list(reversed(words)) if word_order == "little" else list(words)
    return b"".join(w.to_bytes(2, "big") for w in ordered)


def parse_registers(tables: object) -> tuple[Register, ...]:
    if not isinstance(tables, list | tuple) or not tables:
        raise ValueError(
            "[driver] registers must be a non-empty list of tables: add "
            "[[driver.registers]] tables with reading, address, kind and data_type"
        )
    registers = tuple(_register(i, table) for i, table in enumerate(tables, start=1))
    readings = [r.reading for r in registers]
    for reading in readings:
        if readings.count(reading) > 1:
            raise ValueError(
                f"[driver] registers: reading {reading!r} is mapped more than once: "
                "keep one register per reading"
            )
    return registers


def _register(number: int, table: object) -> Register:
    where = f"[[driver.registers]] #{number}"
    if not isinstance(table, Mapping):
        raise ValueError(f"{where}: expected a table, got {table!r}")
    unknown = sorted(set(table) - _REGISTER_KEYS)
    if unknown:
        raise ValueError(
            f"{where}: unknown key {unknown[0]!r}: use {', '.join(sorted(_REGISTER_KEYS))}"
        )
    missing = [key for key in ("reading", "address", "kind", "data_type") if key not in table]
    if missing:
        raise ValueError(
            f"{where}: {missing[0]!r} is required: give reading, address, kind and data_type "
            "for every register"
        )
    fields = dict(table)
    if isinstance(fields.get("error_values"), list | tuple):
        fields["error_values"] = tuple(fields["error_values"])
    register = Register(**fields)
    _check_register(where, register)
    return register


def _check_register(where: str, reg: Register) -> None:
    check_reading_name(reg.reading, where)
    _check_int(f"{where} address", reg.address, 0, 65535, "the zero-based register address")
    for name, value, allowed in (
        ("kind", reg.kind, KINDS),
        ("data_type", reg.data_type, tuple(DATA_TYPES)),
        ("word_order", reg.word_order, WORD_ORDERS),
    ):
        if value not in allowed:
            raise ValueError(
                f"{where}: {name} {value!r} is unknown: use one of {', '.join(allowed)}"
            )
    if reg.address + reg.count > 65536:
        raise ValueError(f"{where}: a {reg.data_type} at {reg.address} runs past address 65535")
    for name, number in (("scale", reg.scale), ("offset", reg.offset)):
        if not _is_number(number):
            raise ValueError(f"{where}: {name} must be a number, got {number!r}")
    if not isinstance(reg.cumulative, bool):
        raise ValueError(
            f"{where}: cumulative must be true or false, got {reg.cumulative!r}: true when the "
            "device counts a running total (rain since power-on)"
        )
    _check_error_values(where, reg)


def _check_error_values(where: str, reg: Register) -> None:
    """Codes are raw unsigned values, so a typo like -1 or 0xFFFF on a 32-bit register shows."""
    highest = 2 ** (16 * reg.count) - 1
    codes = reg.error_values
    if not isinstance(codes, tuple) or any(
        isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= highest
        for code in codes
    ):
        raise ValueError(
            f"{where}: error_values must be a list of raw register values in 0..{highest} "
            f"for a {reg.data_type} (e.g. [65535, 32767] from the probe's datasheet), "
            f"got {codes!r}"
        )


def _check_tcp(host: object, port: object) -> None:
    if not isinstance(host, str) or not host:
        raise ValueError(
            "[driver] host is required for transport 'tcp': set it to the device's or the "
            "Modbus gateway's IP address"
        )
    _check_int("port", port, 1, 65535, "usually 502")


def _check_rtu(serial_port: object, baudrate: object, parity: object, stopbits: object) -> None:
    if not isinstance(serial_port, str) or not serial_port:
        raise ValueError(
            "[driver] serial_port is required for transport 'rtu': set it to the RS-485 "
            "adapter, e.g. /dev/ttyUSB0"
        )
    _check_int("baudrate", baudrate, 300, 921_600, "the device's setting, often 9600")
    if parity not in PARITIES:
        raise ValueError(f"[driver] parity {parity!r} is unknown: use one of {', '.join(PARITIES)}")
    if stopbits not in (1, 2) or isinstance(stopbits, bool):
        raise ValueError(f"[driver] stopbits must be 1 or 2, got {stopbits!r}")


def _check_int(name: str, value: object, low: int, high: int, hint: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        option = name if name.startswith("[") else f"[driver] {name}"
        raise ValueError(f"{option} must be an integer in {low}..{high} ({hint}), got {value!r}")


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)
