"""Live simulated farms: simulated sensors behind real edge agents, publishing to a real broker.

Each simulated device is a full ``EdgeAgent`` (same code as on a gateway) whose driver is a
simulator and whose clock runs ``speed`` times faster than real time, from ``start`` until it
catches up with the wall clock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge.agent import EdgeAgent
from edge.clock_health import TrustedClockHealth
from edge.config import DeviceConfig, EdgeConfig, MqttConfig, SensorConfig
from edge.runner import build_drivers
from simulators.clock import AcceleratedClock


@dataclass(frozen=True, slots=True)
class FarmLayout:
    """How many simulated devices of each kind, on one farm."""

    farm_id: str = "korat-demo"
    fields: int = 1
    barns: int = 1
    seed: int = 1
    interval_s: float = 600.0


def device_configs(layout: FarmLayout, mqtt: MqttConfig, state_dir: Path) -> list[EdgeConfig]:
    configs: list[EdgeConfig] = []
    kinds = [("cassava_field", "field", layout.fields), ("cattle_barn", "barn", layout.barns)]
    for kind, short, count in kinds:
        for number in range(1, count + 1):
            site = f"{short}-{number:02d}"
            device_id = f"{site}-node"
            configs.append(
                EdgeConfig(
                    device=DeviceConfig(
                        farm_id=layout.farm_id,
                        device_id=device_id,
                        site=site,
                        interval_s=layout.interval_s,
                    ),
                    mqtt=mqtt,
                    state_dir=state_dir / device_id,
                    sensors=(
                        SensorConfig(
                            "simulated", {"kind": kind, "seed": layout.seed * 100 + len(configs)}
                        ),
                    ),
                )
            )
    return configs


class SimulatedFleet:
    """Simulated devices sharing one accelerated clock, each agent in its own thread."""

    def __init__(self, configs: list[EdgeConfig], clock: AcceleratedClock) -> None:
        self.agents = [
            EdgeAgent(config, build_drivers(config), clock, TrustedClockHealth())
            for config in configs
        ]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for agent in self.agents:
            thread = threading.Thread(
                target=agent.run, args=(self._stop,), name=agent.config.device.device_id
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)

    def progress(self) -> list[tuple[str, int, int]]:
        """(device, readings taken, readings the broker acknowledged) per device."""
        rows = []
        for agent in self.agents:
            rows.append(
                (agent.config.device.device_id, agent.stats.taken, agent.stats.acknowledged)
            )
        return rows


def simulation_start(days_back: float) -> datetime:
    """Whole hours, so reading times line up across devices and runs."""
    start = datetime.now(UTC) - timedelta(days=days_back)
    return start.replace(minute=0, second=0, microsecond=0)
