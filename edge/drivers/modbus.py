"""Modbus sensors and meters (RTU over RS-485, or TCP), read with pymodbus as the client.

Soil probes, pyranometers, barn scales and water meters speak Modbus; what differs is a
register map, so the map is config: each ``[[driver.registers]]`` table names a catalogue
reading, where its value sits and how to decode it (``value = raw * scale + offset``).

Addresses are the zero-based addresses on the wire. A datasheet that lists "40001" or
"30001" style numbers means holding or input address 0 for those.

pymodbus is imported here only, so gateways without Modbus never need it. Registers are
decoded with ``struct`` rather than pymodbus's helpers, whose signatures changed between 3.x
releases.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge.drivers.base import DriverError, Sample, check_reading_name

if TYPE_CHECKING:
    from pymodbus.client import ModbusBaseSyncClient

TRANSPORTS = ("tcp", "rtu")
KINDS = ("holding", "input")
#: data type -> (struct format of its big-endian bytes, registers it spans)
DATA_TYPES: Mapping[str, tuple[str, int]] = {
    "int16": (">h", 1),
    "uint16": (">H", 1),
    "int32": (">i", 2),
    "uint32": (">I", 2),
    "float32": (">f", 2),
}
WORD_ORDERS = ("big", "little")
PARITIES = ("N", "E", "O")
_REGISTER_KEYS = frozenset(
    {"reading", "address", "kind", "data_type", "scale", "offset", "word_order"}
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

    @property
    def count(self) -> int:
        return DATA_TYPES[self.data_type][1]


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
        self._client: ModbusBaseSyncClient | None = None

    @property
    def endpoint(self) -> str:
        if self.transport == "tcp":
            return f"Modbus TCP {self.host}:{self.port} unit {self.unit}"
        return f"Modbus RTU {self.serial_port} unit {self.unit}"

    def read(self, ts_ms: int) -> Sequence[Sample]:
        client = self._connected_client()
        return [Sample({r.reading: self._read_register(client, r) for r in self.registers})]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _connected_client(self) -> ModbusBaseSyncClient:
        if self._client is None:
            self._client = self._new_client()
        if not self._client.connect():
            self.close()
            fix = (
                "check that the device is powered and reachable, and host and port"
                if self.transport == "tcp"
                else "check serial_port and that no other program holds it open"
            )
            raise DriverError(f"{self.endpoint}: cannot connect; {fix}")
        return self._client

    def _new_client(self) -> ModbusBaseSyncClient:
        from pymodbus.client import ModbusSerialClient, ModbusTcpClient

        if self.transport == "tcp":
            assert self.host is not None
            return ModbusTcpClient(self.host, port=self.port, timeout=self.timeout_s)
        assert self.serial_port is not None
        try:
            return ModbusSerialClient(
                self.serial_port,
                baudrate=self.baudrate,
                parity=self.parity,
                stopbits=self.stopbits,
                timeout=self.timeout_s,
            )
        except RuntimeError as exc:  # pyserial is missing
            raise DriverError(f"{self.endpoint}: {exc}; install isanfarm[pi]") from None

    def _read_register(self, client: ModbusBaseSyncClient, reg: Register) -> float:
        from pymodbus.exceptions import ModbusException

        where = f"{self.endpoint}: {reg.reading} ({reg.kind} register {reg.address})"
        call = (
            client.read_holding_registers if reg.kind == "holding" else client.read_input_registers
        )
        try:
            response = call(reg.address, count=reg.count, device_id=self.unit)
        except (ModbusException, OSError) as exc:
            self.close()  # the link is in an unknown state: start afresh on the next read
            raise DriverError(
                f"{where}: {exc}; check the cable, the unit id and timeout_s"
            ) from None
        if response.isError():
            raise DriverError(
                f"{where}: the device answered with an error ({response}); check the address "
                "and kind against its register map"
            )
        try:
            raw = decode_registers(response.registers, reg.data_type, reg.word_order)
        except ValueError as exc:
            raise DriverError(
                f"{where}: {exc}; check the address, kind and data_type against its register map"
            ) from None
        return raw * reg.scale + reg.offset


def decode_registers(words: Sequence[int], data_type: str, word_order: str = "big") -> float:
    """The number that 16-bit ``words`` hold; ``word_order="little"`` puts the low word first."""
    fmt, count = DATA_TYPES[data_type]
    if len(words) != count:
        raise ValueError(f"{data_type} needs {count} register(s), the device sent {len(words)}")
    ordered = list(reversed(words)) if word_order == "little" else list(words)
    value: float = struct.unpack(fmt, b"".join(w.to_bytes(2, "big") for w in ordered))[0]
    return value


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
    register = Register(**table)
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
