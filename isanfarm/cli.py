"""The ``isanfarm`` command: one entry point, a subcommand per component.

Subcommands import their component only when chosen, so ``isanfarm edge`` on a Pi never loads
FastAPI, pydantic or numpy (it has none installed).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

#: The broker refused the agent's credentials (sysexits' EX_CONFIG): the systemd unit does not
#: restart on it, since retrying cannot help.
EXIT_REFUSED = 78


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per HTTP request to InfluxDB drowns everything else.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="isanfarm", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="run the whole system on simulated farms, on private local servers"
    )
    demo.add_argument(
        "--state-dir",
        type=Path,
        default=Path("state/demo"),
        help="where the demo's broker and database keep their data",
    )
    _add_simulation_options(demo)
    demo.add_argument("--api-port", type=int, default=8000)
    demo.add_argument("--mqtt-port", type=int, default=11883)
    demo.add_argument("--influx-port", type=int, default=18086)
    demo.add_argument(
        "--duration",
        type=float,
        default=0,
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    demo.set_defaults(run=_demo)

    simulate = commands.add_parser(
        "simulate",
        help="simulated devices publishing through real edge agents to a broker",
        description="Live mode: simulated cassava fields and cattle barns, each behind a real "
        "edge agent, publish to the MQTT broker named by ISANFARM_MQTT_HOST/PORT at an "
        "accelerated clock. (Fleet and offline-season modes arrive with the Simulators issue.)",
    )
    simulate.add_argument("--state-dir", type=Path, default=Path("state/simulate"))
    _add_simulation_options(simulate)
    simulate.set_defaults(run=_simulate)

    edge = commands.add_parser(
        "edge",
        help="run one edge agent from its TOML config, or check the config",
        description="'isanfarm edge run' runs the agent; 'isanfarm edge check' validates the "
        "config and builds its drivers without connecting or reading anything.",
    )
    edge.add_argument("action", nargs="?", choices=["run", "check"], default="run")
    edge.add_argument("--config", type=Path, required=True, help="the device's agent.toml")
    edge.set_defaults(run=_edge)

    ingest = commands.add_parser("ingest", help="MQTT to InfluxDB worker (ISANFARM_* settings)")
    ingest.set_defaults(run=_ingest)

    api = commands.add_parser("api", help="serve the HTTP API (ISANFARM_* settings)")
    api.add_argument("--host", default=None)
    api.add_argument("--port", type=int, default=None)
    api.set_defaults(run=_api)
    return parser


def _add_simulation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--farm-id", default="korat-demo")
    parser.add_argument("--fields", type=int, default=1, help="simulated cassava fields")
    parser.add_argument("--barns", type=int, default=1, help="simulated cattle barns")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--interval", type=float, default=600.0, help="device seconds between readings"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=600.0,
        help="device seconds per real second until the clock reaches now",
    )
    parser.add_argument(
        "--days-back", type=float, default=7.0, help="the simulated clock starts this many days ago"
    )


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handle(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def _edge(args: argparse.Namespace) -> int:
    from edge.config import ConfigError, load_config
    from edge.runner import build_agent, build_drivers

    try:
        config = load_config(args.config, os.environ)
        if args.action == "check":
            for driver in build_drivers(config):
                driver.close()
            sensors = ", ".join(sensor.driver for sensor in config.sensors)
            print(
                f"{args.config}: ok: device {config.device.device_id!r} of farm "
                f"{config.device.farm_id!r}, sensors: {sensors}, broker "
                f"{config.mqtt.host}:{config.mqtt.port}{' (TLS)' if config.mqtt.uses_tls else ''}"
            )
            return 0
        agent = build_agent(config)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"isanfarm edge: {exc}", file=sys.stderr)
        return 2
    agent.run(_stop_on_signals())
    return EXIT_REFUSED if agent.stats.fatal_error else 0


def _ingest(args: argparse.Namespace) -> int:
    from ingest.settings import IngestSettings
    from ingest.worker import IngestWorker
    from isanfarm.influx import InfluxV1

    settings = IngestSettings()
    influx = InfluxV1(settings.influx)
    try:
        IngestWorker(settings, influx).run(_stop_on_signals())
    finally:
        influx.close()
    return 0


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from api.main import create_app
    from api.settings import ApiSettings

    settings = ApiSettings()
    uvicorn.run(
        create_app(settings),
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level="warning",
    )
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from isanfarm.demo import run_simulation

    return run_simulation(args, _stop_on_signals())


def _demo(args: argparse.Namespace) -> int:
    from isanfarm.demo import run_demo

    return run_demo(args, _stop_on_signals())


if __name__ == "__main__":
    sys.exit(main())
