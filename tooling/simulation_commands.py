"""``isanfarm demo`` and ``isanfarm simulate``: simulated farms wired to the real components.

They live in tooling, not in ``simulators/``: the demo starts a broker, a database, ingest and the
API around the simulators, and only tooling may import every layer. Only argparse at import time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from isanfarm.processes import stop_on_signals

_SIMULATE_DESCRIPTION = """Simulated Korat cassava fields and Wagyu barns (docs/simulators.md).

modes:
  live     (default) each simulated device behind a real edge agent, publishing to the broker
           in ISANFARM_MQTT_HOST/PORT at an accelerated clock; --scenario adds faults and
           link outages. 'isanfarm simulate --fields 3' is live mode.
  fleet    a load generator: 1,000+ simulated devices from one process on one network thread
           (own client id, session and simulator each; QoS 1), NO agent and NO durable outbox:
           prints readings taken and acknowledged, threads and memory, stops after --duration.
  offline  whole seasons for many fields and herds straight to CSV files (and with --influx
           to InfluxDB via ISANFARM_INFLUX_*), with a progress bar on stderr: training data
           and the truth (yield, starch) forecasts are scored on.
  plot     PNGs of one field's season and one herd's weights, to eyeball realism.

'isanfarm simulate MODE --help' lists each mode's options."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    demo.set_defaults(func=_demo)
    _register_simulate(commands)


def _register_simulate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Live mode's options sit on ``simulate`` itself too, so that a bare ``isanfarm simulate``
    (no mode) is live mode."""
    simulate = commands.add_parser(
        "simulate",
        help="simulated farms: live devices, a load-test fleet, offline seasons, plots",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_SIMULATE_DESCRIPTION,
    )
    _add_live_options(simulate)
    modes = simulate.add_subparsers(dest="mode", metavar="MODE")
    live = modes.add_parser("live", help="devices behind real edge agents (the default mode)")
    _add_live_options(live)
    _add_fleet_mode(modes)
    _add_offline_mode(modes)
    _add_plot_mode(modes)
    simulate.set_defaults(func=_simulate)


def _add_live_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", type=Path, default=Path("state/simulate"))
    _add_simulation_options(parser)
    parser.add_argument("--scenario", type=Path, help="a scenario TOML (scenarios/*.toml)")


def _add_fleet_mode(modes: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fleet = modes.add_parser(
        "fleet",
        help="a load generator: 1,000+ devices from one process (no outbox)",
        description="A load generator, not an edge agent: every device has its own MQTT client "
        "id, persistent session and simulator and publishes QoS 1 telemetry stamped like the "
        "agent's, but all of them run on one network thread with no durable outbox (a reading "
        "not yet acknowledged is lost when the process stops). Use live mode or a real agent "
        "for durability. The clock starts once every device has connected (or after 60 s).",
    )
    fleet.add_argument("--devices", type=int, default=100, help="how many devices in all")
    fleet.add_argument("--barns", type=int, default=0, help="how many of them are barns")
    fleet.add_argument("--duration", type=float, default=60.0, help="real seconds to run")
    fleet.add_argument("--seed", type=int, default=1)
    fleet.add_argument("--interval", type=float, default=600.0, help="device seconds")
    fleet.add_argument("--speed", type=float, default=600.0)
    fleet.add_argument("--days-back", type=float, default=7.0)


def _add_offline_mode(modes: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    offline = modes.add_parser("offline", help="whole seasons straight to CSV (or InfluxDB)")
    offline.add_argument("--scenario", type=Path, help="default: --fields generated fields")
    offline.add_argument("--fields", type=int, default=100)
    offline.add_argument("--barns", type=int, default=0)
    offline.add_argument("--seed", type=int, default=1)
    offline.add_argument("--start", default="2025-03-01", help="first planting date")
    offline.add_argument("--days", type=int, default=365, help="days from each planting")
    offline.add_argument("--out", type=Path, default=Path("state/offline"))
    offline.add_argument("--influx", action="store_true", help="also write to ISANFARM_INFLUX_*")
    offline.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_plot_mode(modes: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plot = modes.add_parser("plot", help="PNGs of a field's season and a herd's weights")
    plot.add_argument("--out", type=Path, default=Path("state/plots"))
    plot.add_argument("--seed", type=int, default=1, help="weather and herd seed")
    plot.add_argument("--variety", default="KU50")
    plot.add_argument("--soil", default="loamy_sand")
    plot.add_argument("--planted", default="2025-05-01")
    plot.add_argument("--days", type=int, default=365)
    plot.add_argument("--management", type=float, default=0.8)
    plot.add_argument("--breed", default="wagyu_x_brahman")


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


def _simulate(args: argparse.Namespace) -> int:
    from tooling.demo import run_simulation

    try:
        return run_simulation(args, stop_on_signals())
    except ValueError as exc:  # a bad scenario or option: say which, no traceback
        print(f"isanfarm simulate: {exc}", file=sys.stderr)
        return 2


def _demo(args: argparse.Namespace) -> int:
    from tooling.demo import run_demo

    return run_demo(args, stop_on_signals())
