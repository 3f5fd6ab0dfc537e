"""The ``isanfarm`` command: one entry point that assembles the subcommands its packages own.

Each package that owns a command contributes it from its ``commands.py`` (``edge``, ``ingest``,
``api`` with ``registry``, ``dashboards`` for ``grafana``, ``notify``); the commands that wire
several layers together (``demo``, ``simulate``, ``train``, ``forecast``, ``evaluate``) and the
broker's device logins (``devices``) are tooling's own. This module lists them explicitly and
keeps only what every command shares: ``--verbose``, logging and the Ctrl-C exit code.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

import api.commands
import dashboards.commands
import edge.commands
import ingest.commands
import notify.commands
from tooling import device_commands, model_commands, simulation_commands

_DESCRIPTION = """The ``isanfarm`` command: one entry point, a subcommand per component.

Subcommands import their component only when chosen, so ``isanfarm edge`` on a Pi never loads
FastAPI, pydantic or numpy (it has none installed).
"""

#: Each adds its subcommands and sets ``func`` on them: a handler taking the parsed arguments and
#: returning the exit code. Listed in the order ``isanfarm --help`` shows them.
REGISTRARS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    simulation_commands.register,
    edge.commands.register,
    ingest.commands.register,
    api.commands.register,
    model_commands.register,
    dashboards.commands.register,
    device_commands.register,
    notify.commands.register,
)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="isanfarm", description=_DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    for register in REGISTRARS:
        register(commands)
    return parser


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per HTTP request to InfluxDB drowns everything else.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Nine INFO lines of alembic's set-up before every command that opens the registry;
    # registry.db.migrate logs the one that matters (an upgrade).
    logging.getLogger("alembic").setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
