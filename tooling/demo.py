"""``isanfarm demo`` and ``isanfarm simulate``: the whole system on simulated farms.

The demo owns everything it starts (a broker, a database, ingest, the API and the simulated
devices) and stops all of it, in reverse order, on Ctrl-C: devices first so their last readings
are acknowledged, then ingest so it can store them, then the servers.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from edge.accelerated_clock import AcceleratedClock
from edge.config import EdgeConfig, MqttConfig, mqtt_config
from ingest.admin import setup_database
from ingest.points import TELEMETRY_MEASUREMENT
from ingest.settings import IngestSettings
from isanfarm.influx import InfluxError, InfluxV1, series_rows
from isanfarm.processes import stop_process
from isanfarm.settings import InfluxSettings
from tooling.services import LocalInfluxDB, LocalMosquitto, free_port, port_is_free
from tooling.simulate import FarmLayout, SimulatedFleet, device_configs, simulation_start

PROGRESS_EVERY_S = 5.0


def run_simulation(args: argparse.Namespace, stop: threading.Event) -> int:
    """``isanfarm simulate [live|fleet|offline|plot]``; no mode is live, as the README shows."""
    from tooling import simulate as modes

    mode = getattr(args, "mode", None) or "live"
    if mode == "offline":
        return modes.offline(args)
    if mode == "plot":
        return modes.plot(args)
    mqtt = mqtt_config({}, os.environ)
    if mode == "fleet":
        return modes.fleet(args, mqtt, stop)
    if args.scenario is not None:
        return modes.live_scenario(args, mqtt, stop)
    with _fleet(args, _configs(args, mqtt, args.state_dir)) as fleet:
        while not stop.wait(PROGRESS_EVERY_S):
            _print_progress(fleet, stored=None)
    return 0


def run_demo(args: argparse.Namespace, stop: threading.Event) -> int:
    state_dir: Path = args.state_dir.resolve()
    with ExitStack() as running:
        mosquitto = LocalMosquitto(state_dir / "mosquitto", _port(args.mqtt_port))
        influxdb = LocalInfluxDB(state_dir / "influxdb", _port(args.influx_port))
        for server in (mosquitto, influxdb):
            print(f"starting {server.name} on 127.0.0.1:{server.port} ...", flush=True)
            running.enter_context(server)
        influx = InfluxV1(InfluxSettings(url=influxdb.url, database="isanfarm"))
        running.callback(influx.close)
        # Database, raw and rollup retention policies, as an operator's `ingest setup-db`.
        setup_database(influx, IngestSettings())
        api_port = _port(args.api_port)
        registry_url = f"sqlite:///{state_dir}/registry.sqlite3"
        configs = _configs(args, MqttConfig(port=mosquitto.port), state_dir / "devices")
        api_key = _register(registry_url, configs, args.days_back)
        env = {
            **os.environ,
            "ISANFARM_MQTT_HOST": "127.0.0.1",
            "ISANFARM_MQTT_PORT": str(mosquitto.port),
            "ISANFARM_INFLUX_URL": influxdb.url,
            "ISANFARM_INFLUX_DATABASE": influx.settings.database,
            "ISANFARM_DATABASE_URL": registry_url,
        }
        # Entered before the fleet, so they are stopped after it (ExitStack unwinds in reverse).
        running.enter_context(_child("ingest", ["ingest"], env, state_dir))
        running.enter_context(_child("api", ["api", "--port", str(api_port)], env, state_dir))
        fleet = running.enter_context(_fleet(args, configs))
        running.enter_context(_forecasts(influx.settings, registry_url, state_dir))
        _print_where_to_look(
            api_port, influxdb.url, influx.settings.database, state_dir, api_key, configs
        )
        deadline = time.monotonic() + args.duration if args.duration else None
        while not stop.wait(PROGRESS_EVERY_S):
            _print_progress(fleet, stored=_stored_per_device(influx))
            if deadline and time.monotonic() >= deadline:
                break
        print("stopping: devices, then ingest and the API, then the servers ...", flush=True)
    print("stopped.")
    return 0


def _configs(args: argparse.Namespace, mqtt: MqttConfig, state_dir: Path) -> list[EdgeConfig]:
    layout = FarmLayout(args.farm_id, args.fields, args.barns, args.seed, args.interval)
    return device_configs(layout, mqtt, state_dir)


def _register(registry_url: str, configs: list[EdgeConfig], days_back: float) -> str:
    """The demo farm in the registry, so the API serves it, with every animal its barns weigh
    from the simulated clock's start ``days_back`` ago, so each herd forecast uses its target;
    returns a read key for it. A restart updates the same rows."""
    from registry.db import make_engine, migrate, session_factory
    from tooling.seed import register_simulated_farm

    engine = make_engine(registry_url)
    migrate(engine)
    try:
        with session_factory(engine)() as session, session.begin():
            planting = simulation_start(365).date()
            herd_start = simulation_start(days_back)
            return register_simulated_farm(session, "demo-coop", configs, planting, herd_start)
    finally:
        engine.dispose()


@contextmanager
def _fleet(args: argparse.Namespace, configs: list[EdgeConfig]) -> Iterator[SimulatedFleet]:
    start = simulation_start(args.days_back)
    clock = AcceleratedClock(int(start.timestamp() * 1000), args.speed)
    fleet = SimulatedFleet(configs, clock)
    print(
        f"simulating {len(fleet.agents)} devices of farm {args.farm_id!r} from "
        f"{start:%Y-%m-%d %H:%M} UTC at {args.speed:g}x, a reading every {args.interval:g} s "
        "of device time",
        flush=True,
    )
    fleet.start()
    try:
        yield fleet
    finally:
        fleet.stop()


@contextmanager
def _child(name: str, command: list[str], env: dict[str, str], state_dir: Path) -> Iterator[None]:
    log_path = state_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tooling.cli", *command],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own session: Ctrl-C reaches only the demo, which stops children in order.
            start_new_session=True,
        )
    print(f"started {name} (pid {process.pid}, log {log_path})", flush=True)
    try:
        yield
    finally:
        stop_process(process, timeout_s=20)


@contextmanager
def _forecasts(influx: InfluxSettings, registry_url: str, state_dir: Path) -> Iterator[None]:
    """The forecast job every minute, in a thread (tooling.jobs.ScheduledForecasts); a small
    model is trained at start into the state dir, or reused from an earlier run. The demo's
    fields have days, not a season, of data: coverage checks are off here."""
    from models.settings import ModelSettings
    from tooling.jobs import ScheduledForecasts

    settings = ModelSettings(
        influx=influx,
        database_url=registry_url,
        model_dir=state_dir / "models",
        min_coverage=0.0,
        min_recent_coverage=0.0,
    )
    job = ScheduledForecasts(settings, every_s=60.0)
    job.start()
    try:
        yield
    finally:
        job.stop()


def _port(preferred: int) -> int:
    return preferred if preferred and port_is_free(preferred) else free_port()


def _stored_per_device(influx: InfluxV1) -> dict[str, int]:
    try:
        results = influx.query(
            f'SELECT count("seq") FROM "{TELEMETRY_MEASUREMENT}" GROUP BY "device"'
        )
    except InfluxError:
        return {}
    return {tags["device"]: row["count"] for tags, row in series_rows(results[0])}


def _print_where_to_look(
    api_port: int,
    influx_url: str,
    database: str,
    state_dir: Path,
    api_key: str,
    configs: list[EdgeConfig],
) -> None:
    device = configs[0].device.device_id
    print(
        "\n".join(
            [
                "",
                "isanfarm demo is running. Where to look:",
                f"  API docs       http://127.0.0.1:{api_port}/docs",
                f"  health         http://127.0.0.1:{api_port}/health",
                f"  API key        {api_key}  (read access to the demo cooperative)",
                f"  latest reading curl -H 'Authorization: Bearer {api_key}' "
                f"http://127.0.0.1:{api_port}/v1/devices/{device}/latest",
                f"  InfluxDB       {influx_url}  database '{database}' "
                f"(influx -port {influx_url.rsplit(':', 1)[1]} -database {database})",
                f"  logs and data  {state_dir}",
                "Press Ctrl-C to stop everything.",
                "",
            ]
        ),
        flush=True,
    )


def _print_progress(fleet: SimulatedFleet, stored: dict[str, int] | None) -> None:
    lines = [f"{'device':<16} {'taken':>8} {'published':>10} {'stored':>8}"]
    for device, taken, acknowledged in fleet.progress():
        stored_text = "-" if stored is None else str(stored.get(device, 0))
        lines.append(f"{device:<16} {taken:>8} {acknowledged:>10} {stored_text:>8}")
    print("\n".join(lines), flush=True)
