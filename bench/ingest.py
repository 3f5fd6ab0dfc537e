"""What ingest makes of one machine: its rate and latency against the two servers it joins.

Ingest sits between Mosquitto and InfluxDB, so neither its CPU cost (``bench/ingest_path.py``)
nor a bare rate says whether it is good; what matters is how much of what the slower of the two
servers can do it delivers. All in one run, on the same machine, against a private Mosquitto
and InfluxDB 1.x (``LocalMosquitto``, ``LocalInfluxDB`` in a temp dir), with the same
realistic cassava-field telemetry (contract encoder, recent device times, one device per 1,000
messages, devices interleaved):

a. raw MQTT: a publisher process sends N messages at QoS 1 (at most ``WINDOW`` unacknowledged)
   to a plain paho subscriber (QoS 1) in this process; N / time until it has all N.
b. raw InfluxDB: the same N messages, encoded beforehand with ingest's own ``telemetry_line``,
   written with ``InfluxV1.write`` in batches of ingest's batch size, one after the other;
   N / total time. Fresh database.
c. the ingest path: an ``IngestWorker`` in a thread of this process (ingest's default batching
   and Receive Maximum; rollups and time beacon off, ``rollup_every_s=0``, ``time_beacon_s=0``,
   so this is the path MQTT -> validate -> line protocol -> write -> PUBACK itself) consumes N
   messages sent by the same publisher process as in (a); N / time from the first publish until
   ``count("seq")`` in ``telemetry`` answers N. Fresh database.
   With ``--workers N`` (default 2; 1 skips it), (c) once more with N worker processes on a
   shared subscription, started as ``isanfarm ingest run --workers N`` (same settings, given
   as ``ISANFARM_*`` variables); the end is found the same way, reading the workers' message
   counter from their metrics pages every ``POOL_POLL_S``.

(a), (b) and (c) take turns for ``rounds`` rounds (3); the best round of each is reported, the
least disturbed by whatever else the machine is doing (the load average is printed before and
after). Baseline: min(a, b), the slower server's raw rate; ``ingest_ratio`` = c / min(a, b)
with one process, goal >= 0.6; ``ingest_ratio_<N>p`` the same with N processes.

Then latency: the publisher sends at a fixed ``RATE_PER_S`` through a fresh worker (and again
through N worker processes), and this process polls InfluxDB every ``POLL_S`` for points not
yet seen; each message's latency is the time from just before its publish to the end of the
first poll that returned it (an upper bound, resolution one poll interval). Goal: p99 < 1.5 s.

The publisher is a separate process (this file with ``--publish``) so that, as with real
devices, it does not share the interpreter lock with the subscriber or the worker it feeds.

Usage: python bench/ingest.py [--quick] [--workers N]
Last line: mqtt_per_s, influx_per_s, [ingest_per_s_<N>p, ingest_ratio_<N>p, p99_s_<N>p,]
ingest_per_s, p50_s, max_s, ingest_ratio, p99_s (the unsuffixed figures: one process).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

# Run as ``python bench/ingest.py``, bench/ comes first on sys.path, where this file's own name
# would hide the ``ingest`` package it measures.
if str(Path(__file__).resolve().parent) in sys.path:
    sys.path.remove(str(Path(__file__).resolve().parent))

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest.points import telemetry_line
from ingest.settings import IngestSettings
from ingest.worker import IngestWorker
from isanfarm import contract
from isanfarm.influx import InfluxV1, series_rows
from isanfarm.processes import stop_process
from isanfarm.settings import InfluxSettings, MqttSettings
from simulators.cassava_field import CassavaFieldSim
from tooling.benchmarking import load_average, machine
from tooling.services import LocalInfluxDB, LocalMosquitto, free_ports

#: Messages per simulated device; devices take turns, so a batch spans many series.
PER_DEVICE = 1_000
SITE = "plot-1"
#: Device times start this long ago, one second apart: recent enough for ingest to file them
#: (it quarantines readings older than 90 days or in the future).
START_AGO_MS = 2 * 86_400_000
#: Unacknowledged QoS 1 messages the publisher allows itself, counted by the bench rather than by
#: paho: paho's own in-flight limit scans every outstanding message on each PUBACK (O(window)
#: per message, which capped the publisher). Also keeps paho's 16-bit message ids from wrapping
#: (65,536 outstanding would overwrite earlier ones).
WINDOW = 1_000
RATE_PER_S = 1_000.0
POLL_S = 0.05
#: The worker's SUBACK follows its CONNACK; publishing before it would lose messages.
SUBACK_WAIT_S = 0.5
#: How often the bench reads the worker processes' message counter in (c) with ``--workers``.
POOL_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class Plan:
    messages: int
    rounds: int
    latency_s: float
    timeout_s: float
    #: Worker processes of the second (c); 1: only the in-process worker.
    workers: int = 2


FULL = Plan(messages=100_000, rounds=3, latency_s=20, timeout_s=600)
QUICK = Plan(messages=15_000, rounds=3, latency_s=5, timeout_s=60)


@dataclass(frozen=True, slots=True)
class Rate:
    count: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.count / self.seconds


@dataclass(frozen=True, slots=True)
class Rates:
    """Each rate measured once per round, the three taking turns, so that a slow spell of a
    shared machine falls on one round of each rather than on every round of one; the best
    round of each (the least disturbed) is what the ratio uses."""

    mqtt: list[Rate]
    influx: list[Rate]
    ingest: list[Rate]
    #: (c) with ``Plan.workers`` processes; empty when that is 1.
    pool: list[Rate] = field(default_factory=list)


# ---- messages ------------------------------------------------------------------------------


def field_readings(count: int, start_ms: int) -> list[dict[str, float]]:
    """A cassava-field node's readings at ``count`` seconds from ``start_ms``."""
    sim = CassavaFieldSim(seed=1, start_ms=start_ms)
    return [dict(sim.read(start_ms + i * 1000)[0].values) for i in range(count)]


def telemetry(
    farm_id: str, readings: Sequence[dict[str, float]], start_ms: int
) -> list[contract.Telemetry]:
    """Message ``i`` is stamped ``start_ms + i`` seconds: distinct, in publish order, so a
    point's time says which message it is."""
    devices = max(1, len(readings) // PER_DEVICE)
    return [
        contract.Telemetry(
            farm_id, f"node-{i % devices:03d}", i // devices, start_ms + i * 1000, values, SITE
        )
        for i, values in enumerate(readings)
    ]


def index_of(time_ms: int, start_ms: int) -> int:
    return (time_ms - start_ms) // 1000


# ---- the publisher process -----------------------------------------------------------------


def publish_main(port: int, payload_file: Path, rate: float, times_file: Path) -> None:
    """Connect, say ``ready``, wait for ``go`` on stdin, publish every message at QoS 1 (at
    ``rate`` per second, or as fast as PUBACKs return with 0), wait for every PUBACK, write
    each message's publish time (wall-clock ns) to ``times_file``, say ``done``."""
    messages = read_payloads(payload_file)
    room, done, acknowledged = threading.Semaphore(WINDOW), threading.Event(), [0]

    def on_publish(*_: object) -> None:
        acknowledged[0] += 1
        room.release()
        if acknowledged[0] == len(messages):
            done.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{os.getpid()}", protocol=mqtt.MQTTv5
    )
    client.max_inflight_messages_set(0)  # unlimited in paho; ``room`` bounds it
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    wait_until(client.is_connected, 20, "the publisher's connect")
    print("ready", flush=True)
    sys.stdin.readline()
    times = paced_publish(client, messages, rate, room)
    if not done.wait(300):
        raise TimeoutError(f"publisher: {acknowledged[0]} of {len(messages)} acknowledged")
    times_file.write_bytes(times.tobytes())
    client.disconnect()
    client.loop_stop()
    print("done", flush=True)


def paced_publish(
    client: mqtt.Client,
    messages: Sequence[tuple[str, bytes]],
    rate: float,
    room: threading.Semaphore,
) -> array[int]:
    times: array[int] = array("q")
    due = time.monotonic()
    for topic, payload in messages:
        if not room.acquire(timeout=60):
            raise TimeoutError("publisher: no PUBACK for 60 s")
        times.append(time.time_ns())
        client.publish(topic, payload, qos=1)
        if rate:
            due += 1 / rate
            time.sleep(max(0.0, due - time.monotonic()))
    return times


def write_payloads(path: Path, messages: Sequence[contract.Telemetry]) -> None:
    """One ``topic<TAB>payload`` per line: compact JSON holds neither tab nor newline."""
    with open(path, "wb") as out:
        for message in messages:
            out.write(message.topic.encode() + b"\t" + contract.encode_telemetry(message) + b"\n")


def read_payloads(path: Path) -> list[tuple[str, bytes]]:
    pairs = (line.split(b"\t", 1) for line in path.read_bytes().splitlines())
    return [(topic.decode(), payload) for topic, payload in pairs]


class Publisher:
    """The publisher process, connected and waiting for ``go``."""

    def __init__(self, process: subprocess.Popen[str], times_file: Path) -> None:
        self.process = process
        self.times_file = times_file

    def go(self) -> float:
        """Start publishing; the monotonic time just before the first publish."""
        assert self.process.stdin is not None
        started = time.monotonic()
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        return started

    def finish(self, timeout_s: float) -> list[int]:
        """Wait until every message is acknowledged; their publish times, wall-clock ns."""
        out, _ = self.process.communicate(timeout=timeout_s)
        if self.process.returncode != 0 or "done" not in out:
            raise RuntimeError(f"publisher failed ({self.process.returncode}); see its stderr")
        return list(array("q", self.times_file.read_bytes()))


@contextmanager
def publisher(
    port: int, messages: Sequence[contract.Telemetry], directory: Path, rate: float = 0.0
) -> Iterator[Publisher]:
    """A publisher process loaded with ``messages``, stopped however the block is left."""
    directory.mkdir(parents=True, exist_ok=True)
    payload_file, times_file = directory / "payloads", directory / "times"
    write_payloads(payload_file, messages)
    command = [sys.executable, str(Path(__file__).resolve()), "--publish", str(payload_file)]
    command += ["--port", str(port), "--rate", str(rate), "--times", str(times_file)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the publisher did not connect; see its stderr")
        yield Publisher(process, times_file)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# ---- helpers -------------------------------------------------------------------------------


def wait_until(
    condition: Callable[[], object], timeout_s: float, what: str, every_s: float = 0.005
) -> float:
    """Poll ``condition``; the monotonic time at which it first held."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s:.0f} s")
        time.sleep(every_s)
    return time.monotonic()


def fresh_database(url: str, farm_id: str) -> InfluxV1:
    """A database of the farm's own (created now: each farm id is used once)."""
    client = InfluxV1(InfluxSettings(url=url, database=farm_id.replace("-", "_")))
    client.create_database()
    return client


def count_telemetry(influx: InfluxV1) -> int:
    series = influx.query('SELECT count("seq") FROM "telemetry"')[0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def ingest_settings(broker_port: int, influx: InfluxV1, farm_id: str) -> IngestSettings:
    """Ingest's defaults (batching, Receive Maximum), but no rollups or time beacon: the bench
    measures the path from MQTT to a stored point, not the periodic extras."""
    return IngestSettings(
        mqtt=MqttSettings(host="127.0.0.1", port=broker_port),
        influx=influx.settings,
        topic_filter=f"{contract.TOPIC_PREFIX}/{farm_id}/#",
        client_id=f"bench-ingest-{farm_id}",
        rollup_every_s=0,
        time_beacon_s=0,
    )


@contextmanager
def running_worker(settings: IngestSettings) -> Iterator[IngestWorker]:
    """An ingest worker in a thread, subscribed, stopped however the block is left."""
    influx = InfluxV1(settings.influx)
    worker = IngestWorker(settings, influx)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), name="ingest", daemon=True)
    thread.start()
    try:
        wait_until(lambda: worker.stats.connected, 20, "ingest's connect")
        time.sleep(SUBACK_WAIT_S)
        yield worker
    finally:
        stop.set()
        thread.join(30)
        influx.close()
    check_clean(worker)


def check_clean(worker: IngestWorker) -> None:
    """Every bench message is valid and recent: a reject or quarantine is a bench bug."""
    stats = worker.stats
    if stats.rejected or stats.quarantined:
        raise RuntimeError(f"ingest rejected {stats.rejected} quarantined {stats.quarantined}")


# ---- a. raw MQTT ---------------------------------------------------------------------------


def mqtt_rate(
    port: int, messages: Sequence[contract.Telemetry], directory: Path, timeout_s: float
) -> Rate:
    """A plain paho subscriber at QoS 1 (acknowledging on receipt) against the publisher."""
    subscribed, done, received, finished = threading.Event(), threading.Event(), [0], [0.0]

    def on_message(*_: object) -> None:
        received[0] += 1
        if received[0] == len(messages):
            finished[0] = time.monotonic()
            done.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-subscriber", protocol=mqtt.MQTTv5
    )
    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.subscribe(f"{contract.TOPIC_PREFIX}/{messages[0].farm_id}/#", qos=1)
        if not subscribed.wait(20):
            raise TimeoutError("the raw subscriber got no SUBACK")
        with publisher(port, messages, directory) as pub:
            started = pub.go()
            if not done.wait(timeout_s):
                raise TimeoutError(f"raw MQTT: {received[0]} of {len(messages)} received")
            pub.finish(timeout_s)
        return Rate(received[0], finished[0] - started)
    finally:
        client.disconnect()
        client.loop_stop()


# ---- b. raw InfluxDB -----------------------------------------------------------------------


def influx_rate(url: str, messages: Sequence[contract.Telemetry], batch_size: int) -> Rate:
    """Ingest's own line protocol, ingest's batch size, one write after the other."""
    influx = fresh_database(url, messages[0].farm_id)
    try:
        received_ms = time.time_ns() // 1_000_000
        lines = [telemetry_line(message, received_ms) for message in messages]
        started = time.perf_counter()
        for first in range(0, len(lines), batch_size):
            influx.write(lines[first : first + batch_size])
        seconds = time.perf_counter() - started
        stored = count_telemetry(influx)
        if stored != len(messages):
            raise RuntimeError(f"raw InfluxDB: {stored} of {len(messages)} points stored")
        return Rate(stored, seconds)
    finally:
        influx.close()


# ---- c. the ingest path --------------------------------------------------------------------


def ingest_rate(
    port: int, url: str, messages: Sequence[contract.Telemetry], directory: Path, timeout_s: float
) -> Rate:
    influx = fresh_database(url, messages[0].farm_id)
    settings = ingest_settings(port, influx, messages[0].farm_id)
    count = len(messages)
    try:
        with running_worker(settings) as worker, publisher(port, messages, directory) as pub:
            started = pub.go()
            finished = wait_queryable(influx, worker, count, timeout_s)
            pub.finish(timeout_s)
        return Rate(count, finished - started)
    finally:
        influx.close()


def wait_queryable(influx: InfluxV1, worker: IngestWorker, count: int, timeout_s: float) -> float:
    """The monotonic time at which ``count("seq")`` answers ``count``. Asks the database only
    once the worker's own counter says all are written, so that polling adds no query load to
    the writes being measured; ingest acknowledges a batch after its write returned, so the
    count is normally right on the first query."""
    try:
        wait_until(lambda: worker.stats.received >= count, timeout_s, "ingest of every message")
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}: {worker.stats}") from None
    return wait_until(lambda: count_telemetry(influx) >= count, 30, "the count", every_s=0.01)


class Pool:
    """``isanfarm ingest run --workers N``: worker processes on a shared subscription, watched
    through their Prometheus metrics (the bench cannot read their counters directly)."""

    def __init__(self, metrics_ports: Sequence[int]) -> None:
        self.metrics_ports = metrics_ports

    def metric(self, name: str) -> float:
        """``name`` summed over the workers."""
        total = 0.0
        for port in self.metrics_ports:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
                for line in page.read().decode().splitlines():
                    if line.startswith(name + " "):
                        total += float(line.split()[1])
        return total

    def ready(self) -> bool:
        try:
            return self.metric("isanfarm_ingest_connected") == len(self.metrics_ports)
        except OSError:
            return False


def pool_environment(settings: IngestSettings, metrics_port: int) -> dict[str, str]:
    """The same settings as the in-process worker's, as ``ISANFARM_*`` variables."""
    return {
        **os.environ,
        "ISANFARM_MQTT_HOST": settings.mqtt.host,
        "ISANFARM_MQTT_PORT": str(settings.mqtt.port),
        "ISANFARM_INFLUX_URL": settings.influx.url,
        "ISANFARM_INFLUX_DATABASE": settings.influx.database,
        "ISANFARM_TOPIC_FILTER": settings.topic_filter,
        "ISANFARM_CLIENT_ID": settings.client_id,
        "ISANFARM_ROLLUP_EVERY_S": "0",
        "ISANFARM_TIME_BEACON_S": "0",
        "ISANFARM_METRICS_PORT": str(metrics_port),
    }


@contextmanager
def running_pool(settings: IngestSettings, workers: int) -> Iterator[Pool]:
    """``isanfarm ingest run --workers N``, every worker subscribed, stopped however the block
    is left (SIGTERM, as a service manager would)."""
    first = free_ports(workers)
    command = [sys.executable, "-m", "tooling.cli", "ingest", "run", "--workers", str(workers)]
    process = subprocess.Popen(
        command, env=pool_environment(settings, first), stderr=subprocess.DEVNULL
    )
    pool = Pool([first + offset for offset in range(workers)])
    try:
        wait_until(pool.ready, 30, "every worker's connect", every_s=0.1)
        time.sleep(SUBACK_WAIT_S)
        yield pool
    finally:
        stop_process(process, timeout_s=30)


def pool_rate(
    port: int,
    url: str,
    messages: Sequence[contract.Telemetry],
    directory: Path,
    timeout_s: float,
    workers: int,
) -> Rate:
    """(c) with ``workers`` processes; the end is found as in ``wait_queryable``, the workers'
    counter read every ``POOL_POLL_S`` (each read costs them a metrics page)."""
    influx = fresh_database(url, messages[0].farm_id)
    settings = ingest_settings(port, influx, messages[0].farm_id)
    count = len(messages)
    received = "isanfarm_ingest_messages_received_total"
    try:
        with running_pool(settings, workers) as pool, publisher(port, messages, directory) as pub:
            started = pub.go()
            wait_until(lambda: pool.metric(received) >= count, timeout_s, "ingest", POOL_POLL_S)
            finished = wait_until(lambda: count_telemetry(influx) >= count, 30, "the count", 0.01)
            pub.finish(timeout_s)
        return Rate(count, finished - started)
    finally:
        influx.close()


# ---- latency at a fixed rate ---------------------------------------------------------------


def latencies(
    port: int,
    url: str,
    messages: Sequence[contract.Telemetry],
    directory: Path,
    timeout_s: float,
    workers: int,
) -> tuple[list[float], float]:
    """Seconds from publish to queryable for each message, sorted; and the publish rate."""
    influx = fresh_database(url, messages[0].farm_id)
    settings = ingest_settings(port, influx, messages[0].farm_id)
    start_ms = messages[0].ts_ms
    try:
        with ExitStack() as stack:
            if workers > 1:
                stack.enter_context(running_pool(settings, workers))
            else:
                stack.enter_context(running_worker(settings))
            pub = stack.enter_context(publisher(port, messages, directory, RATE_PER_S))
            pub.go()
            seen_ns = poll_visible(influx, start_ms, len(messages), timeout_s)
            published_ns = pub.finish(timeout_s)
    finally:
        influx.close()
    rate = (len(published_ns) - 1) / ((published_ns[-1] - published_ns[0]) / 1e9)
    return sorted((s - p) / 1e9 for s, p in zip(seen_ns, published_ns, strict=True)), rate


def poll_visible(influx: InfluxV1, start_ms: int, count: int, timeout_s: float) -> list[int]:
    """For each message, the wall-clock ns at which the first poll that returned it ended.
    Each poll asks for points from the earliest message not yet seen on, so a point becoming
    visible out of order is still caught."""
    seen = [0] * count
    first_unseen = 0
    deadline = time.monotonic() + timeout_s
    next_poll = time.monotonic()
    while first_unseen < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"latency: {first_unseen} of {count} queryable")
        next_poll = max(next_poll + POLL_S, time.monotonic())
        time.sleep(max(0.0, next_poll - time.monotonic()))
        since_ns = (start_ms + first_unseen * 1000) * 1_000_000
        result = influx.query(
            'SELECT "seq" FROM "telemetry" WHERE time >= $since', {"since": since_ns}
        )[0]
        now_ns = time.time_ns()
        for _, row in series_rows(result):
            index = index_of(row["time"], start_ms)
            seen[index] = seen[index] or now_ns
        while first_unseen < count and seen[first_unseen]:
            first_unseen += 1
    return seen


def quantile(ordered: Sequence[float], q: float) -> float:
    """Nearest rank."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# ---- the run -------------------------------------------------------------------------------


def load() -> str:
    return load_average()


def run(plan: Plan) -> None:
    start_ms = (time.time_ns() // 1_000_000 - START_AGO_MS) // 1000 * 1000
    count = max(plan.messages, int(plan.latency_s * RATE_PER_S))
    if count * 1000 >= START_AGO_MS:
        raise ValueError(f"{count} messages a second apart would reach into the future")
    readings = field_readings(count, start_ms)
    print(
        f"machine: {machine()}; {plan.messages} messages per rate, {plan.rounds} rounds; {load()}",
        flush=True,
    )
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ingest-")))
        broker = stack.enter_context(LocalMosquitto(tmp / "mosquitto"))
        database = stack.enter_context(LocalInfluxDB(tmp / "influxdb"))
        rates = measure_rates(
            broker.port, database.url, readings[: plan.messages], start_ms, plan, tmp
        )
        paced_readings = readings[: int(plan.latency_s * RATE_PER_S)]
        latency = {}
        for workers in sorted({1, plan.workers}):
            paced = telemetry(f"bench-latency-{workers}", paced_readings, start_ms)
            directory = tmp / f"l{workers}"
            latency[workers] = latencies(
                broker.port, database.url, paced, directory, plan.timeout_s, workers
            )
    print_rates(rates, plan.workers)
    for workers, (delays, rate) in latency.items():
        print_latency(delays, rate, workers)
    print(f"after the run: {load()}")
    print_summary(rates, latency, plan.workers)


def measure_rates(
    port: int,
    url: str,
    readings: Sequence[dict[str, float]],
    start_ms: int,
    plan: Plan,
    tmp: Path,
) -> Rates:
    """(a), (b) and (c) in turn, ``plan.rounds`` times, each on a farm and database of its own."""
    batch_size = IngestSettings.model_fields["batch_size"].default
    rates = Rates([], [], [])
    for number in range(1, plan.rounds + 1):
        farm = telemetry(f"bench-mqtt-{number}", readings, start_ms)
        rates.mqtt.append(mqtt_rate(port, farm, tmp / f"a{number}", plan.timeout_s))
        farm = telemetry(f"bench-influx-{number}", readings, start_ms)
        rates.influx.append(influx_rate(url, farm, batch_size))
        farm = telemetry(f"bench-ingest-{number}", readings, start_ms)
        rates.ingest.append(ingest_rate(port, url, farm, tmp / f"c{number}", plan.timeout_s))
        pooled = ""
        if plan.workers > 1:
            farm = telemetry(f"bench-pool-{number}", readings, start_ms)
            directory = tmp / f"p{number}"
            rates.pool.append(pool_rate(port, url, farm, directory, plan.timeout_s, plan.workers))
            pooled = f", c with {plan.workers} processes {rates.pool[-1].per_s:.0f}/s"
        print(
            f"round {number}: a. {rates.mqtt[-1].per_s:.0f}/s, b. {rates.influx[-1].per_s:.0f}/s, "
            f"c. {rates.ingest[-1].per_s:.0f}/s{pooled}",
            flush=True,
        )
    return rates


def best(rates: Sequence[Rate]) -> Rate:
    return max(rates, key=lambda rate: rate.per_s)


def print_rates(rates: Rates, workers: int) -> None:
    batch_size = IngestSettings.model_fields["batch_size"].default
    measured = [
        ("a. raw MQTT, QoS 1, publisher process -> paho subscriber", rates.mqtt),
        (f"b. raw InfluxDB, line protocol in batches of {batch_size}", rates.influx),
        ("c. ingest path, 1 process, publish -> queryable (rollups, beacon off)", rates.ingest),
    ]
    if rates.pool:
        what = f"c. ingest path, {workers} processes (ingest run --workers {workers}), same"
        measured.append((what, rates.pool))
    for what, runs in measured:
        top = best(runs)
        print(
            f"{what}: best of {len(runs)}: {top.count} in {top.seconds:.2f} s = {top.per_s:.0f}/s"
        )


def print_latency(delays: Sequence[float], rate: float, workers: int) -> None:
    processes = "1 process" if workers == 1 else f"{workers} processes"
    print(
        f"latency publish -> queryable, {processes}, {len(delays)} messages at {rate:.0f}/s, "
        f"poll every {POLL_S * 1000:.0f} ms (the resolution): p50 {quantile(delays, 0.5):.3f} s, "
        f"p99 {quantile(delays, 0.99):.3f} s, max {delays[-1]:.3f} s"
    )


def print_summary(
    rates: Rates, latency: dict[int, tuple[list[float], float]], workers: int
) -> None:
    """The last line: ``ingest_per_s``, ``ingest_ratio``, ``p50_s``, ``max_s`` and ``p99_s``
    are for one process, as in every earlier run; with ``workers`` > 1 the same figures for
    that many processes follow under ``..._<N>p``, before the one-process ratio and p99."""
    raw_mqtt, raw_influx = best(rates.mqtt), best(rates.influx)
    baseline = min(raw_mqtt.per_s, raw_influx.per_s)
    figures = {"mqtt_per_s": f"{raw_mqtt.per_s:.0f}", "influx_per_s": f"{raw_influx.per_s:.0f}"}
    if rates.pool:
        pooled, (delays, _) = best(rates.pool), latency[workers]
        figures |= {
            f"ingest_per_s_{workers}p": f"{pooled.per_s:.0f}",
            f"ingest_ratio_{workers}p": f"{pooled.per_s / baseline:.2f}",
            f"p99_s_{workers}p": f"{quantile(delays, 0.99):.3f}",
        }
    single, (delays, _) = best(rates.ingest), latency[1]
    figures |= {
        "ingest_per_s": f"{single.per_s:.0f}",
        "p50_s": f"{quantile(delays, 0.5):.3f}",
        "max_s": f"{delays[-1]:.3f}",
        "ingest_ratio": f"{single.per_s / baseline:.2f}",
        "p99_s": f"{quantile(delays, 0.99):.3f}",
    }
    print(" ".join(f"{name}: {value}" for name, value in figures.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    parser.add_argument(
        "--workers",
        type=int,
        default=FULL.workers,
        help=f"worker processes for the second (c) and the latency (default {FULL.workers}; "
        "1: only the in-process worker)",
    )
    parser.add_argument("--publish", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--times", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish:
        publish_main(args.port, args.publish, args.rate, args.times)
    else:
        run(replace(QUICK if args.quick else FULL, workers=args.workers))


if __name__ == "__main__":
    main()
