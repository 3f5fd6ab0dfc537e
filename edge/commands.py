"""``isanfarm edge``: the edge agent's own subcommand, contributed to the ``isanfarm`` command.

Only the standard library at import time: ``tooling.cli`` imports this module on a Pi, where the
agent's modules are loaded only once the command is chosen.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from isanfarm.processes import stop_on_signals

#: The broker refused the agent's credentials (sysexits' EX_CONFIG): the systemd unit does not
#: restart on it, since retrying cannot help (deploy/isanfarm-edge.service).
EXIT_REFUSED = 78


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    edge = commands.add_parser(
        "edge",
        help="run one edge agent from its TOML config, or check the config",
        description="'isanfarm edge run' runs the agent; 'isanfarm edge check' validates the "
        "config and builds its drivers without connecting or reading anything.",
    )
    edge.add_argument("action", nargs="?", choices=["run", "check"], default="run")
    edge.add_argument("--config", type=Path, required=True, help="the device's agent.toml")
    edge.set_defaults(func=_edge)


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
    agent.run(stop_on_signals())
    return EXIT_REFUSED if agent.stats.fatal_error else 0
