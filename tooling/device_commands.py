"""``isanfarm devices``: the production broker's CA and each device's login (docs/security.md).

Tooling's own (tooling/devices.py says why it is not the edge's). Only argparse at import time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_DESCRIPTION = """Logins for devices on the production broker (docs/security.md).

  init-ca    the operator's CA and the broker's TLS certificate, in --secrets (once; again
             with --renew-server to replace the broker's certificate)
  provision  a device's login: a password-file entry (default) or, with --cert, a client
             certificate signed by the operator's CA; prints the agent's [mqtt] section"""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    devices = commands.add_parser(
        "devices",
        help="the broker's CA and each device's login (TLS)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tasks = devices.add_subparsers(dest="task", required=True, metavar="TASK")
    init = tasks.add_parser("init-ca", help="create the operator's CA and the broker certificate")
    _add_common(init)
    init.add_argument(
        "--renew-server", action="store_true", help="replace the broker's certificate"
    )
    init.set_defaults(func=_init_ca)
    provision = tasks.add_parser(
        "provision", help="create a device's login and print its agent's [mqtt] section"
    )
    provision.add_argument("farm_id")
    provision.add_argument("device_id")
    _add_common(provision)
    provision.add_argument(
        "--cert",
        action="store_true",
        help="a client certificate from the operator's CA instead of a password",
    )
    provision.add_argument(
        "--out",
        type=Path,
        default=None,
        help="with --cert: where the device's key pair goes (default: SECRETS/devices)",
    )
    provision.add_argument(
        "--rotate",
        action="store_true",
        help="replace the device's existing password (the old one stops working)",
    )
    provision.set_defaults(func=_provision)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--secrets",
        type=Path,
        default=Path("deploy/secrets"),
        help="the broker's secrets folder (docker-compose.yml mounts files from it)",
    )
    parser.add_argument(
        "--host",
        required=True,
        help="the broker's name or address as devices reach it (checked against its certificate)",
    )


def _init_ca(args: argparse.Namespace) -> int:
    from tooling.devices import ProvisionError, init_ca

    try:
        written = init_ca(args.secrets, args.host, args.renew_server)
    except ProvisionError as exc:
        print(f"isanfarm devices: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    if not written:
        print(f"{args.secrets}: CA and broker certificate already there (--renew-server)")
    return 0


def _provision(args: argparse.Namespace) -> int:
    from tooling import devices

    try:
        username = devices.broker_username(args.farm_id, args.device_id)
        if args.cert:
            out = args.out or args.secrets / "devices"
            login = devices.issue_client_certificate(args.secrets, username, out)
            where = f"copy {login.cert_file} and {login.key_file}"
        else:
            password = devices.new_password()
            login = devices.DeviceLogin(username, password=password)
            password_file = args.secrets / devices.PASSWORD_FILE
            replaced = devices.set_password(password_file, username, password, args.rotate)
            action = "replaced in" if replaced else "added to"
            print(
                f"# {username}: password {action} {password_file}; reload the broker "
                "(docker compose kill -s HUP mosquitto)",
                file=sys.stderr,
            )
            where = "keep the password secret"
    except (ValueError, devices.ProvisionError) as exc:
        print(f"isanfarm devices: {exc}", file=sys.stderr)
        return 2
    ca_file = args.secrets / devices.CA_CERT
    print(f"# the device's agent.toml; copy {ca_file} beside it, {where}", file=sys.stderr)
    print(devices.mqtt_section(args.host, login), end="")
    return 0
