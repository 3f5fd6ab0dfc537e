"""The Modbus driver against pymodbus's own server, on a free loopback port, in a thread."""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import os
import select
import socket
import struct
import threading
import time
import tty
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from pymodbus import FramerType
from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.framer.rtu import FramerRTU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator.simcore import SimCore

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
        ({"registers": rain_register(error_values=65535)}, "error_values must be a list"),
        ({"registers": rain_register(error_values=[70000])}, r"error_values .* 0\.\.65535"),
        ({"registers": rain_register(error_values=[-1])}, "error_values must be"),
        ({"registers": rain_register(error_values=[True])}, "error_values must be"),
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


# A slow RS-485 device: RTU frames carry no transaction id, so a late answer looks exactly like
# the answer to whatever was asked next.

SOIL_HOLDING = [150, 285, 412]
SOIL_REGISTERS: list[dict[str, Any]] = [
    {"reading": reading, "address": address, "kind": "holding", "data_type": "uint16", "scale": 0.1}
    for address, reading in enumerate(
        ["soil_moisture_10cm", "soil_temperature", "soil_moisture_30cm"]
    )
]
SOIL_VALUES = {"soil_moisture_10cm": 15.0, "soil_temperature": 28.5, "soil_moisture_30cm": 41.2}
RTU_TIMEOUT_S = 0.4


def answer_late(monkeypatch: pytest.MonkeyPatch, delay_s: float, times: int | None = None) -> None:
    """Make pymodbus's server answer ``delay_s`` late: the first ``times`` requests, or all.

    The delay blocks the server's event loop, as a device's single busy thread would: requests
    queue up and are answered in order, each one late.
    """
    original = SimCore.async_getValues
    served = itertools.count()

    async def late(self: SimCore, *args: Any, **kwargs: Any) -> Any:
        if times is None or next(served) < times:
            time.sleep(delay_s)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(SimCore, "async_getValues", late)


@pytest.fixture
def rtu_server() -> Iterator[ModbusServer]:
    running = ModbusServer(SOIL_HOLDING, [0], FramerType.RTU)
    running.start()
    yield running
    running.stop()


def soil_probe(server: ModbusServer) -> ModbusDriver:
    # pyserial's socket:// URL stands in for the RS-485 adapter; the frames are real RTU.
    return ModbusDriver(
        SOIL_REGISTERS,
        transport="rtu",
        serial_port=f"socket://127.0.0.1:{server.port}",
        baudrate=115200,
        timeout_s=RTU_TIMEOUT_S,
    )


def test_a_device_answering_after_the_timeout_fails_each_read_without_retrying(
    monkeypatch: pytest.MonkeyPatch, rtu_server: ModbusServer
) -> None:
    answer_late(monkeypatch, delay_s=1.5 * RTU_TIMEOUT_S)
    driver = soil_probe(rtu_server)
    try:
        for _ in range(2):
            started = time.monotonic()
            # A late answer must never come back as the next register's value.
            with pytest.raises(DriverError, match=r"soil_moisture_10cm \(holding register 0\)"):
                driver.read(TS_MS)
            assert time.monotonic() - started < 2 * RTU_TIMEOUT_S, "a retry was sent"
    finally:
        driver.close()


def test_after_one_late_answer_the_next_read_puts_every_value_under_its_own_name(
    monkeypatch: pytest.MonkeyPatch, rtu_server: ModbusServer
) -> None:
    delay_s = 1.5 * RTU_TIMEOUT_S
    answer_late(monkeypatch, delay_s, times=1)
    driver = soil_probe(rtu_server)
    try:
        with pytest.raises(DriverError, match="soil_moisture_10cm"):
            driver.read(TS_MS)
        time.sleep(delay_s)  # the late answer has now been sent, to a connection given up on
        [sample] = driver.read(TS_MS)
        assert sample.values == pytest.approx(SOIL_VALUES)
    finally:
        driver.close()


# Several devices on one RS-485 adapter: one [[sensors]] table, one driver, per unit id.


class RtuLine:
    """A pseudo-terminal standing in for an RS-485 adapter, with devices answering on it.

    pyserial opens the pty's path like /dev/ttyUSB0 (exclusively, as pymodbus asks); a thread
    on the other end answers read requests for each unit in ``units`` from its registers.
    """

    def __init__(self, units: Mapping[int, Sequence[int]]) -> None:
        self.units = units
        self._device_end, self._adapter_end = os.openpty()
        tty.setraw(self._adapter_end)
        self.port = os.ttyname(self._adapter_end)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._answer_requests, daemon=True)
        self._thread.start()

    def _answer_requests(self) -> None:
        received = b""
        while not self._stopped.is_set():
            if not select.select([self._device_end], [], [], 0.05)[0]:
                continue
            received += os.read(self._device_end, 256)
            while len(received) >= 8:  # a read request is 8 bytes
                request, received = received[:8], received[8:]
                os.write(self._device_end, self._reply(request))

    def _reply(self, request: bytes) -> bytes:
        unit, function, address, count = struct.unpack(">BBHH", request[:6])
        registers = self.units[unit][address : address + count]
        frame = struct.pack(f">BBB{count}H", unit, function, 2 * count, *registers)
        return frame + FramerRTU.compute_CRC(frame).to_bytes(2, "big")

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        os.close(self._device_end)
        os.close(self._adapter_end)


@pytest.fixture
def rs485() -> Iterator[RtuLine]:
    line = RtuLine({1: [153], 2: [287]})
    yield line
    line.stop()


def device_on(port: str, unit: int, reading: str, **settings: Any) -> ModbusDriver:
    register = {"reading": reading, "address": 0, "kind": "holding", "data_type": "uint16"}
    return ModbusDriver(
        [register | {"scale": 0.1}],
        transport="rtu",
        serial_port=port,
        unit=unit,
        timeout_s=0.5,
        **settings,
    )


def test_two_devices_on_one_serial_port_are_both_read_every_time(rs485: RtuLine) -> None:
    probe = device_on(rs485.port, 1, "soil_moisture_10cm")
    station = device_on(rs485.port, 2, "air_temperature")
    try:
        for _ in range(3):
            assert probe.read(TS_MS)[0].values == pytest.approx({"soil_moisture_10cm": 15.3})
            assert station.read(TS_MS)[0].values == pytest.approx({"air_temperature": 28.7})
        probe.close()
        assert station.read(TS_MS)[0].values == pytest.approx({"air_temperature": 28.7})
    finally:
        probe.close()
        station.close()


def test_reads_from_two_threads_on_one_port_take_turns(rs485: RtuLine) -> None:
    drivers = {
        "soil_moisture_10cm": device_on(rs485.port, 1, "soil_moisture_10cm"),
        "air_temperature": device_on(rs485.port, 2, "air_temperature"),
    }
    expected = {"soil_moisture_10cm": 15.3, "air_temperature": 28.7}
    wrong: list[object] = []

    def read_often(reading: str) -> None:
        for _ in range(10):
            try:
                values = drivers[reading].read(TS_MS)[0].values
            except DriverError as exc:
                wrong.append(exc)
                continue
            if values != pytest.approx({reading: expected[reading]}):
                wrong.append(values)

    threads = [threading.Thread(target=read_often, args=(reading,)) for reading in drivers]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
    finally:
        for driver in drivers.values():
            driver.close()
    assert wrong == []


def is_free(port: str) -> bool:
    """Whether the port could be opened exclusively, as pyserial does it (an flock)."""
    handle = os.open(port, os.O_RDWR | os.O_NOCTTY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(handle)
    return True


def test_the_port_is_released_when_the_last_device_on_it_closes(rs485: RtuLine) -> None:
    probe = device_on(rs485.port, 1, "soil_moisture_10cm")
    station = device_on(rs485.port, 2, "air_temperature")
    probe.read(TS_MS)
    station.read(TS_MS)
    probe.close()
    assert not is_free(rs485.port), "the station's driver no longer holds the port"
    station.close()
    assert is_free(rs485.port)
    # Nor are the old settings kept: the port is free for a device on another baud rate.
    device_on(rs485.port, 1, "soil_moisture_10cm", baudrate=19200).close()


def test_settings_that_conflict_on_one_port_are_refused_naming_both_devices() -> None:
    port = "/dev/ttyUSB-isanfarm-test"  # never opened: the check happens at start-up
    probe = device_on(port, 1, "soil_moisture_10cm", baudrate=9600)
    try:
        with pytest.raises(
            ValueError,
            match=r"unit 2 \(air_temperature\) and .* unit 1 \(soil_moisture_10cm\) share the "
            r"port but not its settings \(baudrate 19200 vs 9600; parity 'E' vs 'N'\)",
        ):
            device_on(port, 2, "air_temperature", baudrate=19200, parity="E")
    finally:
        probe.close()


# Sensor error codes: a probe that cannot measure puts a code in the register.

ERROR_CODES = [0xFFFF, 0x7FFF, 0x8000]


@pytest.fixture
def faulty_probe() -> Iterator[ModbusServer]:
    running = ModbusServer([*ERROR_CODES, 285, 0x0000, 0x7FC0], [0], FramerType.SOCKET)
    running.start()
    yield running
    running.stop()


REGISTERS_WITH_MOISTURE: list[dict[str, Any]] = [
    {"reading": "soil_moisture_10cm", "address": 3, "kind": "holding", "data_type": "uint16"}
]


def soil_temperature_at(address: int, **options: Any) -> list[dict[str, Any]]:
    register = {"reading": "soil_temperature", "address": address, "kind": "holding"}
    return [register | {"data_type": "int16", "scale": 0.1} | options]


@pytest.mark.parametrize(("address", "code"), list(enumerate(ERROR_CODES)))
def test_a_register_holding_one_of_its_error_values_fails_the_read_naming_code_and_device(
    faulty_probe: ModbusServer, address: int, code: int
) -> None:
    registers = soil_temperature_at(address, error_values=ERROR_CODES)
    driver = tcp_driver(faulty_probe.port, REGISTERS_WITH_MOISTURE + registers)
    try:
        with pytest.raises(
            DriverError,
            match=f"unit 1: soil_temperature \\(holding register {address}\\) holds {code} "
            f"\\(0x{code:04X}\\), which its error_values list",
        ):
            driver.read(TS_MS)
    finally:
        driver.close()


def test_a_value_not_listed_in_error_values_is_read_as_a_number(faulty_probe: ModbusServer) -> None:
    # No codes are assumed: for some probes 0xFFFF is a real reading (-0.1 °C here).
    driver = tcp_driver(faulty_probe.port, soil_temperature_at(0, error_values=[32767]))
    try:
        assert driver.read(TS_MS)[0].values == pytest.approx({"soil_temperature": -0.1})
    finally:
        driver.close()


def test_a_32_bit_error_value_is_both_registers_as_one_number_in_word_order(
    faulty_probe: ModbusServer,
) -> None:
    nan_code = 0x7FC00000  # a float32 quiet NaN, low word first at addresses 4 and 5
    register = {"reading": "solar_radiation", "address": 4, "kind": "holding"}
    options = {"data_type": "float32", "word_order": "little", "error_values": [nan_code]}
    driver = tcp_driver(faulty_probe.port, [register | options])
    try:
        with pytest.raises(DriverError, match=f"holds {nan_code} \\(0x7FC00000\\)"):
            driver.read(TS_MS)
    finally:
        driver.close()


def test_a_float32_read_with_its_words_swapped_into_a_subnormal_fails_the_read() -> None:
    """28.5 stored low word first and read high word first is 2.4e-41, which passed as 0 °C.
    Only some swaps land there (a low word under 0x0080); others give ordinary wrong numbers,
    which only the right word_order cures."""
    running = ModbusServer([*words(">f", 28.5, "little")], [0], FramerType.SOCKET)
    running.start()
    register = {"reading": "air_temperature", "address": 0, "kind": "holding"}
    driver = tcp_driver(running.port, [register | {"data_type": "float32"}])
    try:
        with pytest.raises(DriverError, match="word order is probably wrong: try word_order"):
            driver.read(TS_MS)
    finally:
        driver.close()
        running.stop()


def scripted_rain_totals(driver: ModbusDriver, totals: list[int]) -> None:
    """The device's running rain total (tenths of mm) at successive reads. Pure logic, so the
    words are scripted instead of served."""
    remaining = iter(totals)
    driver._read_words = lambda link: {"rain": [next(remaining)]}  # type: ignore[method-assign]


def test_a_running_rain_total_is_reported_as_the_rain_since_the_previous_read(
    server: ModbusServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A weather station counting rain since power-on was stored as if each total had fallen in
    one interval: the same 123.4 mm three intervals running."""
    register = {**RAIN, "scale": 0.1, "cumulative": True}
    driver = tcp_driver(server.port, [register])
    scripted_rain_totals(driver, [1234, 1234, 1250, 3, 10])
    try:
        readings = [driver.read(TS_MS + n * 600_000)[0].values for n in range(5)]
    finally:
        driver.close()
    assert readings == [
        {},  # the first total is a baseline
        {"rain": 0.0},
        {"rain": pytest.approx(1.6)},
        {},  # the station restarted its count: unknown, not sent
        {"rain": pytest.approx(0.7)},
    ]
    assert "went down from 125 to 0.3" in caplog.text


def test_cumulative_must_be_true_or_false() -> None:
    with pytest.raises(ValueError, match="cumulative must be true or false"):
        ModbusDriver([{**RAIN, "cumulative": "yes"}], transport="tcp", host="127.0.0.1")
