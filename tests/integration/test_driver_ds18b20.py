"""The DS18B20 driver against a fake 1-wire sysfs tree laid out as the kernel lays it out."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.drivers import load_driver
from edge.drivers.base import DriverError, Sample
from edge.drivers.ds18b20 import Ds18b20Driver, parse_w1_slave

PROBE = "28-0316a2795dff"
OTHER_PROBE = "28-04170181a1ff"
TS_MS = 1_764_115_200_000


def w1_slave(millidegrees: int, crc_ok: bool = True) -> str:
    """The two lines the w1_therm kernel module writes (scratchpad bytes, CRC verdict, t=)."""
    scratchpad = "72 01 4b 46 7f ff 0e 10 57"
    verdict = "YES" if crc_ok else "NO"
    return f"{scratchpad} : crc=57 {verdict}\n{scratchpad} t={millidegrees}\n"


def add_probe(base_dir: Path, sensor_id: str, text: str) -> None:
    (base_dir / sensor_id).mkdir(parents=True)
    (base_dir / sensor_id / "w1_slave").write_text(text)


@pytest.fixture
def bus(tmp_path: Path) -> Path:
    """An empty bus: only the master's own directory, which is not a probe."""
    (tmp_path / "w1_bus_master1").mkdir()
    return tmp_path


@pytest.mark.parametrize("millidegrees", [23125, -10125, 0, 84937])
def test_reads_the_named_probe_in_degrees_celsius(bus: Path, millidegrees: int) -> None:
    add_probe(bus, PROBE, w1_slave(millidegrees))
    add_probe(bus, OTHER_PROBE, w1_slave(millidegrees + 1000))
    driver = Ds18b20Driver(sensor_id=PROBE, base_dir=str(bus))
    assert driver.read(TS_MS) == [Sample({"soil_temperature": millidegrees / 1000})]


def test_finds_the_only_probe_when_no_sensor_id_is_given(bus: Path) -> None:
    add_probe(bus, PROBE, w1_slave(27500))
    driver = Ds18b20Driver(reading="air_temperature", base_dir=str(bus))
    assert driver.read(TS_MS) == [Sample({"air_temperature": 27.5})]
    assert driver.sensor_id == PROBE


def test_several_probes_without_sensor_id_raise_naming_each_of_them(bus: Path) -> None:
    add_probe(bus, PROBE, w1_slave(27500))
    add_probe(bus, OTHER_PROBE, w1_slave(26000))
    with pytest.raises(DriverError, match="sensor_id") as caught:
        Ds18b20Driver(base_dir=str(bus)).read(TS_MS)
    assert PROBE in str(caught.value)
    assert OTHER_PROBE in str(caught.value)


def test_an_empty_bus_raises_driver_error_pointing_at_the_wiring(bus: Path) -> None:
    with pytest.raises(DriverError, match=r"no probe .* pull-up"):
        Ds18b20Driver(base_dir=str(bus)).read(TS_MS)


def test_a_probe_plugged_in_after_start_up_is_found_on_a_later_read(bus: Path) -> None:
    driver = Ds18b20Driver(base_dir=str(bus))
    with pytest.raises(DriverError):
        driver.read(TS_MS)
    add_probe(bus, PROBE, w1_slave(31000))
    assert driver.read(TS_MS) == [Sample({"soil_temperature": 31.0})]


def test_a_missing_1_wire_bus_raises_driver_error_naming_the_overlay(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="dtoverlay=w1-gpio"):
        Ds18b20Driver(base_dir=str(tmp_path / "absent")).read(TS_MS)


def test_a_probe_gone_from_the_bus_raises_driver_error_naming_it(bus: Path) -> None:
    with pytest.raises(DriverError, match=PROBE):
        Ds18b20Driver(sensor_id=PROBE, base_dir=str(bus)).read(TS_MS)


def test_a_failed_crc_raises_driver_error(bus: Path) -> None:
    add_probe(bus, PROBE, w1_slave(23125, crc_ok=False))
    with pytest.raises(DriverError, match=f"{PROBE}: CRC check failed"):
        Ds18b20Driver(sensor_id=PROBE, base_dir=str(bus)).read(TS_MS)


def test_the_power_on_value_85_degrees_is_a_read_error_not_a_temperature(bus: Path) -> None:
    add_probe(bus, PROBE, w1_slave(85000))
    with pytest.raises(DriverError, match="power-on value"):
        Ds18b20Driver(sensor_id=PROBE, base_dir=str(bus)).read(TS_MS)


@pytest.mark.parametrize(
    "text", ["", "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n", "x : crc=57 YES\nx t=\n"]
)
def test_a_truncated_w1_slave_raises_driver_error(text: str) -> None:
    with pytest.raises(DriverError, match=PROBE):
        parse_w1_slave(text, PROBE)


def test_a_reading_outside_the_sensor_catalogue_is_refused() -> None:
    with pytest.raises(ValueError, match=r"ds18b20: reading 'soil_temp' is not in the sensor"):
        Ds18b20Driver(reading="soil_temp")


@pytest.mark.parametrize("sensor_id", ["0316a2795dff", "10-0316a2795dff", "28-0316A2795DFF"])
def test_a_sensor_id_that_is_not_a_ds18b20_is_refused(sensor_id: str) -> None:
    with pytest.raises(ValueError, match=r"\[driver\] sensor_id"):
        Ds18b20Driver(sensor_id=sensor_id)


def test_the_registry_builds_it_by_name(bus: Path) -> None:
    add_probe(bus, PROBE, w1_slave(19875))
    driver = load_driver("ds18b20", {"sensor_id": PROBE, "base_dir": str(bus)})
    assert driver.read(TS_MS) == [Sample({"soil_temperature": 19.875})]
    driver.close()


def test_a_data_line_shorted_to_ground_is_a_read_error_not_zero_degrees(bus: Path) -> None:
    """Nine zero bytes have a zero CRC-8: the kernel says YES and t=0."""
    zeros = "00 00 00 00 00 00 00 00 00"
    add_probe(bus, PROBE, f"{zeros} : crc=00 YES\n{zeros} t=0\n")
    with pytest.raises(DriverError, match="shorted to ground"):
        Ds18b20Driver(sensor_id=PROBE, base_dir=str(bus)).read(TS_MS)


def test_a_probe_found_on_the_bus_and_then_replaced_is_found_again(bus: Path) -> None:
    add_probe(bus, PROBE, w1_slave(27500))
    driver = Ds18b20Driver(base_dir=str(bus))
    assert driver.read(TS_MS) == [Sample({"soil_temperature": 27.5})]
    (bus / PROBE / "w1_slave").unlink()
    (bus / PROBE).rmdir()
    add_probe(bus, OTHER_PROBE, w1_slave(26000))
    with pytest.raises(DriverError, match=PROBE):
        driver.read(TS_MS)  # the read that finds the old probe gone
    assert driver.read(TS_MS) == [Sample({"soil_temperature": 26.0})]


def test_a_configured_probe_that_is_gone_is_not_swapped_for_another(bus: Path) -> None:
    add_probe(bus, OTHER_PROBE, w1_slave(26000))
    driver = Ds18b20Driver(sensor_id=PROBE, base_dir=str(bus))
    for _ in range(2):
        with pytest.raises(DriverError, match=PROBE):
            driver.read(TS_MS)
