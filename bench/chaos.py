"""Fault injection: is every reading an agent took stored once, whatever fails?

Each scenario runs a real edge agent (``isanfarm edge run``, a simulated cassava field sampled
every ``interval_s`` of wall time) and a real ingest (``isanfarm ingest run``) as processes, on a
private Mosquitto of its own (passwords and ``deploy/mosquitto.acl``, as in production) and a
private InfluxDB 1.x, and breaks one thing the hard way:

- ``broker-kill``: Mosquitto ``kill -9``, down ``down_s``, started again on its data;
- ``database-kill``: InfluxDB ``kill -9`` (an InfluxDB of the scenario's own), down ``db_down_s``;
- ``ingest-kill``: ingest ``kill -9``, down ``down_s``, started again;
- ``agent-kill``: the agent ``kill -9`` mid-run, started again after ``agent_down_s``;
- ``link-cut``: the agent reaches the broker through a TCP proxy that stops carrying bytes for
  ``cut_s`` (a cut link: nothing arrives, nothing is refused or closed; on a connection open
  before the cut, what TCP would retransmit the proxy holds and delivers once the link is back;
  a connection attempted during the cut gets no answer: its SYN is dropped);
- ``broker-crash-behind``: ingest stopped for ``behind_s``, so the broker queues for its
  session, then Mosquitto ``kill -9`` and started again, then ingest started again: what the
  broker had acknowledged since its last autosave (every 10 s, deploy/mosquitto.conf) is gone;
- ``mqtt311-refused``: the agent speaks MQTT 3.1.1 with a login the ACL refuses for its topics
  for ``refused_s`` (3.1.1 has no refusal code: the broker acknowledges and drops), then is
  stopped and started with its right login.

Counting, from outside the agent: a SQLite trigger, added to the agent's outbox file before the
agent starts, journals every reading the agent puts in its outbox (in the same transaction), so
**handed** = distinct ``seq`` journalled. **stored** = points of the device in ``telemetry``;
**duplicates** = stored points minus distinct stored ``seq`` (a reading stored as two points);
**lost** = handed ``seq`` not stored by the end. A reading still waiting in the agent's outbox
at the end (the settle time ran out) counts as lost too, and is shown as ``pending``.
**resume_s** (link faults: broker kill, link cut, broker crash): seconds from the link being
back (the broker accepting connections again, the proxy carrying bytes) to the first of the
agent's readings a subscriber on the broker receives; that subscriber reconnects every 0.1-0.5 s,
so this is an upper bound by up to half a second. The scenarios run side by side, each on its
own servers (InfluxDB shared but for ``database-kill``), to finish a ``--quick`` run within a
minute.

Usage: python bench/chaos.py [--quick] [--only NAME ...] [--agent-toml 'key = "value"']
Last line: scenarios, handed, stored, lost, duplicates, resume_s (worst).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

# Run as ``python bench/chaos.py``, bench/ comes first on sys.path, where bench/edge.py and
# bench/ingest.py would hide the packages of those names.
if str(Path(__file__).resolve().parent) in sys.path:
    sys.path.remove(str(Path(__file__).resolve().parent))

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.outbox import Outbox
from isanfarm import contract
from isanfarm.influx import InfluxV1, series_rows
from isanfarm.processes import stop_process
from isanfarm.settings import InfluxSettings
from tooling.benchmarking import load_average, machine
from tooling.services import LocalInfluxDB, LocalMosquitto, free_port

ROOT = Path(__file__).resolve().parents[1]
FARM = "chaos"
DATABASE = "chaos"
INGEST_USER = "isanfarm-ingest"
#: A valid login whose ACL patterns cover another device's topics, not the scenario's.
WRONG_DEVICE = "someone-else"
#: Python processes starting side by side on a loaded machine take a while.
STARTUP_S = 60.0


@dataclass(frozen=True, slots=True)
class Plan:
    interval_s: float
    warm_s: float
    down_s: float
    db_down_s: float
    agent_down_s: float
    cut_s: float
    behind_s: float
    refused_s: float
    after_s: float
    settle_s: float


QUICK = Plan(
    interval_s=0.25,
    warm_s=4,
    down_s=6,
    db_down_s=8,
    agent_down_s=3,
    cut_s=10,
    behind_s=8,
    refused_s=6,
    after_s=3,
    settle_s=20,
)
FULL = Plan(
    interval_s=0.25,
    warm_s=10,
    down_s=30,
    db_down_s=60,
    agent_down_s=10,
    cut_s=180,
    behind_s=25,
    refused_s=15,
    after_s=10,
    settle_s=120,
)


@dataclass
class Outcome:
    name: str
    handed: int = 0
    stored: int = 0
    lost: int = 0
    duplicates: int = 0
    pending: int = 0
    quarantined: int = 0
    resume_s: float | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)


# ---- the link proxy ------------------------------------------------------------------------


class LinkProxy:
    """A TCP proxy to the broker that can stop carrying bytes, as a cut link does: nothing is
    refused or closed. On a connection open before the cut, bytes (and closes) wait in the proxy
    until the link is back, as TCP's retransmissions would deliver them. A connection attempted
    during the cut gets no answer at all: the proxy stops accepting and fills its accept queue
    (backlog 0), so the kernel drops the SYN and the client's connect times out, as on a dead
    link; never a late answer that would let a client skip its reconnect backoff."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._up = threading.Event()
        self._up.set()
        self._closing = threading.Event()
        self._sockets: list[socket.socket] = []
        self._fillers: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", self.port), backlog=0)
        threading.Thread(target=self._accept, daemon=True, name="proxy").start()

    def cut(self) -> None:
        self._up.clear()
        # The accept thread may take one of these (and hold it); the others fill the queue.
        for _ in range(3):
            filler = socket.socket()
            filler.settimeout(0.5)
            with suppress(OSError):
                filler.connect(("127.0.0.1", self.port))
            self._fillers.append(filler)

    def restore(self) -> None:
        for filler in self._fillers:
            filler.close()
        self._fillers.clear()
        self._up.set()

    def close(self) -> None:
        self._closing.set()
        self.restore()
        for sock in [self._listener, *self._sockets]:
            with suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._up.is_set():
                # Taken just as the link went down: answer nothing, reset when it is back.
                self._up.wait()
                with suppress(OSError):
                    linger = struct.pack("ii", 1, 0)
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                client.close()
                continue
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        self._sockets += [client, upstream]
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            self._up.wait()
            try:
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                sink.sendall(data)
            except OSError:
                return


# ---- readings: the journal, the store, the subscriber --------------------------------------


def install_journal(outbox_path: Path) -> None:
    """Every row the agent inserts into its outbox is journalled, in the same transaction."""
    Outbox(outbox_path).close()
    with sqlite3.connect(outbox_path) as db:
        db.executescript(
            """
            CREATE TABLE IF NOT EXISTS chaos_journal (seq INTEGER, ts_ms INTEGER);
            CREATE TRIGGER IF NOT EXISTS chaos_journal_put AFTER INSERT ON outbox BEGIN
                INSERT INTO chaos_journal
                VALUES (json_extract(CAST(NEW.payload AS TEXT), '$.seq'), NEW.ts_ms);
            END;
            """
        )
    db.close()


def journal(outbox_path: Path) -> tuple[set[int], int]:
    """Seqs handed to the outbox, and how many readings wait in it now."""
    with sqlite3.connect(f"file:{outbox_path}?mode=ro", uri=True, timeout=30) as db:
        handed = {row[0] for row in db.execute("SELECT seq FROM chaos_journal")}
        waiting = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
    db.close()
    return handed, int(waiting)


def stored(influx: InfluxV1, device: str, measurement: str = "telemetry") -> list[int]:
    result = influx.query(
        f'SELECT "seq" FROM "{measurement}" WHERE "device" = $device', {"device": device}
    )[0]
    return [int(row["seq"]) for _, row in series_rows(result)]


class FirstArrival:
    """A subscriber straight on the broker (never through the proxy): when did the device's
    first reading after a given instant arrive? Clean session, so only new publishes."""

    def __init__(self, port: int, password: str, device: str) -> None:
        self.arrivals: list[float] = []
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"chaos-watch-{device}", protocol=mqtt.MQTTv5
        )
        self._client.username_pw_set(INGEST_USER, password)
        topic = contract.telemetry_topic(FARM, device)
        self._client.on_connect = lambda client, *_: client.subscribe(topic, qos=0)
        self._client.on_message = lambda *_: self.arrivals.append(time.monotonic())
        self._client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def first_after(self, instant: float, timeout_s: float) -> float | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            later = [t for t in list(self.arrivals) if t >= instant]
            if later:
                return later[0] - instant
            time.sleep(0.05)
        return None

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


# ---- processes -----------------------------------------------------------------------------


def spawn(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ISANFARM_")}
    base["PYTHONPATH"] = str(ROOT)
    with open(log, "ab") as out:
        # Run from the log's folder: from bench/, ``edge`` would be bench/edge.py.
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**base, **env}, cwd=log.parent
        )


class Ingest:
    def __init__(self, folder: Path, broker_port: int, password: str, influx_url: str) -> None:
        self.log = folder / "ingest.log"
        self.env = {
            "ISANFARM_MQTT_PORT": str(broker_port),
            "ISANFARM_MQTT_USERNAME": INGEST_USER,
            "ISANFARM_MQTT_PASSWORD": password,
            "ISANFARM_INFLUX_URL": influx_url,
            "ISANFARM_INFLUX_DATABASE": DATABASE,
            "ISANFARM_ROLLUP_EVERY_S": "0",
            "ISANFARM_METRICS_PORT": str(free_port()),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "tooling.cli", "ingest", "run"]
        self.process = spawn(command, self.log, self.env)

    def connected(self) -> bool:
        """From its metrics: until ingest has subscribed once, the broker keeps nothing for it."""
        url = f"http://127.0.0.1:{self.env['ISANFARM_METRICS_PORT']}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=2) as page:
                return "isanfarm_ingest_connected 1.0" in page.read().decode()
        except OSError:
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


class Agent:
    def __init__(
        self, folder: Path, device: str, port: int, password: str, plan: Plan, extra: str
    ) -> None:
        self.folder, self.device, self.plan = folder, device, plan
        #: TOML appended to the config (``--agent-toml``).
        self.extra = extra
        self.outbox = folder / "state" / "outbox.sqlite"
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True)
        self.write_config(port, f"{FARM}/{device}", password)
        install_journal(self.outbox)

    def write_config(self, port: int, username: str, password: str, protocol: str = "5") -> None:
        (self.folder / "agent.toml").write_text(
            f'state_dir = "state"\n\n[device]\nfarm_id = "{FARM}"\n'
            f'device_id = "{self.device}"\ninterval_s = {self.plan.interval_s}\n\n'
            f'[[sensors]]\ndriver = "simulated"\nkind = "cassava_field"\nseed = 5\n\n'
            f'[mqtt]\nport = {port}\nusername = "{username}"\npassword = "{password}"\n'
            f'protocol = "{protocol}"\n{self.extra}'
        )

    def start(self) -> None:
        command = [sys.executable, "-m", "tooling.cli", "edge", "run", "--config", "agent.toml"]
        self.process = spawn(command, self.folder / "agent.log", {})

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def drained(self) -> bool:
        return journal(self.outbox)[1] == 0

    def sampling(self) -> bool:
        return bool(journal(self.outbox)[0])


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout_s:.0f} s")
        time.sleep(0.1)


# ---- one scenario --------------------------------------------------------------------------


class Scenario:
    """One device, its broker, its ingest (and for ``database-kill`` its database)."""

    def __init__(
        self, name: str, folder: Path, influx: LocalInfluxDB | None, plan: Plan, extra: str
    ) -> None:
        self.name, self.plan, self.extra = name, plan, extra
        self.folder = folder
        folder.mkdir(parents=True)
        self.passwords = {INGEST_USER: "ingest-pw", f"{FARM}/{name}": f"{name}-pw"}
        self.passwords[f"{FARM}/{WRONG_DEVICE}"] = "other-pw"
        self.broker = LocalMosquitto(
            folder / "mosquitto", users=self.passwords, acl_file=ROOT / "deploy/mosquitto.acl"
        )
        self.own_influx = influx is None
        self.influxdb = influx or LocalInfluxDB(folder / "influxdb")
        self.outcome = Outcome(name)
        self.agent_port = self.broker.port
        self.proxy: LinkProxy | None = None

    @contextmanager
    def running(self) -> Iterator[None]:
        with ExitStack() as stack:
            if self.own_influx:
                stack.enter_context(self.influxdb)
            stack.enter_context(self.broker)
            stack.callback(self.broker.stop)  # a scenario may have started it again
            self.influx = InfluxV1(InfluxSettings(url=self.influxdb.url, database=DATABASE))
            stack.callback(self.influx.close)
            self.influx.create_database()
            if self.name == "link-cut":
                self.proxy = LinkProxy(self.broker.port)
                stack.callback(self.proxy.close)
                self.agent_port = self.proxy.port
            self.ingest = Ingest(
                self.folder, self.broker.port, self.passwords[INGEST_USER], self.influxdb.url
            )
            stack.callback(self.ingest.stop)
            self.agent = Agent(
                self.folder / "agent",
                self.name,
                self.agent_port,
                self.passwords[f"{FARM}/{self.name}"],
                self.plan,
                self.extra,
            )
            stack.callback(self.agent.stop)
            self.watch = FirstArrival(self.broker.port, self.passwords[INGEST_USER], self.name)
            stack.callback(self.watch.close)
            yield

    def run(self) -> Outcome:
        try:
            with self.running():
                self.ingest.start()
                wait_until(self.ingest.connected, STARTUP_S, "ingest to connect")
                # As a broker running for longer than its autosave interval would have: ingest's
                # session is on disk (nothing of the agent's yet). A moment first: its
                # subscription follows its connect.
                time.sleep(0.5)
                self.broker.save()
                if self.name == "mqtt311-refused":
                    wrong = f"{FARM}/{WRONG_DEVICE}"
                    self.agent.write_config(
                        self.agent_port, wrong, self.passwords[wrong], protocol="3.1.1"
                    )
                self.agent.start()
                wait_until(self.agent.sampling, STARTUP_S, "the agent's first reading")
                time.sleep(self.plan.warm_s)
                FAULTS[self.name](self)
                time.sleep(self.plan.after_s)
                self.settle()
        except Exception as exc:  # report it with the rest; never a made-up figure
            self.outcome.error = f"{type(exc).__name__}: {exc}"
        return self.outcome

    def settle(self) -> None:
        """Let the agent empty its outbox, stop it, and wait for ingest to store the rest."""
        deadline = time.monotonic() + self.plan.settle_s
        while time.monotonic() < deadline and not self.agent.drained():
            time.sleep(0.2)
        self.agent.stop()
        handed, waiting = journal(self.agent.outbox)
        while time.monotonic() < deadline and not handed <= set(stored(self.influx, self.name)):
            time.sleep(0.5)
        points = stored(self.influx, self.name)
        outcome = self.outcome
        outcome.handed, outcome.pending = len(handed), waiting
        outcome.stored = len(points)
        outcome.duplicates = len(points) - len(set(points))
        outcome.lost = len(handed - set(points))
        outcome.quarantined = len(stored(self.influx, self.name, "telemetry_quarantine"))

    def link_back(self, instant: float) -> None:
        self.outcome.resume_s = self.watch.first_after(instant, self.plan.settle_s)
        if self.outcome.resume_s is None:
            self.outcome.notes.append(f"no reading within {self.plan.settle_s:.0f} s of link back")


def broker_kill(scenario: Scenario) -> None:
    scenario.broker.kill()
    time.sleep(scenario.plan.down_s)
    scenario.broker.start()
    scenario.link_back(time.monotonic())


def database_kill(scenario: Scenario) -> None:
    scenario.influxdb.kill()
    time.sleep(scenario.plan.db_down_s)
    scenario.influxdb.start()


def ingest_kill(scenario: Scenario) -> None:
    scenario.ingest.kill()
    time.sleep(scenario.plan.down_s)
    scenario.ingest.start()


def agent_kill(scenario: Scenario) -> None:
    scenario.agent.kill()
    time.sleep(scenario.plan.agent_down_s)
    scenario.agent.start()


def link_cut(scenario: Scenario) -> None:
    assert scenario.proxy is not None
    scenario.proxy.cut()
    time.sleep(scenario.plan.cut_s)
    scenario.proxy.restore()
    scenario.link_back(time.monotonic())


def broker_crash_behind(scenario: Scenario) -> None:
    # Stopped, not frozen: a frozen ingest stays connected, and the broker pushes up to its
    # receive maximum (2,000) into the frozen process's socket, where a broker crash cannot
    # reach them. Stopped, its persistent session makes the broker queue for it, in memory.
    scenario.ingest.stop()
    time.sleep(scenario.plan.behind_s)
    scenario.broker.kill()
    scenario.broker.start()
    scenario.link_back(time.monotonic())
    scenario.ingest.start()


def mqtt311_refused(scenario: Scenario) -> None:
    time.sleep(scenario.plan.refused_s)
    scenario.agent.stop()
    login = f"{FARM}/{scenario.name}"
    scenario.agent.write_config(scenario.agent_port, login, scenario.passwords[login], "3.1.1")
    scenario.agent.start()


FAULTS: dict[str, Callable[[Scenario], None]] = {
    "broker-kill": broker_kill,
    "database-kill": database_kill,
    "ingest-kill": ingest_kill,
    "agent-kill": agent_kill,
    "link-cut": link_cut,
    "broker-crash-behind": broker_crash_behind,
    "mqtt311-refused": mqtt311_refused,
}


# ---- the run -------------------------------------------------------------------------------


def run(plan: Plan, names: list[str], folder: Path, extra: str) -> list[Outcome]:
    with LocalInfluxDB(folder / "influxdb") as shared:
        scenarios = [
            Scenario(name, folder / name, None if name == "database-kill" else shared, plan, extra)
            for name in names
        ]
        outcomes: dict[str, Outcome] = {}
        threads = [
            threading.Thread(
                target=lambda s=scenario: outcomes.__setitem__(s.name, s.run()), name=scenario.name
            )
            for scenario in scenarios
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return [outcomes[name] for name in names]


def print_outcome(outcome: Outcome) -> None:
    resume = "-" if outcome.resume_s is None else f"{outcome.resume_s:.1f}"
    figures = (
        f"handed {outcome.handed} stored {outcome.stored} lost {outcome.lost} "
        f"duplicates {outcome.duplicates} pending {outcome.pending} "
        f"quarantined {outcome.quarantined} resume_s {resume}"
    )
    extra = "; ".join(([outcome.error] if outcome.error else []) + outcome.notes)
    print(f"{outcome.name:<20} {figures}{'  (' + extra + ')' if extra else ''}", flush=True)


def summary(outcomes: list[Outcome]) -> str:
    resumes = [o.resume_s for o in outcomes if o.resume_s is not None]
    unresumed = any(o.notes for o in outcomes)
    worst = "none" if unresumed else f"{max(resumes):.1f}" if resumes else "n/a"
    return (
        f"scenarios: {len(outcomes)} handed: {sum(o.handed for o in outcomes)} "
        f"stored: {sum(o.stored for o in outcomes)} lost: {sum(o.lost for o in outcomes)} "
        f"duplicates: {sum(o.duplicates for o in outcomes)} resume_s: {worst}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short faults, under a minute")
    parser.add_argument("--only", nargs="+", choices=list(FAULTS), help="run these scenarios")
    parser.add_argument("--keep", type=Path, help="keep the servers' and agents' files here")
    parser.add_argument(
        "--agent-toml",
        default="",
        help="TOML appended to each agent's config after its [mqtt] keys (e.g. a setting of "
        "[mqtt], or a new section with its header)",
    )
    args = parser.parse_args()
    extra = args.agent_toml.replace("\\n", "\n") + "\n" if args.agent_toml else ""
    if args.agent_toml:
        print(f"agent config adds: {args.agent_toml!r}")
    plan = QUICK if args.quick else FULL
    names = args.only or list(FAULTS)
    print(f"machine: {machine()}; {load_average()}")
    print(f"plan: {json.dumps(dataclasses.asdict(plan))}")
    started = time.monotonic()
    with ExitStack() as stack:
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix="chaos-", dir=args.keep))
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chaos-")))
        outcomes = run(plan, names, folder, extra)
    for outcome in outcomes:
        print_outcome(outcome)
    print(f"took {time.monotonic() - started:.0f} s; {load_average()}")
    failed = [o.name for o in outcomes if o.error]
    if failed:
        print(f"scenarios that failed to run, left out of the totals: {', '.join(failed)}")
    print(summary([o for o in outcomes if not o.error]))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
