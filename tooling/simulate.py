"""Simulated farms behind real edge agents, publishing to a real broker (live mode), and the
load-test fleet (``tooling.fleet``: many devices on one thread, no agents, no outbox).

Each simulated device is a full ``EdgeAgent`` (same code as on a gateway) whose driver is a
simulator and whose clock runs ``speed`` times faster than real time, from ``start`` until it
catches up with the wall clock. A scenario's link outages are the agents' own ``set_link``,
switched by one scheduler thread as the simulated clock crosses them; its clock faults wrap an
agent's clock in ``simulators.device_clock.FaultyClock``.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from edge.accelerated_clock import AcceleratedClock
from edge.agent import EdgeAgent
from edge.clock import Clock
from edge.clock_health import TrustedClockHealth
from edge.config import DeviceConfig, EdgeConfig, MqttConfig, SensorConfig
from edge.runner import build_drivers
from simulators.device_clock import FaultyClock
from simulators.scenario import DevicePlan, Outage, Scenario

if TYPE_CHECKING:
    from tooling.fleet import LoadFleet

DAY_MS = 86_400_000
#: Real seconds between the outage scheduler's looks at the simulated clock.
OUTAGE_POLL_S = 0.05


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
            options = {"kind": kind, "seed": layout.seed * 100 + len(configs)}
            # Devices of one farm share its weather, as neighbours do.
            options["weather_seed"] = layout.seed
            configs.append(
                _config(layout.farm_id, site, options, layout.interval_s, mqtt, state_dir)
            )
    return configs


def scenario_configs(
    scenario: Scenario, mqtt: MqttConfig, state_dir: Path, interval_s: float
) -> tuple[list[EdgeConfig], list[DevicePlan]]:
    """One agent config per device of the scenario, and the plans (outages, clock faults)."""
    configs, plans = [], []
    for farm, device in scenario.devices():
        options = device.driver_options(farm.weather_seed)
        configs.append(_config(farm.id, device.id, options, interval_s, mqtt, state_dir / farm.id))
        plans.append(device)
    return configs, plans


def _config(
    farm_id: str,
    site: str,
    options: dict[str, object],
    interval_s: float,
    mqtt: MqttConfig,
    state_dir: Path,
) -> EdgeConfig:
    device_id = f"{site}-node"
    return EdgeConfig(
        device=DeviceConfig(farm_id=farm_id, device_id=device_id, site=site, interval_s=interval_s),
        mqtt=mqtt,
        state_dir=state_dir / device_id,
        sensors=(SensorConfig("simulated", options),),
    )


class SimulatedFleet:
    """Simulated devices sharing one accelerated clock, each agent in its own thread."""

    def __init__(
        self,
        configs: list[EdgeConfig],
        clock: AcceleratedClock,
        plans: Sequence[DevicePlan] | None = None,
    ) -> None:
        device_plans: list[DevicePlan | None] = (
            list(plans) if plans is not None else [None] * len(configs)
        )
        if len(device_plans) != len(configs):
            raise ValueError(
                f"{len(device_plans)} device plans for {len(configs)} configs: pass one each"
            )
        self.clock = clock
        self.agents: list[EdgeAgent] = []
        self._outages: list[tuple[EdgeAgent, tuple[Outage, ...]]] = []
        for config, plan in zip(configs, device_plans, strict=True):
            device_clock: Clock = clock
            if plan is not None and plan.clock_faults:
                device_clock = FaultyClock(clock, clock.start_ms, list(plan.clock_faults))
            agent = EdgeAgent(config, build_drivers(config), device_clock, TrustedClockHealth())
            self.agents.append(agent)
            if plan is not None and plan.outages:
                self._outages.append((agent, plan.outages))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.outages_applied = 0

    def start(self) -> None:
        for agent in self.agents:
            thread = threading.Thread(
                target=agent.run, args=(self._stop,), name=agent.config.device.device_id
            )
            thread.start()
            self._threads.append(thread)
        if self._outages:
            scheduler = threading.Thread(target=self._schedule_outages, name="outages", daemon=True)
            scheduler.start()

    def _schedule_outages(self) -> None:
        """Take each agent's link down inside its outage windows and up again after them."""
        down: set[int] = set()
        while not self._stop.wait(OUTAGE_POLL_S):
            now = self.clock.now_ms()
            for agent, outages in self._outages:
                inside = any(link_down(o, self.clock.start_ms, now) for o in outages)
                if inside and id(agent) not in down:
                    agent.set_link(False)
                    down.add(id(agent))
                    self.outages_applied += 1
                elif not inside and id(agent) in down:
                    agent.set_link(True)
                    down.discard(id(agent))

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


def link_down(outage: Outage, start_ms: int, now_ms: int) -> bool:
    begin = start_ms + int(outage.day * DAY_MS)
    return begin <= now_ms < begin + int(outage.hours * 3_600_000)


def simulation_start(days_back: float) -> datetime:
    """Whole hours, so reading times line up across devices and runs."""
    start = datetime.now(UTC) - timedelta(days=days_back)
    return start.replace(minute=0, second=0, microsecond=0)


# ---- the modes of ``isanfarm simulate`` beyond the demo's live farm ------------------------


def run_live_scenario(
    scenario: Scenario,
    mqtt: MqttConfig,
    state_dir: Path,
    clock: AcceleratedClock,
    interval_s: float,
) -> SimulatedFleet:
    """Start (not wait for) every device of a scenario, with its faults and outages."""
    configs, plans = scenario_configs(scenario, mqtt, state_dir, interval_s)
    fleet = SimulatedFleet(configs, clock, plans)
    fleet.start()
    return fleet


@dataclass(frozen=True, slots=True)
class FleetReport:
    devices: int
    seconds: float
    taken: int
    acknowledged: int
    connected: int
    threads: int
    rss_mb: float

    def line(self) -> str:
        return (
            f"devices: {self.devices} connected: {self.connected} taken: {self.taken} "
            f"acknowledged: {self.acknowledged} seconds: {self.seconds:.1f} "
            f"acked_per_s: {self.acknowledged / max(self.seconds, 1e-9):.0f} "
            f"threads: {self.threads} rss_mb: {self.rss_mb:.0f}"
        )


def fleet_report(fleet: SimulatedFleet, seconds: float) -> FleetReport:
    return FleetReport(
        devices=len(fleet.agents),
        seconds=seconds,
        taken=sum(a.stats.taken for a in fleet.agents),
        acknowledged=sum(a.stats.acknowledged for a in fleet.agents),
        connected=sum(a.stats.connected for a in fleet.agents),
        threads=threading.active_count(),
        rss_mb=_rss_mb(),
    )


def _rss_mb() -> float:
    """This process's resident memory (Linux /proc; 0 where unavailable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


PROGRESS_EVERY_S = 5.0


def live_scenario(args: argparse.Namespace, mqtt: MqttConfig, stop: threading.Event) -> int:
    """Live mode from a scenario file: its farms, faults, outages and clock faults."""
    from simulators import scenario as scenarios

    plan = scenarios.load(args.scenario)
    start = simulation_start(args.days_back)
    clock = AcceleratedClock(int(start.timestamp() * 1000), args.speed)
    fleet = run_live_scenario(plan, mqtt, args.state_dir, clock, args.interval)
    print(
        f"scenario {plan.name!r}: {len(fleet.agents)} devices from {start:%Y-%m-%d %H:%M} UTC "
        f"at {args.speed:g}x",
        flush=True,
    )
    started = time.monotonic()
    try:
        while not stop.wait(PROGRESS_EVERY_S):
            for device, taken, acknowledged in fleet.progress():
                print(f"{device:<24} {taken:>8} {acknowledged:>10}", flush=True)
    finally:
        fleet.stop()
    print(fleet_report(fleet, time.monotonic() - started).line(), flush=True)
    return 0


#: Real seconds a fleet waits for its devices to connect before its clock starts.
FLEET_CONNECT_WAIT_S = 60.0


def fleet(args: argparse.Namespace, mqtt: MqttConfig, stop: threading.Event) -> int:
    """A load generator (``tooling.fleet``): many devices from one process on one network
    thread, no outbox, for ``args.duration`` real seconds; prints what it cost."""
    from simulators.scenario import generated
    from tooling.fleet import LoadFleet, scenario_devices

    if args.devices < 1 or not 0 <= args.barns <= args.devices:
        raise ValueError(
            f"--devices {args.devices} --barns {args.barns}: need 0 <= barns <= devices"
        )
    plan = generated(args.seed, args.devices - args.barns, args.barns)
    start = simulation_start(args.days_back)
    clock = AcceleratedClock(int(start.timestamp() * 1000), args.speed, held=True)
    started = time.monotonic()
    load = LoadFleet(scenario_devices(plan), mqtt, clock, args.interval)
    load.prepare()
    load.start()
    print(
        f"fleet: {len(load.devices)} simulators ready in {time.monotonic() - started:.1f} s",
        flush=True,
    )
    try:
        waited = time.monotonic()
        while load.connected + load.refused < len(load.devices) and not stop.wait(0.1):
            if time.monotonic() - waited > FLEET_CONNECT_WAIT_S:
                break
        clock.release()
        started = time.monotonic()
        print(
            f"fleet: {load.connected} connected, {load.refused} refused in "
            f"{started - waited:.1f} s; clock started",
            flush=True,
        )
        deadline = started + args.duration
        while not stop.wait(min(PROGRESS_EVERY_S, max(0.0, deadline - time.monotonic()))):
            print(load_report(load, time.monotonic() - started).line(), flush=True)
            if time.monotonic() >= deadline:
                break
    finally:
        report = load_report(load, time.monotonic() - started)
        load.stop()
    print(report.line(), flush=True)
    return 0


def load_report(load: LoadFleet, seconds: float) -> FleetReport:
    return FleetReport(
        devices=len(load.devices),
        seconds=seconds,
        taken=load.taken,
        acknowledged=load.acknowledged,
        connected=load.connected,
        threads=threading.active_count(),
        rss_mb=_rss_mb(),
    )


def offline(args: argparse.Namespace) -> int:
    """Whole seasons to CSV files (and InfluxDB with ``--influx``)."""
    from simulators import offline as season
    from simulators import scenario as scenarios

    if args.scenario is not None:
        plan = scenarios.load(args.scenario)
    else:
        start = date.fromisoformat(args.start)
        plan = scenarios.generated(args.seed, args.fields, args.barns, start=start, days=args.days)
    influx = None
    if args.influx:
        from isanfarm.influx import InfluxV1
        from isanfarm.settings import InfluxSettings

        influx = InfluxV1(InfluxSettings())
        influx.create_database()
    try:
        summary = season.run(
            plan, args.out, progress=None if args.quiet else sys.stderr, influx=influx
        )
    finally:
        if influx is not None:
            influx.close()
    print(
        f"offline: {summary.fields} fields ({summary.field_days} field-days) and "
        f"{summary.barns} barns in {summary.seconds:.1f} s -> {args.out}/"
        "{fields_daily,harvests,herds_daily}.csv",
        flush=True,
    )
    return 0


def plot(args: argparse.Namespace) -> int:
    """A field's season and a herd's year as PNGs in ``args.out``."""
    from simulators import plot as plots
    from simulators.scenario import generated

    args.out.mkdir(parents=True, exist_ok=True)
    planted = date.fromisoformat(args.planted)
    field_png, herd_png = args.out / "field_season.png", args.out / "herd_weights.png"
    plots.field_season(
        field_png, args.seed, args.variety, args.soil, planted, args.days, args.management
    )
    herd_plan = generated(args.seed, fields=0, barns=1)
    farm = herd_plan.farms[0]
    barn = farm.of_kind("cattle_barn")[0]
    barn = replace(barn, options={**barn.options, "breed": args.breed})
    plots.herd_weights(herd_png, farm, barn, planted, args.days)
    print(f"wrote {field_png} and {herd_png}", flush=True)
    return 0
