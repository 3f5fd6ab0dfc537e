"""The rain gauge driver on gpiozero's mock pins: a tip is the reed switch closing once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from edge.config import DeviceConfig, EdgeConfig, MqttConfig, SensorConfig
from edge.drivers import load_driver
from edge.drivers.base import DriverError, Sample
from edge.drivers.rain_gauge import RainGaugeDriver
from edge.runner import build_drivers

PIN = 17
TS_MS = 1_764_115_200_000


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    pins = MockFactory()
    yield pins
    pins.close()


def tip(pin: Any, times: int, pull_up: bool = True) -> None:
    """Close and reopen the switch: to ground with a pull-up, to 3.3 V with a pull-down."""
    close, reopen = (pin.drive_low, pin.drive_high) if pull_up else (pin.drive_high, pin.drive_low)
    for _ in range(times):
        close()
        reopen()


def rain(samples: object) -> float:
    assert isinstance(samples, list)
    [sample] = samples
    assert isinstance(sample, Sample)
    assert set(sample.values) == {"rain"}
    return sample.values["rain"]


def test_a_read_returns_the_rain_since_the_previous_read(factory: MockFactory) -> None:
    driver = RainGaugeDriver(pin=PIN, pin_factory=factory)
    tip(factory.pin(PIN), 7)
    assert rain(driver.read(TS_MS)) == pytest.approx(7 * 0.2)
    assert rain(driver.read(TS_MS + 600_000)) == 0.0
    tip(factory.pin(PIN), 2)
    assert rain(driver.read(TS_MS + 1_200_000)) == pytest.approx(2 * 0.2)
    driver.close()


def test_mm_per_tip_is_the_gauges_calibration(factory: MockFactory) -> None:
    driver = RainGaugeDriver(pin=PIN, mm_per_tip=0.254, pin_factory=factory)
    tip(factory.pin(PIN), 4)
    assert rain(driver.read(TS_MS)) == pytest.approx(4 * 0.254)
    driver.close()


def test_a_switch_wired_to_3v3_counts_with_pull_up_false(factory: MockFactory) -> None:
    driver = RainGaugeDriver(pin=PIN, pull_up=False, pin_factory=factory)
    tip(factory.pin(PIN), 3, pull_up=False)
    assert rain(driver.read(TS_MS)) == pytest.approx(3 * 0.2)
    driver.close()


def test_a_switch_held_closed_counts_one_tip(factory: MockFactory) -> None:
    driver = RainGaugeDriver(pin=PIN, pin_factory=factory)
    factory.pin(PIN).drive_low()
    assert rain(driver.read(TS_MS)) == pytest.approx(0.2)
    assert rain(driver.read(TS_MS)) == 0.0
    driver.close()


def test_tips_during_reads_are_neither_lost_nor_counted_twice(factory: MockFactory) -> None:
    driver = RainGaugeDriver(pin=PIN, mm_per_tip=1.0, pin_factory=factory)
    tips = 2000
    tipper = threading.Thread(target=tip, args=(factory.pin(PIN), tips))
    total = 0.0
    tipper.start()
    while tipper.is_alive():
        total += rain(driver.read(TS_MS))
    tipper.join()
    total += rain(driver.read(TS_MS))
    assert total == tips
    driver.close()


@pytest.mark.parametrize(("bounce_s", "pin_bounce"), [(0.05, 0.05), (0.2, 0.2), (0, None)])
def test_bounce_s_sets_the_pins_debounce_time(
    factory: MockFactory, bounce_s: float, pin_bounce: float | None
) -> None:
    driver = RainGaugeDriver(pin=PIN, bounce_s=bounce_s, pin_factory=factory)
    assert factory.pin(PIN).bounce == pin_bounce
    driver.close()


def test_a_pin_already_in_use_raises_driver_error_naming_it(factory: MockFactory) -> None:
    first = RainGaugeDriver(pin=PIN, pin_factory=factory)
    with pytest.raises(DriverError, match=f"GPIO {PIN}: cannot open the pin"):
        RainGaugeDriver(pin=PIN, pin_factory=factory)
    first.close()


def test_close_releases_the_pin_for_the_next_driver(factory: MockFactory) -> None:
    RainGaugeDriver(pin=PIN, pin_factory=factory).close()
    driver = RainGaugeDriver(pin=PIN, pin_factory=factory)
    tip(factory.pin(PIN), 1)
    assert rain(driver.read(TS_MS)) == pytest.approx(0.2)
    driver.close()


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({}, "pin"),
        ({"pin": -1}, "pin"),
        ({"pin": "17"}, "pin"),
        ({"pin": True}, "pin"),
        ({"pin": PIN, "mm_per_tip": 0}, "mm_per_tip"),
        ({"pin": PIN, "mm_per_tip": "0.2"}, "mm_per_tip"),
        ({"pin": PIN, "bounce_s": -0.01}, "bounce_s"),
        ({"pin": PIN, "bounce_s": False}, "bounce_s"),
        ({"pin": PIN, "pull_up": "yes"}, "pull_up"),
        ({"pin": PIN, "reading": "soil_moisture_10cm"}, "reading"),
        ({"pin": PIN, "stuck_after_s": 0}, "stuck_after_s"),
    ],
)
def test_bad_options_are_refused_naming_the_option(
    factory: MockFactory, options: dict[str, Any], option: str
) -> None:
    with pytest.raises(ValueError, match=rf"\[driver\] {option} "):
        RainGaugeDriver(**options, pin_factory=factory)


def test_the_registry_builds_it_by_name(factory: MockFactory) -> None:
    driver = load_driver("rain_gauge", {"pin": PIN, "pin_factory": factory})
    tip(factory.pin(PIN), 5)
    assert rain(driver.read(TS_MS)) == pytest.approx(5 * 0.2)
    driver.close()


def test_a_switch_stuck_closed_is_a_read_error_not_a_dry_interval(factory: MockFactory) -> None:
    """A clogged or jammed gauge used to report 0 mm, which reads like a dry day."""
    driver = RainGaugeDriver(pin=PIN, pin_factory=factory, stuck_after_s=0.1)
    tip(factory.pin(PIN), 2)
    factory.pin(PIN).drive_low()  # the third tip, and the bucket jams
    time.sleep(0.2)
    with pytest.raises(DriverError, match="GPIO 17: the switch has been closed"):
        driver.read(TS_MS)
    factory.pin(PIN).drive_high()
    assert rain(driver.read(TS_MS + 600_000)) == pytest.approx(3 * 0.2), "no tip is lost"
    driver.close()


def test_tips_since_the_last_read_survive_a_restart_once(
    factory: MockFactory, tmp_path: Path
) -> None:
    """An upgrade or a reboot between two intervals lost the rain counted meanwhile."""
    state = tmp_path / "rain-gauge-0.tips"
    first = RainGaugeDriver(pin=PIN, pin_factory=factory, state_file=str(state))
    tip(factory.pin(PIN), 3)
    first.close()  # the agent stops before its next read

    second = RainGaugeDriver(pin=PIN, pin_factory=factory, state_file=str(state))
    tip(factory.pin(PIN), 1)
    assert rain(second.read(TS_MS)) == pytest.approx(4 * 0.2)
    assert rain(second.read(TS_MS + 600_000)) == 0.0
    second.close()
    assert not state.exists(), "nothing was pending at the second stop"


def test_a_damaged_tips_file_is_ignored_and_said(
    factory: MockFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "rain-gauge-0.tips"
    state.write_text("\x00garbage")
    driver = RainGaugeDriver(pin=PIN, pin_factory=factory, state_file=str(state))
    assert rain(driver.read(TS_MS)) == 0.0
    assert "not a tip count" in caplog.text
    driver.close()


def test_the_agent_gives_each_gauge_a_tips_file_in_its_state_dir(
    factory: MockFactory, tmp_path: Path
) -> None:
    config = EdgeConfig(
        device=DeviceConfig("korat-001", "f01-node", "field-01", 600),
        mqtt=MqttConfig(),
        state_dir=tmp_path,
        sensors=(SensorConfig("rain_gauge", {"pin": PIN, "pin_factory": factory}),),
    )
    [driver] = build_drivers(config)
    tip(factory.pin(PIN), 2)
    driver.close()
    assert (tmp_path / "rain-gauge-0.tips").read_text() == "2\n"
