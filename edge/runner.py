"""Build agents from config: the driver and clock each device runs with."""

from __future__ import annotations

from edge.agent import EdgeAgent
from edge.clock import Clock, WallClock
from edge.config import EdgeConfig
from edge.drivers import load_driver


def build_clock(config: EdgeConfig) -> Clock:
    if config.clock is None:
        return WallClock()
    # Only simulated farms run an accelerated clock; the import stays out of real gateways' way.
    from simulators.clock import AcceleratedClock

    return AcceleratedClock(config.clock.start_ms, config.clock.speed)


def build_agent(config: EdgeConfig) -> EdgeAgent:
    return EdgeAgent(
        config, load_driver(config.device.driver, config.driver_options), build_clock(config)
    )
