"""Faults on schedule: drift, stuck, spikes, dropouts, dead battery, clock resets and jumps, and
link-outage windows, each where and when the scenario says."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.drivers.base import DriverError
from simulators import scenario
from simulators.device_clock import ClockFault, FaultyClock
from simulators.driver import SimulatedDriver
from simulators.faults import random_faults
from tooling.simulate import link_down

START_MS = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000)
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def readings(driver: SimulatedDriver, hours: range) -> list[dict[str, float] | None]:
    """One reading an hour; None where the driver failed."""
    out: list[dict[str, float] | None] = []
    for hour in hours:
        try:
            out.append(dict(driver.read(START_MS + hour * HOUR_MS)[0].values))
        except DriverError:
            out.append(None)
    return out


def field(*faults: dict[str, object]) -> SimulatedDriver:
    return SimulatedDriver("cassava_field", seed=3, faults=list(faults))


def test_drift_grows_by_its_rate_and_ends_with_its_window() -> None:
    fault = {"kind": "drift", "sensor": "soil_moisture_30cm", "day": 1, "hours": 48, "magnitude": 2}
    clean = [r for r in readings(field(), range(0, 80)) if r]
    faulty = [r for r in readings(field(fault), range(0, 80)) if r]
    pairs = list(zip(faulty, clean, strict=True))
    offsets = [f["soil_moisture_30cm"] - c["soil_moisture_30cm"] for f, c in pairs]
    assert offsets[:24] == [0] * 24
    assert offsets[24 + 47] == pytest.approx(2 * 47 / 24, abs=0.01)
    assert offsets[72:] == [0] * 8
    assert all(f["soil_moisture_10cm"] == c["soil_moisture_10cm"] for f, c in pairs)


def test_a_stuck_probe_repeats_its_first_value_for_the_window() -> None:
    fault = {"kind": "stuck", "sensor": "air_temperature", "day": 0.5, "hours": 10}
    values = [r["air_temperature"] for r in readings(field(fault), range(0, 30))]  # type: ignore[index]
    assert len(set(values[12:22])) == 1
    assert len(set(values[0:12])) > 1
    assert values[22] != values[21]


def test_spikes_and_dropouts_and_a_silent_device() -> None:
    spike = {
        "kind": "spike",
        "sensor": "solar_radiation",
        "day": 0,
        "hours": 100,
        "magnitude": 2000,
    }
    spiked = [r["solar_radiation"] for r in readings(field(spike), range(0, 100))]  # type: ignore[index]
    assert 5 <= sum(v >= 2000 for v in spiked) <= 40  # about a fifth of the readings
    gone = readings(field({"kind": "dropout", "sensor": "rain", "day": 0, "hours": 5}), range(8))
    assert ["rain" in r for r in gone if r] == [False] * 5 + [True] * 3
    silent = readings(field({"kind": "dropout", "day": 0.25, "hours": 2}), range(10))
    assert [r is None for r in silent] == [False] * 6 + [True] * 2 + [False] * 2


def test_a_dead_battery_sags_to_cut_off_then_the_node_goes_silent() -> None:
    fault = {"kind": "dead_battery", "day": 0, "hours": 10}
    seen = readings(field(fault), range(0, 12))
    volts = [r["battery_voltage"] for r in seen[:8] if r]
    assert volts == sorted(volts, reverse=True)
    assert volts[-1] < 11.0
    assert seen[8] is None
    assert seen[9] is None
    assert seen[10] is not None


def test_a_bad_fault_names_the_option_and_the_fix() -> None:
    with pytest.raises(ValueError, match="fault kind 'melt' is unknown: use one of drift"):
        field({"kind": "melt", "day": 1, "hours": 1})
    with pytest.raises(ValueError, match="needs 'hours'"):
        field({"kind": "drift", "day": 1})


def test_random_faults_are_seeded() -> None:
    sensors = ("soil_moisture_10cm",)
    assert random_faults(4, 365, 6, sensors) == random_faults(4, 365, 6, sensors)
    assert random_faults(4, 365, 6, sensors) != random_faults(5, 365, 6, sensors)
    assert 1 <= len(random_faults(4, 365, 6, sensors)) <= 15


class ManualClock:
    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now

    def wait_until(self, ts_ms: int, stop: threading.Event) -> bool:
        self.now = max(self.now, ts_ms)
        return True


def test_a_clock_reset_counts_from_1970_until_fixed_and_a_jump_is_offset() -> None:
    inner = ManualClock(START_MS)
    clock = FaultyClock(
        inner,
        START_MS,
        [ClockFault("reset_1970", day=1, hours=2), ClockFault("jump", 2, 1, jump_s=3600)],
    )
    inner.now = START_MS + DAY_MS + 30 * 60_000
    assert clock.now_ms() == 30 * 60_000  # half an hour after "boot" in 1970
    inner.now = START_MS + DAY_MS + 3 * HOUR_MS
    assert clock.now_ms() == inner.now
    inner.now = START_MS + 2 * DAY_MS + 10
    assert clock.now_ms() == inner.now + HOUR_MS
    # Waiting for a true time through a reset window ends when the clock is right again.
    inner.now = START_MS + DAY_MS
    assert clock.wait_until(START_MS + DAY_MS + 60_000, threading.Event())
    assert inner.now >= START_MS + DAY_MS + 2 * HOUR_MS


def test_the_faults_scenario_schedules_a_6_h_outage_on_day_40() -> None:
    plan = scenario.load(Path(__file__).resolve().parents[2] / "scenarios" / "faults.toml")
    node = plan.farms[0].devices[0]
    (outage,) = node.outages
    assert not link_down(outage, START_MS, START_MS + 40 * DAY_MS - 1)
    assert link_down(outage, START_MS, START_MS + 40 * DAY_MS)
    assert link_down(outage, START_MS, START_MS + 40 * DAY_MS + 6 * HOUR_MS - 1)
    assert not link_down(outage, START_MS, START_MS + 40 * DAY_MS + 6 * HOUR_MS)
    assert {f.kind for f in node.faults} == {"drift", "stuck", "spike", "dropout", "dead_battery"}
    driver = SimulatedDriver(**node.driver_options(weather_seed=plan.farms[0].weather_seed))
    assert driver.read(START_MS)
