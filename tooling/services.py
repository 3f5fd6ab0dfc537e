"""Private Mosquitto, InfluxDB 1.x and PostgreSQL instances on loopback, with their data in a
folder of ours.

The demo and the integration tests start their own servers rather than use the system's: they
must not touch a farm's real data, must run beside a broker already on 1883 (or a PostgreSQL on
5432), and the tests must be able to stop and restart a server mid-run. They need the Debian
packages ``mosquitto``, ``influxdb`` and ``postgresql`` (scripts/setup installs them).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from isanfarm.processes import stop_process


class ServiceError(RuntimeError):
    """A server could not be started; the message says which and where its log is."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports (``ingest run --workers N`` gives its
    workers consecutive metrics ports)."""
    for _ in range(100):
        first = free_port()
        if all(port_is_free(first + offset) for offset in range(1, count)):
            return first
    raise RuntimeError(f"no {count} consecutive free ports")


class LocalServer:
    """A server process we own: configured into ``data_dir``, stopped on ``stop``."""

    name = "server"
    binary = ""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.log_path = data_dir / f"{self.name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 20.0) -> None:
        if self._process is not None:
            return
        executable = self._executable()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = self._command(executable)
        with open(self.log_path, "ab") as log:
            self._process = self._spawn(command, log)
        deadline = time.monotonic() + timeout_s
        while not self.is_ready():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ServiceError(
                    f"{self.name} did not start on port {self.port}; see {self.log_path}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        stop_process(process)

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a power cut would."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()

    def send_signal(self, signum: int) -> None:
        """SIGSTOP freezes the server and SIGCONT thaws it: its connections stay open and
        nothing is answered, as over a mobile link that silently drops traffic."""
        if self._process is not None:
            self._process.send_signal(signum)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def is_ready(self) -> bool:
        raise NotImplementedError

    def _executable(self) -> str:
        executable = shutil.which(self.binary) or f"/usr/sbin/{self.binary}"
        if not Path(executable).exists():
            raise ServiceError(
                f"{self.binary} is not installed: run scripts/setup "
                f"(it installs Debian's package for it)"
            )
        return executable

    def _command(self, executable: str) -> list[str]:
        raise NotImplementedError

    def _spawn(self, command: list[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True, slots=True)
class BrokerTls:
    """A TLS listener: the CA that signed the broker's certificate, the broker's own pair,
    and whether clients must present a certificate signed by that CA (mutual TLS)."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    require_client_cert: bool = False


class LocalMosquitto(LocalServer):
    """Anonymous by default; with ``users`` only those may connect, with ``tls`` over TLS.
    With ``acl_file`` (a Mosquitto ACL file) each user may use only the topics it grants."""

    name = "mosquitto"
    binary = "mosquitto"

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        users: Mapping[str, str] | None = None,
        tls: BrokerTls | None = None,
        acl_file: Path | None = None,
    ) -> None:
        super().__init__(data_dir, port)
        self.users = dict(users or {})
        self.tls = tls
        self.acl_file = acl_file

    def is_ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def save(self) -> None:
        """Write the persistence file now (SIGUSR1), as the 10 s autosave would: a broker just
        started has saved nothing yet, so a crash would forget even the sessions it holds."""
        if self._process is not None:
            self._process.send_signal(signal.SIGUSR1)

    def _command(self, executable: str) -> list[str]:
        config = self.data_dir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            # Started as root, mosquitto would drop to user 'mosquitto', who cannot write
            # our data dir; this keeps the user that started it.
            "user root" if _is_root() else "",
            "persistence true",
            f"persistence_location {self.data_dir}/",
            # As deploy/mosquitto.conf: a killed broker loses at most 10 s of what it took.
            "autosave_interval 10",
            # A persistent session must hold a day's backlog of a whole farm.
            "max_queued_messages 1000000",
            "max_inflight_messages 0",
            "log_type error",
            "log_type warning",
            "log_type notice",
            *self._auth_lines(),
            *self._tls_lines(),
            "",
        ]
        config.write_text("\n".join(lines))
        return [executable, "-c", str(config)]

    def _auth_lines(self) -> list[str]:
        if not self.users:
            return ["allow_anonymous true"]
        password_file = self.data_dir / "passwords"
        password_file.unlink(missing_ok=True)
        password_file.touch(mode=0o600)
        tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        for user, password in self.users.items():
            subprocess.run([tool, "-b", str(password_file), user, password], check=True)
        acl = [f"acl_file {self.acl_file}"] if self.acl_file is not None else []
        return ["allow_anonymous false", f"password_file {password_file}", *acl]

    def _tls_lines(self) -> list[str]:
        if self.tls is None:
            return []
        return [
            f"cafile {self.tls.ca_file}",
            f"certfile {self.tls.cert_file}",
            f"keyfile {self.tls.key_file}",
            f"require_certificate {'true' if self.tls.require_client_cert else 'false'}",
        ]


class LocalInfluxDB(LocalServer):
    name = "influxdb"
    binary = "influxd"

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        super().__init__(data_dir, port)
        self.rpc_port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=0.5) as response:
                return bool(response.status == 204)
        except OSError:
            return False

    def _command(self, executable: str) -> list[str]:
        config = self.data_dir / "influxdb.conf"
        config.write_text(
            f"""reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{self.data_dir}/meta"
[data]
  dir = "{self.data_dir}/data"
  wal-dir = "{self.data_dir}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
[logging]
  level = "warn"
[continuous_queries]
  enabled = false
"""
        )
        return [executable, "-config", str(config)]


class LocalPostgres(LocalServer):
    """A throwaway PostgreSQL cluster: trust authentication for superuser ``postgres`` on
    127.0.0.1 only, durability off (``fsync=off``: a test database is never worth a flush).

    PostgreSQL refuses to run as root. Started by root, the cluster belongs to the ``postgres``
    system user (created if missing) and lives in a directory of its own under the system temp
    dir, because that user cannot enter root's private temp dirs (pytest's are mode 0700);
    the directory is removed when the ``with`` block ends.
    """

    name = "postgres"
    binary = "postgres"
    superuser = "postgres"

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        super().__init__(data_dir, port)
        self._owner = _unprivileged_user("postgres") if _is_root() else None
        self._cluster_dir: Path | None = None

    @property
    def url(self) -> str:
        """libpq URL of the ``postgres`` database, for creating and dropping databases."""
        return f"postgresql://{self.superuser}@127.0.0.1:{self.port}/postgres"

    def is_ready(self) -> bool:
        """Accepting connections: a TCP connect alone also succeeds while it still starts up."""
        ready = subprocess.run(
            [
                str(Path(self._executable()).with_name("pg_isready")),
                *("-q", "-h", "127.0.0.1", "-p", str(self.port)),
                *("-U", self.superuser, "-d", "postgres", "-t", "1"),
            ],
            check=False,
        )
        return ready.returncode == 0

    def stop(self) -> None:
        """A fast shutdown (SIGINT): SIGTERM would wait for every pooled client to hang up."""
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            stop_process(process)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        super().__exit__(kind, error, tb)
        if self._owner is not None and self._cluster_dir is not None:
            shutil.rmtree(self._cluster_dir, ignore_errors=True)

    def _executable(self) -> str:
        """The newest major version's server: Debian keeps each under its own directory."""
        installed = Path("/usr/lib/postgresql").glob("*/bin/postgres")
        versions = sorted(installed, key=lambda path: int(path.parts[-3].split(".")[0]))
        if not versions:
            raise ServiceError(
                "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): "
                "run scripts/setup (it installs Debian's package postgresql)"
            )
        return str(versions[-1])

    def _command(self, executable: str) -> list[str]:
        cluster = self._cluster()
        if not (cluster / "data" / "PG_VERSION").exists():
            self._initdb(Path(executable).with_name("initdb"), cluster / "data")
        return [
            executable,
            *("-D", str(cluster / "data"), "-p", str(self.port)),
            *("-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={cluster}"),
            *("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"),
        ]

    def _cluster(self) -> Path:
        if self._cluster_dir is None:
            if self._owner is None:
                self._cluster_dir = self.data_dir / "cluster"
                self._cluster_dir.mkdir(exist_ok=True)
            else:
                self._cluster_dir = Path(tempfile.mkdtemp(prefix="isanfarm-postgres-"))
                os.chown(self._cluster_dir, self._owner.pw_uid, self._owner.pw_gid)
        return self._cluster_dir

    def _initdb(self, initdb: Path, data: Path) -> None:
        command = [
            str(initdb),
            *("-D", str(data), "-U", self.superuser, "--auth=trust"),
            *("-E", "UTF8", "--locale=C", "--no-sync"),
        ]
        with open(self.log_path, "ab") as log:
            done = self._spawn(command, log).wait()
        if done != 0:
            raise ServiceError(f"initdb failed for {data}; see {self.log_path}")

    def _spawn(self, command: list[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
        if self._owner is None:
            return super()._spawn(command, log)
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self._cluster(),
            user=self._owner.pw_uid,
            group=self._owner.pw_gid,
            extra_groups=[],
        )


def _unprivileged_user(name: str) -> pwd.struct_passwd:
    """``name``'s account, created as a system user without login if the machine lacks it."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            [
                *("useradd", "--system", "--user-group", "--no-create-home"),
                *("--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name),
            ],
            check=True,
        )
        return pwd.getpwnam(name)


def _is_root() -> bool:
    return os.geteuid() == 0
