"""Device logins for the production broker: the operator's CA and the broker's certificate, a
device's password-file entry or client certificate, and the agent's ``[mqtt]`` section to go
with it (docs/security.md).

In tooling, not in ``edge``: it runs on the operator's machine beside ``docker-compose.yml``, writes
the broker's files (``deploy/secrets``) and holds the CA's key, none of which belongs on a Pi;
it ties the broker's naming rule (``deploy/mosquitto.acl``: username ``<farm_id>/<device_id>``)
to the agent's config format (``edge.config``), and only tooling wires layers together.

Passwords are hashed here with the standard library, in the format Mosquitto 2 reads
(``mosquitto_passwd``'s ``$7$``: PBKDF2-HMAC-SHA512), so an operator running the stack in Docker
needs no Mosquitto on the host. Certificates are made with the ``openssl`` command.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from isanfarm.contract import check_id

PASSWORD_FILE = "mosquitto.passwd"
CA_CERT = "ca.crt"
#: Kept in the secrets folder but never mounted into the broker (docker-compose.yml).
CA_KEY = "ca.key"
SERVER_CERT = "server.crt"
SERVER_KEY = "server.key"
#: Devices with a password, over TLS (deploy/mosquitto.conf).
PASSWORD_TLS_PORT = 8883
#: Devices with a client certificate of the operator's CA, the certificate's CN as username.
CERTIFICATE_TLS_PORT = 8884
#: Mosquitto 2's own default. The broker recomputes the hash at every CONNECT, and a whole
#: fleet reconnects at once after an outage; a generated password has 144 random bits, so more
#: rounds would slow the broker without slowing an attacker down.
HASH_ITERATIONS = 101
_SALT_BYTES = 12
_EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


class ProvisionError(RuntimeError):
    """Provisioning cannot go on; the message says what to do."""


@dataclass(frozen=True, slots=True)
class DeviceLogin:
    """What a device needs to reach the broker: its username and a password or a key pair."""

    username: str
    password: str | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


def broker_username(farm_id: str, device_id: str) -> str:
    """The naming rule of deploy/mosquitto.acl: the ACL patterns expand ``%u`` to exactly the
    two topic levels ``<farm_id>/<device_id>``, so the device may write only its own topics."""
    return f"{check_id(farm_id, 'farm_id')}/{check_id(device_id, 'device_id')}"


def password_hash(password: str, salt: bytes | None = None) -> str:
    """``$7$<iterations>$<salt>$<hash>``, the PBKDF2-SHA512 format of Mosquitto 2's
    ``mosquitto_passwd`` (12-byte salt, 64-byte hash, standard base64)."""
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, HASH_ITERATIONS)
    encode = base64.b64encode
    return f"$7${HASH_ITERATIONS}${encode(salt).decode()}${encode(digest).decode()}"


def new_password() -> str:
    return secrets.token_urlsafe(18)


def set_password(password_file: Path, username: str, password: str, rotate: bool) -> bool:
    """Add or (with ``rotate``) replace the user's entry; True if one was replaced. The file is
    rewritten whole, then renamed, so the broker never reads half of it."""
    lines = password_file.read_text().splitlines() if password_file.exists() else []
    kept = [line for line in lines if line.split(":", 1)[0] != username]
    replaced = len(kept) != len(lines)
    if replaced and not rotate:
        raise ProvisionError(
            f"{username!r} already has a password in {password_file}; to replace it (the old "
            "one stops working when the broker reloads), pass --rotate"
        )
    kept.append(f"{username}:{password_hash(password)}")
    _write_private(password_file, "\n".join(kept) + "\n")
    return replaced


def init_ca(secrets_dir: Path, host: str, renew_server: bool = False) -> list[Path]:
    """The operator's CA (once) and the broker's certificate for ``host`` (the name or address
    devices connect to, which their TLS check compares with the certificate); returns the
    files written."""
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    written = []
    if not (secrets_dir / CA_CERT).exists():
        _openssl(
            secrets_dir,
            "req",
            "-x509",
            *_EC,
            "-keyout",
            CA_KEY,
            "-out",
            CA_CERT,
            "-days",
            "3650",
            "-subj",
            "/CN=isanfarm operator CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        )
        os.chmod(secrets_dir / CA_KEY, 0o600)
        written += [secrets_dir / CA_CERT, secrets_dir / CA_KEY]
    if renew_server or not (secrets_dir / SERVER_CERT).exists():
        kind = "IP" if _is_address(host) else "DNS"
        _sign(
            secrets_dir,
            secrets_dir / SERVER_KEY,
            secrets_dir / SERVER_CERT,
            f"/CN={host}",
            f"subjectAltName={kind}:{host}\nextendedKeyUsage=serverAuth\n",
            days=825,
        )
        # The broker in its container runs as another user: it must read its own key.
        os.chmod(secrets_dir / SERVER_KEY, 0o644)
        written += [secrets_dir / SERVER_CERT, secrets_dir / SERVER_KEY]
    return written


def issue_client_certificate(secrets_dir: Path, username: str, out_dir: Path) -> DeviceLogin:
    """A key pair for the device, signed by the operator's CA, with ``username`` as its CN
    (the broker's certificate listener takes the CN as the username, so the ACL applies)."""
    if not (secrets_dir / CA_KEY).exists():
        raise ProvisionError(
            f"no CA in {secrets_dir}: run 'isanfarm devices init-ca --host <broker name>' first"
        )
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    stem = username.replace("/", "__")
    cert, key = out_dir / f"{stem}.crt", out_dir / f"{stem}.key"
    subject = "/CN=" + username.replace("/", "\\/")
    _sign(secrets_dir, key, cert, subject, "extendedKeyUsage=clientAuth\n", days=825)
    os.chmod(key, 0o600)
    return DeviceLogin(username, cert_file=cert, key_file=key)


def mqtt_section(host: str, login: DeviceLogin, ca_file: str = CA_CERT) -> str:
    """The agent's ``[mqtt]`` TOML section (edge.config.MqttConfig) for this login. Files are
    named relative to the agent's TOML, as ``load_config`` resolves them."""
    port = PASSWORD_TLS_PORT if login.password is not None else CERTIFICATE_TLS_PORT
    lines = [
        "[mqtt]",
        f"host = {_toml(host)}",
        f"port = {port}",
        "tls = true",
        f"ca_file = {_toml(ca_file)}",
        f"username = {_toml(login.username)}",
    ]
    if login.password is not None:
        lines.append(f"password = {_toml(login.password)}")
    if login.cert_file is not None and login.key_file is not None:
        lines.append(f"cert_file = {_toml(login.cert_file.name)}")
        lines.append(f"key_file = {_toml(login.key_file.name)}")
    return "\n".join(lines) + "\n"


def _toml(text: str) -> str:
    """A TOML basic string (ids, host names and base64url passwords need no escapes, but a
    host given by hand might)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sign(
    secrets_dir: Path, key: Path, cert: Path, subject: str, extensions: str, days: int
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        request, extfile = Path(scratch) / "request.csr", Path(scratch) / "ext.cnf"
        extfile.write_text(extensions)
        _openssl(
            secrets_dir, "req", *_EC, "-keyout", str(key), "-out", str(request), "-subj", subject
        )
        _openssl(
            secrets_dir,
            "x509",
            "-req",
            "-in",
            str(request),
            "-CA",
            CA_CERT,
            "-CAkey",
            CA_KEY,
            "-CAcreateserial",
            "-out",
            str(cert),
            "-days",
            str(days),
            "-extfile",
            str(extfile),
        )


def _openssl(cwd: Path, *args: str) -> None:
    tool = shutil.which("openssl")
    if tool is None:
        raise ProvisionError("the 'openssl' command is needed for certificates: install it")
    done = subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ProvisionError(f"openssl {args[0]} failed: {done.stderr.strip()}")


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as file:
        file.write(text)
    # Readable by the broker's user in its container, never writable by it.
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)
