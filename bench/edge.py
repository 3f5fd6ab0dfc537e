"""What the edge agent costs a gateway: memory and CPU, backlog drain speed, the fsync per put.

A Pi Zero has 512 MB and one slow core, and after a day without link the agent must empty its
outbox while still sampling; the durable outbox (SQLite, ``synchronous=FULL``) is what the agent
adds over a bare paho client, so each figure is set against a baseline from the same run, on the
same machine, against the same private Mosquitto (``LocalMosquitto`` in a temp dir):

1. steady state: peak RSS and CPU (% of one core) of a real agent process (``isanfarm edge run``,
   ten simulated cassava-field sensors at 1 s), against a bare ``python -c`` process that imports
   paho-mqtt only and publishes the same payload at the same rate with QoS 1. A subscriber counts
   what each really published. Goal (issue #4): RSS < 40 MB.
2. drain: a backlog is stored while the broker is down (the agent's own ``Outbox.put``, 1,000
   readings per put, payloads from the same driver and contract encoder the agent uses; calling
   ``EdgeAgent.sample`` 100,000 times would fsync 100,000 times for the same rows), then the
   broker starts and an in-process ``EdgeAgent`` drains it: readings acknowledged per second from
   its connect until ``unacknowledged() == 0``. Baseline: the same messages published in a plain
   paho QoS 1 loop with the agent's in-flight window, until every PUBACK is in. Goal: >= 0.5.
3. fsync: microseconds per ``Outbox.put`` of 1 and of 10 readings with the production
   ``synchronous=FULL`` and with ``NORMAL``, set on the outbox's connection after construction.

Usage: python bench/edge.py [--quick]
Last line: cpu_pct, baseline_rss_mb, baseline_cpu_pct, drain_per_s, raw_per_s, full_put_us,
normal_put_us, full_put10_us, normal_put10_us, put_ratio, rss_mb, drain_ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

# Run as ``python bench/edge.py``, bench/ comes first on sys.path, where this file's own name
# would hide the ``edge`` package it measures.
if str(Path(__file__).resolve().parent) in sys.path:
    sys.path.remove(str(Path(__file__).resolve().parent))

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import DeviceConfig, EdgeConfig, MqttConfig, SensorConfig
from edge.drivers import load_driver
from edge.outbox import Outbox, Pending
from edge.runner import build_agent
from edge.sequence import SequenceCounter
from isanfarm import contract
from isanfarm.processes import stop_process
from tooling.benchmarking import load_average, machine
from tooling.services import LocalMosquitto

FARM_ID = "bench"
SENSORS = 10
INTERVAL_S = 1
BASELINE_TOPIC = "bench/baseline"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

#: The baseline publisher: paho-mqtt and the standard library, nothing of ours.
BASELINE_SCRIPT = """
import sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
port, topic, payload_file, interval = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
payload = open(payload_file, "rb").read()
client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-baseline", protocol=mqtt.MQTTv5)
client.connect("127.0.0.1", port)
client.loop_start()
due = time.monotonic()
while True:
    client.publish(topic, payload, qos=1)
    due += interval
    time.sleep(max(0.0, due - time.monotonic()))
"""


@dataclass(frozen=True, slots=True)
class Plan:
    warmup_s: float
    window_s: float
    backlog: int
    puts: int


FULL = Plan(warmup_s=15, window_s=60, backlog=100_000, puts=2_000)
QUICK = Plan(warmup_s=5, window_s=15, backlog=10_000, puts=300)


@dataclass(frozen=True, slots=True)
class Usage:
    rss_mb: float
    cpu_pct: float
    msgs_per_s: float


@dataclass(frozen=True, slots=True)
class Drain:
    acknowledged: int
    connect_s: float
    drain_s: float

    @property
    def per_s(self) -> float:
        return self.acknowledged / self.drain_s


# ---- configs and payloads ------------------------------------------------------------------


def agent_toml(port: int, state_dir: Path, device_id: str) -> str:
    sensors = "".join(
        f'\n[[sensors]]\ndriver = "simulated"\nkind = "cassava_field"\nseed = {seed}\n'
        for seed in range(1, SENSORS + 1)
    )
    return (
        f'state_dir = "{state_dir}"\n\n[device]\nfarm_id = "{FARM_ID}"\n'
        f'device_id = "{device_id}"\ninterval_s = {INTERVAL_S}\n\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\n{sensors}'
    )


def agent_config(port: int, state_dir: Path, device_id: str) -> EdgeConfig:
    """The same device as ``agent_toml``, built in-process for the drain."""
    sensors = tuple(
        SensorConfig("simulated", {"kind": "cassava_field", "seed": seed})
        for seed in range(1, SENSORS + 1)
    )
    device = DeviceConfig(FARM_ID, device_id, interval_s=INTERVAL_S)
    return EdgeConfig(device, MqttConfig(port=port), state_dir, sensors)


def backlog_messages(config: EdgeConfig, count: int) -> list[Pending]:
    """``count`` past intervals as the agent stores them: with ten sensors of the same kind the
    agent keeps the first sensor's value of each reading, so the first sensor's readings."""
    device = config.device
    driver = load_driver("simulated", dict(config.sensors[0].options))
    sequence = SequenceCounter(config.state_dir / "seq")
    step_ms = int(device.interval_s * 1000)
    start_ms = (time.time_ns() // 1_000_000 // step_ms - count) * step_ms
    messages = []
    for number in range(count):
        ts_ms = start_ms + number * step_ms
        message = contract.Telemetry(
            device.farm_id, device.device_id, sequence.next(), ts_ms, driver.read(ts_ms)[0].values
        )
        messages.append(Pending(message.topic, contract.encode_telemetry(message), ts_ms))
    return messages


def fill_outbox(config: EdgeConfig, messages: Sequence[Pending], per_put: int = 1_000) -> float:
    """Store the backlog in the agent's outbox file; seconds taken."""
    outbox = Outbox(
        config.state_dir / "outbox.sqlite",
        max_readings=config.outbox.max_readings,
        max_bytes=int(config.outbox.max_mb * 1024 * 1024),
    )
    start = time.perf_counter()
    try:
        for first in range(0, len(messages), per_put):
            outbox.put(messages[first : first + per_put])
    finally:
        outbox.close()
    return time.perf_counter() - start


# ---- processes -----------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS: is the process a zombie?")


def cpu_s(pid: int) -> float:
    """utime + stime of the process, all threads, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@contextmanager
def child(command: Sequence[str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process that is stopped (SIGTERM, then SIGKILL) however the block is left."""
    # An ISANFARM_MQTT_* variable in our environment would point the agent at another broker.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISANFARM_")}
    with open(log_path, "ab") as log:
        # Run from the log's folder: a child started in bench/ would import this file as ``edge``.
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=log_path.parent
        )
    try:
        yield process
    finally:
        stop_process(process)


class TopicCounter:
    """Counts messages per topic on the broker, to check what each process really published."""

    def __init__(self, port: int) -> None:
        self.counts: dict[str, int] = {}
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-counter")
        self._client.on_message = self._count
        self._client.on_connect = lambda client, *_: client.subscribe(
            [(f"{contract.TOPIC_PREFIX}/#", 0), (BASELINE_TOPIC, 0)]
        )
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def _count(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        self.counts[message.topic] = self.counts.get(message.topic, 0) + 1

    def snapshot(self) -> dict[str, int]:
        return dict(self.counts)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


# ---- 1. steady state -----------------------------------------------------------------------


def measure(
    processes: dict[str, tuple[subprocess.Popen[bytes], str]], counter: TopicCounter, plan: Plan
) -> dict[str, Usage]:
    """Peak RSS and CPU of each process over one window after the warm-up, side by side."""
    time.sleep(plan.warmup_s)
    pids = {name: process.pid for name, (process, _) in processes.items()}
    check_alive(processes)
    cpu_start = {name: cpu_s(pid) for name, pid in pids.items()}
    sent_start, start = counter.snapshot(), time.monotonic()
    peak = dict.fromkeys(pids, 0.0)
    while time.monotonic() - start < plan.window_s:
        check_alive(processes)
        for name, pid in pids.items():
            peak[name] = max(peak[name], rss_mb(pid))
        time.sleep(0.5)
    cpu_end = {name: cpu_s(pid) for name, pid in pids.items()}
    sent_end, elapsed = counter.snapshot(), time.monotonic() - start
    usage = {}
    for name, (_, topic) in processes.items():
        sent = sent_end.get(topic, 0) - sent_start.get(topic, 0)
        cpu_pct = (cpu_end[name] - cpu_start[name]) / elapsed * 100
        usage[name] = Usage(peak[name], cpu_pct, sent / elapsed)
    return usage


def check_alive(processes: dict[str, tuple[subprocess.Popen[bytes], str]]) -> None:
    for name, (process, _) in processes.items():
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; see its log")


def steady_state(port: int, directory: Path, payload: bytes, plan: Plan) -> dict[str, Usage]:
    directory.mkdir()
    config_path = directory / "agent.toml"
    config_path.write_text(agent_toml(port, directory / "state", "edge-steady"))
    payload_path = directory / "payload.json"
    payload_path.write_bytes(payload)
    agent_command = [sys.executable, "-m", "tooling.cli", "edge", "run", "--config"]
    baseline_command = [sys.executable, "-c", BASELINE_SCRIPT, str(port), BASELINE_TOPIC]
    with ExitStack() as stack:
        counter = TopicCounter(port)
        stack.callback(counter.close)
        agent = stack.enter_context(
            child([*agent_command, str(config_path)], directory / "agent.log")
        )
        baseline = stack.enter_context(
            child(
                [*baseline_command, str(payload_path), str(INTERVAL_S)],
                directory / "baseline.log",
            )
        )
        agent_topic = contract.telemetry_topic(FARM_ID, "edge-steady")
        processes = {"agent": (agent, agent_topic), "baseline": (baseline, BASELINE_TOPIC)}
        return measure(processes, counter, plan)


# ---- 2. drain ------------------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll every 2 ms; the monotonic time at which ``condition`` first held."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s:.0f} s")
        time.sleep(0.002)
    return time.monotonic()


def drain(config: EdgeConfig, timeout_s: float) -> Drain:
    """Run the agent against the now reachable broker until its outbox is empty."""
    agent = build_agent(config)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), name="agent")
    started = time.monotonic()
    thread.start()
    try:
        connected = wait_for(lambda: agent.stats.connected, 30, "the agent's connect")
        emptied = wait_for(lambda: agent.unacknowledged() == 0, timeout_s, "the drain")
        return Drain(agent.stats.acknowledged, connected - started, emptied - connected)
    finally:
        stop.set()
        thread.join(timeout=30)


#: The raw loop keeps at most this many messages queued in paho: paho numbers messages with
#: 16-bit ids that wrap, so with 65,536 or more outstanding, later ones overwrite earlier ones
#: and their PUBACKs never count (publish-all-then-wait stalled at 65,610 of 100,000).
RAW_QUEUE = 1_000


def raw_rate(port: int, messages: Sequence[Pending], window: int, timeout_s: float) -> float:
    """Messages per second of a plain paho QoS 1 loop: publish all, wait for every PUBACK."""
    done, acknowledged, room = threading.Event(), [0], threading.Semaphore(RAW_QUEUE)

    def on_publish(*_: object) -> None:
        acknowledged[0] += 1
        room.release()
        if acknowledged[0] == len(messages):
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(window)
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        wait_for(client.is_connected, 30, "the raw client's connect")
        start = time.perf_counter()
        for message in messages:
            if not room.acquire(timeout=timeout_s):
                raise TimeoutError(f"raw publish: no PUBACK for {timeout_s:.0f} s")
            client.publish(message.topic, message.payload, qos=1)
        if not done.wait(timeout_s):
            raise TimeoutError(f"raw publish: {acknowledged[0]} of {len(messages)} acknowledged")
        return len(messages) / (time.perf_counter() - start)
    finally:
        client.disconnect()
        client.loop_stop()


# ---- 3. fsync per put ----------------------------------------------------------------------


def set_synchronous(outbox: Outbox, mode: str) -> Outbox:
    """Switch a constructed outbox's connection to another durability mode (and check it)."""
    outbox._db.execute(f"PRAGMA synchronous={mode}")
    level = outbox._db.execute("PRAGMA synchronous").fetchone()[0]
    if level != {"NORMAL": 1, "FULL": 2}[mode]:
        raise RuntimeError(f"PRAGMA synchronous={mode} did not take: level {level}")
    return outbox


def put_costs(
    directory: Path, messages: Sequence[Pending], puts: int, rounds: int = 10
) -> dict[str, float]:
    """Mean microseconds per ``put`` of 1 and of 10 readings, FULL and NORMAL, each in its own
    fresh outbox. The four take turns in ``rounds`` blocks, so a slow spell of the disk's fsync
    falls on all of them alike."""
    cases = {
        f"{mode.lower()}_put{'' if size == 1 else size}_us": (mode, messages[:size])
        for size in (1, 10)
        for mode in ("FULL", "NORMAL")
    }
    spent = dict.fromkeys(cases, 0.0)
    directory.mkdir()
    with ExitStack() as stack:
        outboxes = {}
        for name, (mode, _) in cases.items():
            outboxes[name] = set_synchronous(Outbox(directory / f"{name}.sqlite"), mode)
            stack.callback(outboxes[name].close)
        for _ in range(rounds):
            for name, (_, batch) in cases.items():
                start = time.perf_counter()
                for _ in range(puts // rounds):
                    outboxes[name].put(batch)
                spent[name] += time.perf_counter() - start
    return {name: seconds / (puts // rounds * rounds) * 1e6 for name, seconds in spent.items()}


# ---- the run -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    plan = QUICK if parser.parse_args().quick else FULL
    print(f"machine: {machine()}; backlog {plan.backlog}, window {plan.window_s:.0f} s")
    print_load("before")
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-edge-")))
        broker = LocalMosquitto(tmp / "mosquitto")
        config = agent_config(broker.port, tmp / "drain", "edge-drain")
        messages = backlog_messages(config, plan.backlog)
        puts = put_costs(tmp / "puts", messages, plan.puts)
        print_puts(puts, plan.puts)
        fill_s = fill_outbox(config, messages)
        print(f"backlog: {len(messages)} readings stored in {fill_s:.1f} s, broker down")
        stack.enter_context(broker)
        usage = steady_state(broker.port, tmp / "steady", messages[0].payload, plan)
        print_usage(usage)
        drained = drain(config, timeout_s=max(120.0, plan.backlog / 50))
        print_drain(drained)
        window = config.mqtt.max_in_flight
        raw = raw_rate(broker.port, messages, window, timeout_s=120)
        print(f"raw paho QoS 1, same messages, in-flight window {window}: {raw:.0f} msgs/s")
    print_load("after")
    print_summary(usage, drained, raw, puts)


def print_load(when: str) -> None:
    print(f"{load_average()} ({when})", flush=True)


def print_puts(puts: dict[str, float], count: int) -> None:
    for size, suffix in ((1, ""), (10, "10")):
        full, normal = puts[f"full_put{suffix}_us"], puts[f"normal_put{suffix}_us"]
        print(
            f"outbox put of {size:>2} reading(s), mean of {count}: synchronous=FULL {full:.0f} us, "
            f"NORMAL {normal:.0f} us (FULL/NORMAL {full / normal:.1f}x)"
        )


def print_usage(usage: dict[str, Usage]) -> None:
    for name, figures in usage.items():
        print(
            f"steady {name:<8}: peak RSS {figures.rss_mb:.1f} MB, CPU {figures.cpu_pct:.2f} % "
            f"of one core, published {figures.msgs_per_s:.2f} msg/s"
        )


def print_drain(drained: Drain) -> None:
    print(
        f"drain: {drained.acknowledged} readings acknowledged in {drained.drain_s:.1f} s after "
        f"connecting ({drained.connect_s:.2f} s to connect): {drained.per_s:.0f} readings/s",
        flush=True,
    )


def print_summary(
    usage: dict[str, Usage], drained: Drain, raw: float, puts: dict[str, float]
) -> None:
    agent, baseline = usage["agent"], usage["baseline"]
    figures = {
        "cpu_pct": f"{agent.cpu_pct:.2f}",
        "baseline_rss_mb": f"{baseline.rss_mb:.1f}",
        "baseline_cpu_pct": f"{baseline.cpu_pct:.2f}",
        "drain_per_s": f"{drained.per_s:.0f}",
        "raw_per_s": f"{raw:.0f}",
        **{name: f"{value:.0f}" for name, value in puts.items()},
        "put_ratio": f"{puts['full_put_us'] / puts['normal_put_us']:.1f}",
        "rss_mb": f"{agent.rss_mb:.1f}",
        "drain_ratio": f"{drained.per_s / raw:.2f}",
    }
    print(" ".join(f"{name}: {value}" for name, value in figures.items()))


if __name__ == "__main__":
    main()
