"""Build an agent from its config: drivers, clock and clock judge for each device."""

from __future__ import annotations

from typing import Any

from edge.agent import EdgeAgent
from edge.clock import Clock, WallClock
from edge.clock_health import ClockHealth, TrustedClockHealth
from edge.config import EdgeConfig, SensorConfig
from edge.drivers import Driver, load_driver


def build_clock(config: EdgeConfig) -> Clock:
    if config.clock is None:
        return WallClock()
    # Only simulated farms run an accelerated clock; the import stays out of real gateways' way.
    from edge.accelerated_clock import AcceleratedClock

    return AcceleratedClock(config.clock.start_ms, config.clock.speed)


def build_clock_health(config: EdgeConfig) -> ClockHealth:
    if config.clock is not None:
        return TrustedClockHealth()
    return ClockHealth(
        earliest_ms=int(config.health.earliest_plausible.timestamp() * 1000),
        max_skew_ms=int(config.health.max_clock_skew_s * 1000),
    )


def build_drivers(config: EdgeConfig) -> list[Driver]:
    """Construct every configured driver; a bad option fails here, before anything runs."""
    drivers: list[Driver] = []
    try:
        for number, sensor in enumerate(config.sensors):
            drivers.append(load_driver(sensor.driver, _with_state(sensor, number, config)))
    except Exception:
        for driver in drivers:
            driver.close()
        raise
    return drivers


def _with_state(sensor: SensorConfig, number: int, config: EdgeConfig) -> dict[str, Any]:
    """A rain gauge keeps the tips counted since its last read across a restart, in the
    agent's state directory (one file per ``[[sensors]]`` table)."""
    options = dict(sensor.options)
    if sensor.driver == "rain_gauge":
        options.setdefault("state_file", str(config.state_dir / f"rain-gauge-{number}.tips"))
    return options


def build_agent(config: EdgeConfig) -> EdgeAgent:
    return EdgeAgent(config, build_drivers(config), build_clock(config), build_clock_health(config))
