"""The Modbus driver against pymodbus's own server, on a free loopback port, in a thread."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from pymodbus import FramerType
from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.server import ModbusTcpServer

from edge.drivers import load_driver
from edge.drivers.base import DriverError, Sample
from edge.drivers.modbus import ModbusDriver, decode_registers

TS_MS = 1_764_115_200_000


def words(fmt: str, value: float, word_order: str = "big") -> list[int]:
    """The registers a device holds for ``value``: the inverse of what the driver decodes."""
    raw = struct.pack(fmt, value)
    big = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    return big[::-1] if word_order == "little" else big


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ModbusServer:
    """pymodbus's TCP server on its own event loop in a background thread, stoppable at will."""

    def __init__(self, holding: Sequence[int], inputs: Sequence[int], framer: FramerType) -> None:
        # Block address 1 is wire address 0: pymodbus's datastore counts from 1.
        device = ModbusDeviceContext(
            hr=ModbusSequentialDataBlock(1, list(holding)),
            ir=ModbusSequentialDataBlock(1, list(inputs)),
        )
        self.context = ModbusServerContext(devices=device, single=True)
        self.framer = framer
        self.port = free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ModbusTcpServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        assert ready.wait(5), "the server's event loop did not start"
        self._wait_until_listening()

    def _run(self, ready: threading.Event) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            address = ("127.0.0.1", self.port)
            self._server = ModbusTcpServer(self.context, address=address, framer=self.framer)
            ready.set()
            await self._server.serve_forever()

        asyncio.run(serve())

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        if self._thread is None:
            return
        assert self._loop is not None
        assert self._server is not None
        future = asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop)
        future.result(timeout=5)
        self._thread.join(timeout=5)
        assert not self._thread.is_alive(), "the server thread did not stop"
        self._thread = None


SOLAR_W_M2 = 812.5
AIR_RAW = -253  # tenths of a degree
WATER_L = 1_234_567
HOLDING = [*words(">f", SOLAR_W_M2), 0, 0, *words(">I", WATER_L, "little")]
INPUTS = [0] * 10 + words(">h", AIR_RAW)

REGISTERS: list[dict[str, Any]] = [
    {"reading": "solar_radiation", "address": 0, "kind": "holding", "data_type": "float32"},
    {
        "reading": "air_temperature",
        "address": 10,
        "kind": "input",
        "data_type": "int16",
        "scale": 0.1,
    },
    {
        "reading": "water_meter",
        "address": 4,
        "kind": "holding",
        "data_type": "uint32",
        "word_order": "little",
        "offset": 100.0,
    },
]


@pytest.fixture
def server() -> Iterator[ModbusServer]:
    running = ModbusServer(HOLDING, INPUTS, FramerType.SOCKET)
    running.start()
    yield running
    running.stop()


def tcp_driver(port: int, registers: list[dict[str, Any]] = REGISTERS) -> ModbusDriver:
    return ModbusDriver(registers, transport="tcp", host="127.0.0.1", port=port, timeout_s=1.0)


def test_reads_every_register_into_one_sample_in_catalogue_units(server: ModbusServer) -> None:
    driver = tcp_driver(server.port)
    [sample] = driver.read(TS_MS)
    assert sample.values == {
        "solar_radiation": SOLAR_W_M2,
        "air_temperature": pytest.approx(AIR_RAW * 0.1),
        "water_meter": WATER_L + 100.0,
    }
    driver.close()


def test_the_rtu_transport_reads_the_same_map_over_a_serial_link() -> None:
    # pyserial's socket:// URL stands in for the RS-485 adapter; the frames are real RTU.
    server = ModbusServer(HOLDING, INPUTS, FramerType.RTU)
    server.start()
    try:
        driver = ModbusDriver(
            REGISTERS[:1],
            transport="rtu",
            serial_port=f"socket://127.0.0.1:{server.port}",
            baudrate=115200,
            timeout_s=1.0,
        )
        assert driver.read(TS_MS) == [Sample({"solar_radiation": SOLAR_W_M2})]
        driver.close()
    finally:
        server.stop()


def test_a_stopped_server_raises_driver_error_and_a_restarted_one_is_read_again(
    server: ModbusServer,
) -> None:
    driver = tcp_driver(server.port, REGISTERS[:1])
    assert driver.read(TS_MS) == [Sample({"solar_radiation": SOLAR_W_M2})]
    server.stop()
    with pytest.raises(DriverError, match=r"solar_radiation \(holding register 0\)"):
        driver.read(TS_MS)
    with pytest.raises(DriverError, match=f"127.0.0.1:{server.port} unit 1: cannot connect"):
        driver.read(TS_MS)
    server.start()
    assert driver.read(TS_MS) == [Sample({"solar_radiation": SOLAR_W_M2})]
    driver.close()


def test_an_address_the_device_lacks_raises_driver_error_naming_reading_and_address(
    server: ModbusServer,
) -> None:
    missing = {"reading": "battery_voltage", "address": 900, "kind": "input", "data_type": "uint16"}
    driver = tcp_driver(server.port, [REGISTERS[0], missing])
    with pytest.raises(DriverError, match=r"battery_voltage \(input register 900\).*register map"):
        driver.read(TS_MS)
    driver.close()


def test_nothing_listening_raises_driver_error_on_read_not_on_start() -> None:
    driver = tcp_driver(free_port())
    with pytest.raises(DriverError, match="cannot connect"):
        driver.read(TS_MS)
    driver.close()


@pytest.mark.parametrize(
    ("data_type", "fmt", "value"),
    [
        ("int16", ">h", -32768),
        ("uint16", ">H", 65535),
        ("int32", ">i", -2_000_000_000),
        ("uint32", ">I", 4_000_000_000),
        ("float32", ">f", -1.5),
    ],
)
@pytest.mark.parametrize("word_order", ["big", "little"])
def test_decodes_each_data_type_in_either_word_order(
    data_type: str, fmt: str, value: float, word_order: str
) -> None:
    assert decode_registers(words(fmt, value, word_order), data_type, word_order) == value


def test_a_short_response_is_refused() -> None:
    with pytest.raises(ValueError, match="float32 needs 2 register"):
        decode_registers([0x4148], "float32")


RAIN = {"reading": "rain", "address": 0, "kind": "holding", "data_type": "uint16"}


def rain_register(**changes: Any) -> list[dict[str, Any]]:
    """A one-register map that is valid but for ``changes`` (a value of None drops the key)."""
    table = {**RAIN, **changes}
    return [{key: value for key, value in table.items() if value is not None}]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"transport": "udp"}, r"\[driver\] transport 'udp'"),
        ({"host": None}, r"\[driver\] host is required"),
        ({"port": 70000}, r"\[driver\] port must be"),
        ({"unit": 0}, r"\[driver\] unit must be"),
        ({"timeout_s": 0}, r"\[driver\] timeout_s"),
        ({"transport": "rtu"}, r"\[driver\] serial_port is required"),
        ({"transport": "rtu", "serial_port": "/dev/ttyUSB0", "parity": "X"}, "parity 'X'"),
        ({"transport": "rtu", "serial_port": "/dev/ttyUSB0", "stopbits": 3}, "stopbits"),
        ({"registers": []}, r"\[driver\] registers must be a non-empty list"),
        ({"registers": rain_register(reading="soil_temp")}, "'soil_temp' is not in"),
        ({"registers": rain_register(data_type=None)}, r"#1: 'data_type' is required"),
        ({"registers": rain_register(address=-1)}, r"#1 address must be"),
        ({"registers": rain_register(address=65535, data_type="int32")}, "runs past"),
        ({"registers": rain_register(kind="coil")}, "kind 'coil'"),
        ({"registers": rain_register(data_type="float64")}, "data_type 'float64'"),
        ({"registers": rain_register(word_order="middle")}, "word_order 'middle'"),
        ({"registers": rain_register(scale="10")}, "scale must be"),
        ({"registers": rain_register(unit=2)}, "unknown key 'unit'"),
        (
            {"registers": rain_register() + rain_register(address=1)},
            "'rain' is mapped more than once",
        ),
    ],
)
def test_bad_options_are_refused_naming_the_option(options: dict[str, Any], message: str) -> None:
    config: dict[str, Any] = {"host": "127.0.0.1", "registers": REGISTERS} | options
    with pytest.raises(ValueError, match=message):
        ModbusDriver(**config)


def test_the_registry_builds_it_by_name(server: ModbusServer) -> None:
    options = {"host": "127.0.0.1", "port": server.port, "registers": REGISTERS[:1]}
    driver = load_driver("modbus", options)
    assert driver.read(TS_MS) == [Sample({"solar_radiation": SOLAR_W_M2})]
    driver.close()
