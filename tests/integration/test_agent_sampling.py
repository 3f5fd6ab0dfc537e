"""What the agent makes of its drivers' output, before any network: one message per interval
for the shared readings, one per animal, impossible values and failing drivers counted."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from edge.agent import EdgeAgent
from edge.clock import WallClock
from edge.clock_health import ClockHealth
from edge.config import DeviceConfig, EdgeConfig, MqttConfig, OutboxConfig
from edge.drivers.base import DriverError, Sample
from edge.outbox import Outbox
from isanfarm import contract

NOW_MS = 1_795_000_000_000  # 2026-11-18


class Fixed:
    def __init__(self, *samples: Sample) -> None:
        self.samples = samples
        self.closed = False

    def read(self, ts_ms: int) -> Sequence[Sample]:
        return self.samples

    def close(self) -> None:
        self.closed = True


class Broken:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def read(self, ts_ms: int) -> Sequence[Sample]:
        raise self.error

    def close(self) -> None:
        return None


def make_agent(
    tmp_path: Path, *drivers: object, max_readings: int = 1000, interval_s: float = 600
) -> EdgeAgent:
    config = EdgeConfig(
        device=DeviceConfig("korat-001", "f01-node", "field-01", interval_s),
        mqtt=MqttConfig(port=1),  # never connected in these tests
        state_dir=tmp_path,
        sensors=(),
        outbox=OutboxConfig(max_readings=max_readings),
    )
    health = ClockHealth(earliest_ms=NOW_MS - 86_400_000, max_skew_ms=300_000)
    return EdgeAgent(config, drivers, WallClock(), health)  # type: ignore[arg-type]


def messages(agent: EdgeAgent) -> list[contract.Telemetry]:
    return [
        contract.decode_telemetry(item.topic, item.payload)
        for item in agent.outbox.next_batch(1000)
    ]


def test_readings_of_all_drivers_share_one_message_and_each_scale_pass_gets_its_own(
    tmp_path: Path,
) -> None:
    agent = make_agent(
        tmp_path,
        Fixed(Sample({"soil_moisture_10cm": 12.5})),
        Fixed(Sample({"air_temperature": 31.0}), Sample({"animal_weight": 612.0}, "wagyu-1")),
    )
    agent.sample(NOW_MS)
    shared, scale = messages(agent)
    assert shared.readings == {"soil_moisture_10cm": 12.5, "air_temperature": 31.0}
    assert (scale.animal_id, scale.readings) == ("wagyu-1", {"animal_weight": 612.0})
    assert [shared.seq, scale.seq] == [0, 1]
    assert shared.ts_ms == scale.ts_ms == NOW_MS
    assert not shared.clock_suspect


def test_impossible_values_are_not_sent_but_counted(tmp_path: Path) -> None:
    agent = make_agent(
        tmp_path,
        Fixed(
            Sample(
                {
                    "soil_moisture_30cm": 142.0,
                    "air_temperature": float("nan"),
                    "rain": 0.4,
                    "wind_speed": 3.0,
                }
            )
        ),
    )
    agent.sample(NOW_MS)
    (message,) = messages(agent)
    assert message.readings == {"rain": 0.4}
    assert agent.stats.implausible == 3


def test_a_failing_driver_is_counted_and_the_others_still_report(tmp_path: Path) -> None:
    agent = make_agent(
        tmp_path,
        Broken(DriverError("DS18B20 28-0316a2795dff: CRC check failed")),
        Broken(RuntimeError("driver bug")),
        Fixed(Sample({"rain": 1.2})),
    )
    agent.sample(NOW_MS)
    assert [m.readings for m in messages(agent)] == [{"rain": 1.2}]
    assert agent.stats.driver_errors == 2


def test_readings_taken_with_an_implausible_clock_are_flagged(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, Fixed(Sample({"rain": 0.2})))
    agent.sample(86_400_000)  # 1970-01-02: a Pi that booted without its clock
    (message,) = messages(agent)
    assert message.clock_suspect
    assert json.loads(agent.outbox.next_batch(1)[0].payload)["clock_suspect"] is True


def test_health_reports_depth_age_drops_and_errors(tmp_path: Path) -> None:
    agent = make_agent(
        tmp_path, Fixed(Sample({"rain": 0.2})), Broken(DriverError("x")), max_readings=3
    )
    for step in range(5):
        agent.sample(NOW_MS + step * 600_000)
    health = agent.health()
    assert (health.outbox_depth, health.dropped, health.driver_errors) == (3, 2, 5)
    assert health.oldest_unsent_age_s > 0


class SteppedClock:
    """A wall-like clock that an operator or NTP can step while the agent runs. True time
    advances only by waiting (a millisecond of real time per wait, straight to the time waited
    for); ``offset_ms`` is the step."""

    def __init__(self, now_ms: int) -> None:
        self.true_ms = now_ms
        self.offset_ms = 0

    def now_ms(self) -> int:
        return self.true_ms + self.offset_ms

    def wait_until(self, ts_ms: int, stop: threading.Event) -> bool:
        advance = max(0, ts_ms - self.now_ms())
        if stop.wait(0.001):
            return False
        self.true_ms += advance
        return True


def test_a_clock_stepped_back_a_day_does_not_stall_sampling(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, Fixed(Sample({"rain": 0.2})), interval_s=1)
    clock = SteppedClock(NOW_MS)
    agent.clock = clock
    with sampling(agent):
        wait_until(lambda: agent.stats.taken >= 3)
        clock.offset_ms = -86_400_000  # NTP corrects a clock that ran a day ahead
        taken = agent.stats.taken
        wait_until(lambda: agent.stats.taken >= taken + 3)
    stored = Outbox(tmp_path / "outbox.sqlite").next_batch(1000)
    stamps = [contract.decode_telemetry(i.topic, i.payload).ts_ms for i in stored]
    assert stamps[-1] < NOW_MS - 86_000_000, "readings after the step carry the corrected time"


@contextlib.contextmanager
def sampling(agent: EdgeAgent) -> Iterator[None]:
    """The agent running in a thread, stopped however the block is left. No broker answers on
    port 1: readings stay in the outbox."""
    stop = threading.Event()
    running = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    running.start()
    try:
        yield
    finally:
        stop.set()
        running.join(10)


def wait_until(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "sampling stalled"
        time.sleep(0.01)


class SteppableWallClock(WallClock):
    """The real clock, shifted by ``offset_ms``: what NTP or an operator does to it."""

    offset_ms = 0

    def now_ms(self) -> int:
        return super().now_ms() + self.offset_ms


def test_the_real_clock_stepped_back_an_hour_while_waiting_keeps_sampling(tmp_path: Path) -> None:
    """The wall clock's wait was for an absolute time: stepped back an hour, it waited the
    hour, and the sampler took nothing meanwhile."""
    agent = make_agent(tmp_path, Fixed(Sample({"rain": 0.2})), interval_s=0.5)
    clock = SteppableWallClock()
    agent.clock = clock
    with sampling(agent):
        wait_until(lambda: agent.stats.taken >= 2)
        clock.offset_ms = -3_600_000
        taken = agent.stats.taken
        wait_until(lambda: agent.stats.taken >= taken + 3, timeout_s=5)


def test_a_lost_sequence_mark_resumes_above_the_readings_still_in_the_outbox(
    tmp_path: Path,
) -> None:
    first = make_agent(tmp_path, Fixed(Sample({"rain": 0.2})))
    for interval in range(3):
        first.sample(NOW_MS + interval * 600_000)
    first.outbox.close()
    (tmp_path / "seq").write_text("\x00\x00garbage")  # an SD card after a power cut

    second = make_agent(tmp_path, Fixed(Sample({"rain": 0.2})))
    second.sample(NOW_MS + 3 * 600_000)

    stored = second.outbox.next_batch(10)
    seqs = [contract.decode_telemetry(i.topic, i.payload).seq for i in stored]
    assert seqs == [0, 1, 2, 3]
    assert list(tmp_path.glob("seq.corrupt-*")), "the damaged mark is kept aside"
