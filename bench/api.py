"""What a cooperative's forecast and summary requests cost the API under load, against the
cheapest authenticated request of the same app.

One run, one machine: a private InfluxDB 1.x (``LocalInfluxDB`` in a temp dir), a registry on
SQLite in the same dir with one cooperative of 10 farms and 200 fields, and a week of daily
forecast issues for every field (6 candidate harvest dates each, written the way
``tests/api_world.write_forecasts`` writes them). The app runs for real: ``isanfarm api`` in a
subprocess (one uvicorn worker, ``ISANFARM_*`` settings), driven by 50 concurrent keep-alive
clients (a minimal asyncio HTTP/1.1 client in this process, see ``Connection``), each sending
its next request as soon as the last one is answered, for a fixed window per endpoint after a
warm-up:

- trivial: ``GET /v1/fields/{id}`` of a random field: the baseline. It is the forecast lookup
  without InfluxDB: the same key check, session and ``get_visible`` of one SQLite row, the same
  path shape and id choice. ``/health`` is not trivial (it probes the broker and InfluxDB) and a
  401 would skip the key lookup every real request makes.
- forecast: ``GET /v1/fields/{id}/forecast`` of a random field (two InfluxQL queries).
- summary: ``GET /v1/cooperatives/{id}/summary`` (all 200 fields' newest issues).

The API remembers forecasts for ``ISANFARM_FORECAST_CACHE_S`` (60 s by default; the forecast job
runs daily), so after the warm-up most forecast and summary requests are answered without
InfluxDB, as a cooperative's dashboards would be; ``--forecast-cache-s 0`` measures every request
against InfluxDB.

The endpoints take turns, round after round, so that other work on the machine falls on all of
them alike; latencies are pooled over rounds. Goal: forecast p99 within 3x of the trivial p99.
CPU of the API server, influxd, the client and everything else on the machine (% of one core)
shows which one was the limit.

Usage: python bench/api.py [--quick]
Last line: trivial_rps, trivial_p50_ms, trivial_p99_ms, forecast_rps, forecast_p50_ms,
forecast_p99_ms, summary_rps, summary_p50_ms, summary_p99_ms, errors, summary_ratio (summary
p99 / trivial p99), p99_ratio (forecast p99 / trivial p99).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

# Run as ``python bench/api.py``, bench/ comes first on sys.path, where this file's own name
# would hide the ``api`` package it measures.
if str(Path(__file__).resolve().parent) in sys.path:
    sys.path.remove(str(Path(__file__).resolve().parent))

import httpx

from isanfarm import storage
from isanfarm.influx import InfluxV1
from isanfarm.processes import stop_process
from isanfarm.settings import InfluxSettings
from models.store import best_candidate
from registry import models
from registry.db import make_engine, migrate, session_factory
from registry.keys import create_key
from tooling.benchmarking import load_average, machine
from tooling.services import LocalInfluxDB, free_port

COOPERATIVE = "bench-coop"
FARMS = 10
FIELDS_PER_FARM = 20
ISSUES = 7  # daily forecast runs kept in the database
CANDIDATES = 6  # weekly candidate harvest dates per issue
CLIENTS = 50
DAY_MS = 86_400_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ENDPOINTS = ("trivial", "forecast", "summary")


@dataclass(frozen=True, slots=True)
class Plan:
    warmup_s: float
    window_s: float
    rounds: int


FULL = Plan(warmup_s=3, window_s=15, rounds=3)
QUICK = Plan(warmup_s=2, window_s=6, rounds=1)


@dataclass(slots=True)
class Phase:
    """One endpoint's window: latencies of the answered requests started in it, and CPU."""

    latencies_s: list[float] = field(default_factory=list)
    completed: int = 0
    errors: dict[int | str, int] = field(default_factory=dict)
    window_s: float = 0.0
    cpu_pct: dict[str, float] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.completed / self.window_s


# ---- the world -----------------------------------------------------------------------------


def field_ids() -> list[str]:
    return [
        f"{COOPERATIVE}-farm{farm:02d}-f{plot:02d}"
        for farm in range(1, FARMS + 1)
        for plot in range(1, FIELDS_PER_FARM + 1)
    ]


def seed_registry(database_url: str) -> str:
    """The cooperative, its farms and fields; returns a read key of the cooperative."""
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with session_factory(engine)() as session, session.begin():
            session.add(models.Cooperative(id=COOPERATIVE, name="Bench", province="Khon Kaen"))
            session.flush()
            for farm in range(1, FARMS + 1):
                farm_id = f"{COOPERATIVE}-farm{farm:02d}"
                session.add(models.Farm(id=farm_id, cooperative_id=COOPERATIVE, name=farm_id))
            session.flush()
            session.add_all(
                models.Field(
                    id=field_id,
                    farm_id=field_id.rsplit("-", 1)[0],
                    cooperative_id=COOPERATIVE,
                    name=field_id,
                    area_rai=25.0,
                    variety="KU50",
                    planting_date=date.today() - timedelta(days=240),
                    soil="loamy_sand",
                    latitude=16.4,
                    longitude=102.8,
                )
                for field_id in field_ids()
            )
            return create_key(session, COOPERATIVE, "read", "bench")
    finally:
        engine.dispose()


def forecast_lines(today: date) -> list[str]:
    """``ISSUES`` daily runs up to today, each with ``CANDIDATES`` weekly harvest dates."""
    rng = random.Random(1)
    lines = []
    for field_id in field_ids():
        farm_id = field_id.rsplit("-", 1)[0]
        for age in range(ISSUES - 1, -1, -1):
            issued = today - timedelta(days=age)
            rows = []
            for week in range(CANDIDATES):
                harvest = today + timedelta(days=60 + 7 * week)
                yield_t_ha = round(rng.uniform(25.0, 35.0), 2)
                starch = round(rng.uniform(23.0, 28.0), 2)
                tonnes = round(yield_t_ha * 4, 2)
                rows.append((harvest, yield_t_ha, starch, tonnes, round(tonnes * starch * 200)))
            # Marked as the forecast job marks it (models.store.best_candidate).
            best = best_candidate([row[-1] for row in rows])
            for week, (harvest, yield_t_ha, starch, tonnes, revenue) in enumerate(rows):
                lines.append(
                    f"{storage.CASSAVA_FORECAST},farm={farm_id},field={field_id},"
                    f"issued={issued},model_version=bench-1,variety=KU50 "
                    f"area_ha=4,{storage.BEST_HARVEST}={str(week == best).lower()},"
                    f"horizon_days={(harvest - issued).days}i,"
                    f"issued_at_ms={issued_at_ms(issued)}i,revenue_thb={revenue},"
                    f"starch_pct={starch},starch_pct_p10={starch - 1},starch_pct_p90={starch + 1},"
                    f"tonnes={tonnes},yield_t_ha={yield_t_ha},yield_t_ha_p10={yield_t_ha - 4},"
                    f"yield_t_ha_p90={yield_t_ha + 4} {local_midnight_ms(harvest)}"
                )
    return lines


def issued_at_ms(day: date) -> int:
    """The forecast run of ``day``: 05:00 Thai time."""
    return local_midnight_ms(day) + 5 * 3_600_000


def local_midnight_ms(day: date) -> int:
    return (day.toordinal() - date(1970, 1, 1).toordinal()) * DAY_MS - 7 * 3_600_000


def seed_forecasts(settings: InfluxSettings, lines: Sequence[str]) -> None:
    influx = InfluxV1(settings)
    try:
        influx.create_database()
        for start in range(0, len(lines), 5_000):
            influx.write(lines[start : start + 5_000], precision="ms")
    finally:
        influx.close()


# ---- processes -----------------------------------------------------------------------------


def cpu_s(pid: int) -> float:
    """utime + stime of the process, all threads, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_s() -> float:
    """CPU time all cores spent on anything but idling or waiting for I/O, in seconds."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def child_pid(name: str) -> int:
    """Our own child process called ``name`` (the influxd that LocalInfluxDB started)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        if comm == name and int(text.rsplit(")", 1)[1].split()[1]) == os.getpid():
            return int(stat.parent.name)
    raise RuntimeError(f"no child process {name!r} of ours")


@contextmanager
def api_server(env: Mapping[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``isanfarm api``, stopped (SIGTERM, then SIGKILL) however the block is left."""
    executable = shutil.which("isanfarm", path=str(Path(sys.executable).parent))
    if executable is None:
        raise RuntimeError("no isanfarm command beside this python: pip install -e . first")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ISANFARM_")}
    with open(log_path, "ab") as log:
        # Run from the log's folder: a relative state/ must not land in the checkout.
        process = subprocess.Popen(
            [executable, "api"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**clean, **env},
            cwd=log_path.parent,
        )
    try:
        yield process
    finally:
        stop_process(process)


def wait_ready(process: subprocess.Popen[bytes], url: str, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"isanfarm api exited with {process.returncode}; see its log")
        try:
            if httpx.get(url, headers=headers, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"isanfarm api did not answer {url} within 60 s")


# ---- load ----------------------------------------------------------------------------------


def endpoint_paths(rng: random.Random) -> dict[str, Callable[[], str]]:
    fields = field_ids()
    return {
        "trivial": lambda: f"/v1/fields/{rng.choice(fields)}",
        "forecast": lambda: f"/v1/fields/{rng.choice(fields)}/forecast",
        "summary": lambda: f"/v1/cooperatives/{COOPERATIVE}/summary",
    }


class Connection:
    """One keep-alive HTTP/1.1 connection that sends a GET and reads the whole answer.

    Why not httpx.AsyncClient: here it spends about 0.8 ms of CPU per request, as much as the
    server spends answering the trivial one, and on two cores the load would measure itself.
    This costs about 0.06 ms. Starlette's responses all carry a Content-Length.
    """

    def __init__(self, port: int, headers: Mapping[str, str]) -> None:
        self.port = port
        self.head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str) -> int:
        if self._streams is None:
            self._streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self._streams
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{self.head}\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        lengths = [
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ]
        if not lengths:
            raise ValueError(f"GET {path}: an answer without Content-Length")
        await reader.readexactly(lengths[0])
        return int(head.split(b" ", 2)[1])

    def close(self) -> None:
        streams, self._streams = self._streams, None
        if streams is not None:
            streams[1].close()


async def drive(
    port: int,
    headers: Mapping[str, str],
    path: Callable[[], str],
    plan: Plan,
    pids: Mapping[str, int],
) -> Phase:
    """``CLIENTS`` closed loops on one endpoint: warm-up, then a measured window."""
    phase = Phase(window_s=plan.window_s)
    loop = asyncio.get_running_loop()
    start = loop.time() + plan.warmup_s
    end = start + plan.window_s

    async def one_client() -> None:
        connection = Connection(port, headers)
        try:
            await client_loop(connection)
        finally:
            connection.close()

    async def client_loop(connection: Connection) -> None:
        while (sent := loop.time()) < end:
            try:
                status: int | str = await connection.get(path())
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                status = type(exc).__name__
                connection.close()
            answered = loop.time()
            if sent >= start:
                if status == 200:
                    phase.latencies_s.append(answered - sent)
                else:
                    phase.errors[status] = phase.errors.get(status, 0) + 1
            if status == 200 and start <= answered <= end:
                phase.completed += 1

    async def sample_cpu() -> None:
        await asyncio.sleep(plan.warmup_s)
        before = {name: cpu_s(pid) for name, pid in pids.items()}
        busy = machine_busy_s()
        await asyncio.sleep(plan.window_s)
        for name, pid in pids.items():
            phase.cpu_pct[name] = (cpu_s(pid) - before[name]) / plan.window_s * 100
        busy_pct = (machine_busy_s() - busy) / plan.window_s * 100
        phase.cpu_pct["others"] = max(0.0, busy_pct - sum(phase.cpu_pct.values()))

    await asyncio.gather(sample_cpu(), *(one_client() for _ in range(CLIENTS)))
    return phase


async def run_rounds(
    port: int, headers: Mapping[str, str], plan: Plan, pids: Mapping[str, int]
) -> dict[str, list[Phase]]:
    paths = endpoint_paths(random.Random(2))
    phases: dict[str, list[Phase]] = {name: [] for name in ENDPOINTS}
    for number in range(1, plan.rounds + 1):
        for name in ENDPOINTS:
            phase = await drive(port, headers, paths[name], plan, pids)
            phases[name].append(phase)
            print_phase(number, name, phase)
    return phases


def check_answers(base_url: str, headers: dict[str, str], today: date) -> None:
    """Before timing anything: the endpoints answer what was seeded."""
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        forecast = client.get(f"/v1/fields/{field_ids()[0]}/forecast").raise_for_status().json()
        issued = datetime.fromisoformat(forecast["issued_at"])
        newest = datetime.fromtimestamp(issued_at_ms(today) / 1000, tz=UTC)
        if len(forecast["candidates"]) != CANDIDATES or issued != newest:
            raise RuntimeError(
                f"forecast answered {len(forecast['candidates'])} candidates issued {issued}; "
                f"seeded {CANDIDATES} issued {newest}"
            )
        summary = client.get(f"/v1/cooperatives/{COOPERATIVE}/summary").raise_for_status().json()
        counted = sum(week["fields"] for week in summary["weeks"])
        if counted != len(field_ids()):
            raise RuntimeError(f"summary counts {counted} fields; seeded {len(field_ids())}")


# ---- figures -------------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest rank: the smallest value with at least ``share`` of all at or below it."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


def pooled(phases: Sequence[Phase]) -> tuple[float, float, float, int]:
    """requests/s (over all windows), p50 and p99 in ms, and the number of errors."""
    latencies = [s for phase in phases for s in phase.latencies_s]
    if not latencies:
        raise RuntimeError("no request was answered with 200: see the API log above")
    rps = sum(p.completed for p in phases) / sum(p.window_s for p in phases)
    errors = sum(sum(p.errors.values()) for p in phases)
    return rps, percentile(latencies, 0.50) * 1e3, percentile(latencies, 0.99) * 1e3, errors


def print_load(when: str) -> None:
    print(f"{load_average()} ({when})", flush=True)


def print_log(path: Path, wanted: Callable[[str], bool]) -> None:
    lines = [line for line in path.read_text(errors="replace").splitlines() if wanted(line)]
    if lines:
        print(f"api log, {len(lines)} line(s), the last 20:", *lines[-20:], sep="\n")


def print_phase(number: int, name: str, phase: Phase) -> None:
    latencies = phase.latencies_s or [float("nan")]
    cpu = ", ".join(f"{who} {pct:.0f}%" for who, pct in phase.cpu_pct.items())
    errors = f", errors {phase.errors}" if phase.errors else ""
    print(
        f"round {number} {name:<8}: {phase.rps:7.1f} req/s, "
        f"p50 {percentile(latencies, 0.5) * 1e3:7.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1e3:7.1f} ms; CPU {cpu}{errors}",
        flush=True,
    )


def print_summary(phases: Mapping[str, Sequence[Phase]]) -> None:
    figures: dict[str, str] = {}
    p99: dict[str, float] = {}
    total_errors = 0
    for name in ENDPOINTS:
        rps, p50_ms, p99[name], errors = pooled(phases[name])
        total_errors += errors
        figures[f"{name}_rps"] = f"{rps:.1f}"
        figures[f"{name}_p50_ms"] = f"{p50_ms:.1f}"
        figures[f"{name}_p99_ms"] = f"{p99[name]:.1f}"
    figures["errors"] = str(total_errors)
    figures["summary_ratio"] = f"{p99['summary'] / p99['trivial']:.2f}"
    figures["p99_ratio"] = f"{p99['forecast'] / p99['trivial']:.2f}"
    print(" ".join(f"{name}: {value}" for name, value in figures.items()))


# ---- the run -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    parser.add_argument(
        "--forecast-cache-s",
        type=float,
        help="the API's ISANFARM_FORECAST_CACHE_S (default: the API's own, 60); 0 measures "
        "every request against InfluxDB",
    )
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    today = date.today()
    lines = forecast_lines(today)
    print(
        f"machine: {machine()}; {len(field_ids())} fields, {ISSUES} issues x {CANDIDATES} "
        f"candidates ({len(lines)} points), {CLIENTS} clients, {plan.rounds} round(s) of "
        f"{plan.warmup_s:.0f} s warm-up + {plan.window_s:.0f} s per endpoint; forecast cache "
        f"{'the API default' if args.forecast_cache_s is None else f'{args.forecast_cache_s:g} s'}"
    )
    print_load("before")
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-api-")))
        influxd = stack.enter_context(LocalInfluxDB(tmp / "influxdb"))
        influx = InfluxSettings(url=influxd.url, database="bench")
        database_url = f"sqlite:///{tmp / 'registry.sqlite3'}"
        key = seed_registry(database_url)
        seed_forecasts(influx, lines)
        port = free_port()
        env = {
            "ISANFARM_DATABASE_URL": database_url,
            "ISANFARM_INFLUX_URL": influx.url,
            "ISANFARM_INFLUX_DATABASE": influx.database,
            "ISANFARM_MQTT_PORT": str(free_port()),  # no broker: no measured endpoint needs one
            "ISANFARM_HOST": "127.0.0.1",
            "ISANFARM_PORT": str(port),
            **(
                {"ISANFARM_FORECAST_CACHE_S": str(args.forecast_cache_s)}
                if args.forecast_cache_s is not None
                else {}
            ),
        }
        server = stack.enter_context(api_server(env, tmp / "api.log"))
        base_url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {key}"}
        try:
            wait_ready(server, f"{base_url}/v1/fields/{field_ids()[0]}", headers)
            check_answers(base_url, headers, today)
            pids = {"api": server.pid, "influxd": child_pid("influxd"), "client": os.getpid()}
            phases = asyncio.run(run_rounds(port, headers, plan, pids))
        except BaseException:
            print_log(tmp / "api.log", lambda line: True)
            raise
        print_log(tmp / "api.log", lambda line: "ERROR" in line or "Traceback" in line)
    print_load("after")
    print_summary(phases)


if __name__ == "__main__":
    main()
