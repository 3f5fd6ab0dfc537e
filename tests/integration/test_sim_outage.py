"""A scenario's link outage through the real agent and broker: the link goes down on schedule,
readings pile up in the outbox, and every one is delivered when the link comes back."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge.accelerated_clock import AcceleratedClock
from edge.config import MqttConfig
from simulators import scenario
from tests.helpers import wait_for
from tooling.services import LocalMosquitto
from tooling.simulate import SimulatedFleet, scenario_configs

pytestmark = pytest.mark.integration


def test_a_scheduled_outage_takes_the_link_down_and_the_backlog_drains_after(
    mosquitto: LocalMosquitto, unique_id: str, tmp_path: Path
) -> None:
    plan = scenario.parse(
        {
            "seed": 3,
            "farms": [
                {"id": unique_id, "fields": [{"id": "f1", "outages": [{"day": 0.25, "hours": 6}]}]}
            ],
        }
    )
    configs, plans = scenario_configs(plan, MqttConfig(port=mosquitto.port), tmp_path, 600)
    two_days_ago = (int(time.time() * 1000) - 2 * 86_400_000) // 600_000 * 600_000
    # 20,000x: the 6 h outage lasts about a second of real time.
    clock = AcceleratedClock(two_days_ago, speed=20_000, held=True)
    fleet = SimulatedFleet(configs, clock, plans)
    (agent,) = fleet.agents
    fleet.start()
    clock.release()
    try:
        wait_for(lambda: fleet.outages_applied == 1, "the outage to start")
        assert not agent.stats.connected
        wait_for(lambda: agent.unacknowledged() >= 10, "readings to pile up in the outbox")
        wait_for(lambda: agent.stats.connected, "the link to come back")
        wait_for(lambda: agent.stats.taken >= 80, "readings after the outage")
        wait_for(lambda: agent.unacknowledged() == 0, "the backlog to drain")
    finally:
        fleet.stop()
    assert agent.stats.acknowledged >= agent.stats.taken - 1
