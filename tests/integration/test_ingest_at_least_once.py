"""Ingest under failure and load, against a real Mosquitto and real InfluxDBs: a database that
goes away mid-stream, an ingest killed mid-batch, two workers sharing the stream, late data
correcting rollups, metrics, and arbitrary input surviving the round trip."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from ingest.admin import dead_letter_counts, setup_database
from ingest.points import Reject, reject_line
from ingest.rollups import DAILY, HOURLY
from ingest.settings import IngestSettings
from ingest.worker import Converted, IngestWorker
from isanfarm.influx import InfluxV1, series_rows
from isanfarm.settings import InfluxSettings
from tests.helpers import ROOT, Observer, stored_seqs, wait_for
from tests.integration.conftest import RunningWorker
from tooling.services import LocalInfluxDB, LocalMosquitto, free_port, free_ports

pytestmark = pytest.mark.integration

TEN_MIN_MS = 600_000
NOW_MS = time.time_ns() // 1_000_000


def reading(device: str, seq: int, ts_ms: int, rain: float = 0.2) -> bytes:
    body = {
        "schema": 1,
        "device_id": device,
        "seq": seq,
        "ts": ts_ms,
        "readings": {"rain": rain, "air_temperature": 25.0 + seq % 10},
    }
    return json.dumps(body).encode()


def publish_stream(client: mqtt.Client, farm: str, count: int, per_second: float) -> None:
    """One reading a minute of device time, from two days ago."""
    start = (NOW_MS - 2 * 86_400_000) // 60_000 * 60_000
    topic = f"isanfarm/v1/{farm}/f01-node/telemetry"
    for seq in range(count):
        client.publish(topic, reading("f01-node", seq, start + seq * 60_000), qos=1)
        time.sleep(1 / per_second)


@pytest.fixture
def own_influx(tmp_path: Path, unique_id: str) -> Iterator[tuple[LocalInfluxDB, InfluxV1]]:
    with LocalInfluxDB(tmp_path / "influxdb") as server:
        client = InfluxV1(InfluxSettings(url=server.url, database="isanfarm"))
        client.create_database()
        yield server, client
        client.close()


def test_a_database_stopped_mid_stream_misses_nothing_once_back(
    own_influx: tuple[LocalInfluxDB, InfluxV1],
    ingest_settings: IngestSettings,
    publisher: mqtt.Client,
    unique_id: str,
) -> None:
    server, influx = own_influx
    worker = RunningWorker(
        ingest_settings.model_copy(update={"influx": influx.settings, "batch_size": 20}),
        InfluxV1(influx.settings),
    )
    stream = threading.Thread(target=publish_stream, args=(publisher, unique_id, 400, 200))
    try:
        stream.start()
        wait_for(lambda: len(stored_seqs(influx, "f01-node")) >= 50, "part of the stream stored")
        server.kill()
        time.sleep(1.0)
        server.start()
        stream.join()
        wait_for(lambda: len(stored_seqs(influx, "f01-node")) == 400, "the rest stored")
    finally:
        worker.stop()
    assert stored_seqs(influx, "f01-node") == list(range(400))
    assert worker.worker.stats.write_retries > 0, "the outage was not noticed"


def test_ingest_killed_mid_batch_and_restarted_stores_everything_exactly_once(
    mosquitto: LocalMosquitto,
    influx: InfluxV1,
    ingest_settings: IngestSettings,
    publisher: mqtt.Client,
    unique_id: str,
) -> None:
    env = {
        **os.environ,
        "ISANFARM_MQTT_PORT": str(mosquitto.port),
        "ISANFARM_INFLUX_URL": influx.settings.url,
        "ISANFARM_INFLUX_DATABASE": influx.settings.database,
        "ISANFARM_TOPIC_FILTER": ingest_settings.topic_filter,
        "ISANFARM_CLIENT_ID": f"ingest-{unique_id}",
        "ISANFARM_BATCH_SIZE": "50",
        "ISANFARM_BATCH_MAX_AGE_S": "0.5",
    }
    command = [sys.executable, "-m", "tooling.cli", "ingest"]
    ingest = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    stream = threading.Thread(target=publish_stream, args=(publisher, unique_id, 600, 300))
    try:
        time.sleep(1.5)  # connected and subscribed
        stream.start()
        wait_for(lambda: len(stored_seqs(influx, "f01-node")) >= 100, "ingest storing")
        ingest.send_signal(signal.SIGKILL)
        ingest.wait(10)
        killed_at = len(stored_seqs(influx, "f01-node"))
        stream.join()
        ingest = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        wait_for(lambda: len(stored_seqs(influx, "f01-node")) == 600, "everything stored")
    finally:
        ingest.send_signal(signal.SIGTERM)
        ingest.wait(20)
    assert killed_at < 600, "the kill came too late to test anything"
    assert stored_seqs(influx, "f01-node") == list(range(600))


def test_two_workers_on_a_shared_subscription_each_store_part_and_nothing_twice(
    influx: InfluxV1,
    start_ingest: Callable[..., RunningWorker],
    publisher: mqtt.Client,
    unique_id: str,
) -> None:
    first = start_ingest(share_group="g", client_id=f"a-{unique_id}", worker_name="a")
    second = start_ingest(share_group="g", client_id=f"b-{unique_id}", worker_name="b")
    publish_stream(publisher, unique_id, 400, 2000)
    wait_for(lambda: len(stored_seqs(influx, "f01-node")) == 400, "the stream stored")
    wait_for(
        lambda: first.worker.stats.received + second.worker.stats.received == 400,
        "both workers to account for their messages",
    )
    assert first.worker.stats.received > 40
    assert second.worker.stats.received > 40


def test_worker_processes_share_the_stream_and_none_outlives_its_supervisor(
    mosquitto: LocalMosquitto,
    influx: InfluxV1,
    ingest_settings: IngestSettings,
    publisher: mqtt.Client,
    unique_id: str,
) -> None:
    """``ingest run --workers 2``: two processes on one shared subscription store the stream
    once between them; SIGKILL of the supervisor closes the workers' stdin and they stop."""
    first_port = free_ports(2)
    env = {
        **os.environ,
        "ISANFARM_MQTT_PORT": str(mosquitto.port),
        "ISANFARM_INFLUX_URL": influx.settings.url,
        "ISANFARM_INFLUX_DATABASE": influx.settings.database,
        "ISANFARM_TOPIC_FILTER": ingest_settings.topic_filter,
        "ISANFARM_CLIENT_ID": f"pool-{unique_id}",
        "ISANFARM_BATCH_MAX_AGE_S": "0.2",
        "ISANFARM_METRICS_PORT": str(first_port),
    }
    command = [sys.executable, "-m", "tooling.cli", "ingest", "run", "--workers", "2"]
    supervisor = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    ports = (first_port, first_port + 1)
    try:
        wait_for(lambda: all(_metric(p, "connected") == 1 for p in ports), "both connected")
        time.sleep(0.3)  # the SUBACKs follow the CONNACKs
        publish_stream(publisher, unique_id, 400, 2000)
        wait_for(lambda: len(stored_seqs(influx, "f01-node")) == 400, "the stream stored")
        assert stored_seqs(influx, "f01-node") == list(range(400))
        wait_for(
            lambda: sum(_metric(p, "messages_received_total") or 0 for p in ports) == 400,
            "the workers to account for every message",
        )
        assert all((_metric(p, "messages_received_total") or 0) > 40 for p in ports)
        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait(10)
        wait_for(lambda: all(_metric(p, "connected") is None for p in ports), "workers gone")
    finally:
        if supervisor.poll() is None:
            supervisor.send_signal(signal.SIGTERM)
            supervisor.wait(30)


def _metric(port: int, name: str) -> float | None:
    """``isanfarm_ingest_<name>`` from a worker's metrics page; None once it is gone."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as page:
            text = page.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"isanfarm_ingest_{name} "):
            return float(line.split()[1])
    return None


def rollup_row(influx: InfluxV1, measurement: str, start_ms: int) -> dict[str, object]:
    result = influx.query(f'SELECT * FROM "rollups"."{measurement}" WHERE time = {start_ms}ms')[0]
    rows = [row for _, row in series_rows(result)]
    assert len(rows) == 1, rows
    return rows[0]


def test_a_replayed_day_of_backlog_corrects_that_days_rollups(
    influx: InfluxV1,
    ingest_settings: IngestSettings,
    start_ingest: Callable[..., RunningWorker],
    publisher: mqtt.Client,
    unique_id: str,
) -> None:
    setup_database(influx, ingest_settings)
    day = DAILY.window_start(NOW_MS - 3 * 86_400_000)  # a whole Thai day, three days ago
    topic = f"isanfarm/v1/{unique_id}/f01-node/telemetry"
    worker = start_ingest(rollup_every_s=0.3, rollup_startup_lookback_h=0)
    for seq in range(0, 144, 2):  # the gateway sent every other reading live...
        publisher.publish(topic, reading("f01-node", seq, day + seq * TEN_MIN_MS), qos=1)
    wait_for(lambda: len(stored_seqs(influx, "f01-node")) == 72, "the live half stored")
    wait_for(lambda: worker.worker.rollups.pending() == 0, "rollups recomputed")
    time.sleep(0.5)
    assert rollup_row(influx, "telemetry_1d", day)["rain_sum"] == pytest.approx(72 * 0.2)

    for seq in range(1, 144, 2):  # ...and the rest when its link came back
        publisher.publish(topic, reading("f01-node", seq, day + seq * TEN_MIN_MS), qos=1)
    wait_for(lambda: len(stored_seqs(influx, "f01-node")) == 144, "the backlog stored")
    wait_for(
        lambda: rollup_row(influx, "telemetry_1d", day)["readings"] == 144, "the day recomputed"
    )
    daily = rollup_row(influx, "telemetry_1d", day)
    assert daily["rain_sum"] == pytest.approx(144 * 0.2)
    assert daily["air_temperature_max"] == 34.0
    assert daily["air_temperature_min"] == 25.0
    first_hour = rollup_row(influx, "telemetry_1h", HOURLY.window_start(day))
    assert first_hour["readings"] == 6
    assert first_hour["rain_sum"] == pytest.approx(6 * 0.2)


def test_metrics_are_served_for_prometheus(
    start_ingest: Callable[..., RunningWorker], publisher: mqtt.Client, unique_id: str
) -> None:
    port = free_port()
    worker = start_ingest(metrics_port=port)
    topic = f"isanfarm/v1/{unique_id}/f01-node/telemetry"
    publisher.publish(topic, reading("f01-node", 1, NOW_MS - 60_000), qos=1)
    publisher.publish(topic, b"not json", qos=1)
    wait_for(lambda: worker.worker.stats.received == 2, "both messages processed")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert "isanfarm_ingest_points_written_total 1.0" in text
    assert 'isanfarm_ingest_rejects_total{rule="not_json"} 1.0' in text
    assert "isanfarm_ingest_write_latency_seconds_count" in text
    assert "isanfarm_ingest_device_to_store_lag_seconds_bucket" in text


def test_an_operator_can_count_and_list_dead_letters(
    influx: InfluxV1,
    start_ingest: Callable[..., RunningWorker],
    publisher: mqtt.Client,
    unique_id: str,
) -> None:
    start_ingest()
    topic = f"isanfarm/v1/{unique_id}/f01-node/telemetry"
    publisher.publish(topic, b"not json", qos=1)
    publisher.publish(topic, reading("f01-node", 1, NOW_MS).replace(b"0.2", b"-3"), qos=1)
    wait_for(lambda: sum(dead_letter_counts(influx, _hours_ago(1)).values()) == 2, "kept")
    env = {
        **os.environ,
        "ISANFARM_INFLUX_URL": influx.settings.url,
        "ISANFARM_INFLUX_DATABASE": influx.settings.database,
    }
    listing = subprocess.run(
        [sys.executable, "-m", "tooling.cli", "ingest", "deadletters"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert "not_json" in listing
    assert "readings.rain: -3 mm is outside 0..300" in listing
    counts = subprocess.run(
        [sys.executable, "-m", "tooling.cli", "ingest", "deadletters", "--count"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert counts.split() == ["1", "not_json", "1", "out_of_range"]


def _hours_ago(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


texts = st.text(max_size=80)
#: Weighted towards what line protocol must escape, and a trailing backslash now and then.
_awkward = st.text(
    st.one_of(
        st.sampled_from(list(' ,="\\\n\r\t#xเกษตร🐄')), st.characters(exclude_categories=["Cs"])
    ),
    max_size=30,
)
awkward = st.one_of(texts, _awkward, _awkward.map(lambda text: text + "\\"))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    topic=awkward, payload=st.binary(max_size=200), field=awkward, detail=awkward, worker=awkward
)
def test_any_dead_letter_round_trips_exactly_through_influxdb(
    influx: InfluxV1, topic: str, payload: bytes, field: str, detail: str, worker: str
) -> None:
    """Spaces, commas, quotes, backslashes, newlines, Thai text, emoji: stored as received,
    by ingest's own line-protocol encoder, in string fields and (``worker``) in a tag."""
    received_ns = time.time_ns()
    reject = Reject(topic, payload, "not_json", field, detail, received_ns, worker)
    influx.write([reject_line(reject)])
    result = influx.query(
        f'SELECT "topic", "field", "detail", "payload", "worker" FROM "ingest_rejects" '
        f"WHERE time = {received_ns}"
    )[0]
    (row,) = [row for _, row in series_rows(result)]
    assert (row["topic"], row["field"], row["detail"]) == (topic, field, detail)
    assert row["payload"] == payload.decode("utf-8", errors="backslashreplace")
    if tag_survives(worker):
        assert (row["worker"] or "") == worker


def tag_survives(text: str) -> bool:
    """Line protocol cannot carry a line break or tab in a tag (the encoder writes them as
    ``\\n``, ``\\t``, ``\\r``, as influxdb-client does) nor end one with a backslash (it adds
    a space); anything else, Thai and emoji included, comes back exactly."""
    return not any(c in text for c in "\n\r\t") and not text.endswith("\\")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    suffix=st.binary(min_size=1, max_size=40),
    payload=st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda body: json.dumps(body).encode(),
            st.dictionaries(
                st.text(max_size=12),
                st.one_of(
                    st.none(),
                    st.booleans(),
                    st.integers(),
                    st.floats(allow_nan=False),
                    st.text(max_size=20),
                ),
                max_size=6,
            ),
        ),
    ),
)
def test_no_topic_or_payload_crashes_the_worker_and_influxdb_accepts_whatever_it_writes(
    influx: InfluxV1, ingest_settings: IngestSettings, suffix: bytes, payload: bytes
) -> None:
    worker = IngestWorker(ingest_settings, influx)
    message = mqtt.MQTTMessage(topic=b"isanfarm/v1/" + suffix)
    message.payload = payload
    converted = Converted()
    worker.convert(message, converted)
    assert len(converted.lines) + len(converted.rejects) == 1
    influx.write(converted.lines + [reject_line(r) for r in converted.rejects])


class SlowInflux(InfluxV1):
    """The real database, answering every write 50 ms late, as a loaded server would."""

    def write(self, lines: Sequence[str], precision: str = "ns") -> None:
        time.sleep(0.05)
        super().write(lines, precision)


def test_a_slow_database_never_makes_ingest_hold_more_than_max_in_flight(
    ingest_settings: IngestSettings,
    influx: InfluxV1,
    publisher: mqtt.Client,
    unique_id: str,
) -> None:
    """Mosquitto 2.0.11 was seen sending past MQTT 5's Receive Maximum while acks flow, so
    ingest bounds its own inbox too; the backlog stays in the broker's session instead."""
    settings = ingest_settings.model_copy(update={"max_in_flight": 50, "batch_size": 20})
    worker = RunningWorker(settings, SlowInflux(influx.settings))
    most = 0
    try:
        publish_stream(publisher, unique_id, 2_000, 20_000)
        deadline = time.monotonic() + 60
        while len(stored_seqs(influx, "f01-node")) < 2_000 and time.monotonic() < deadline:
            most = max(most, worker.worker.buffer_depth())
            time.sleep(0.01)
    finally:
        worker.stop()
    assert stored_seqs(influx, "f01-node") == list(range(2_000))
    assert 0 < most <= 50


def test_what_the_broker_acknowledged_survives_it_being_killed_after_an_autosave(
    tmp_path: Path, unique_id: str
) -> None:
    """Between a device's delete and ingest's store a reading lives only in the broker. With
    Mosquitto's default autosave (1800 s) a kill lost every queued message; the test broker,
    like deploy/mosquitto.conf, saves every 10 s."""
    deployed = (ROOT / "deploy" / "mosquitto.conf").read_text()
    assert "\nautosave_interval 10\n" in deployed
    topic = f"isanfarm/v1/{unique_id}/f01-node/telemetry"
    with LocalMosquitto(tmp_path / "broker") as broker:
        consumer = Observer(broker.port, topic, f"away-{unique_id}")
        consumer.close()  # its session stays, and queues what comes
        device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dev-{unique_id}")
        device.connect("127.0.0.1", broker.port)
        device.loop_start()
        for seq in range(20):
            device.publish(topic, reading("f01-node", seq, NOW_MS), qos=1).wait_for_publish(5)
        device.disconnect()
        device.loop_stop()
        time.sleep(11)  # one autosave
        broker.kill()
        broker.start()
        consumer = Observer(broker.port, topic, f"away-{unique_id}")
        try:
            wait_for(lambda: len(set(consumer.seqs("f01-node"))) == 20, "the queued messages")
        finally:
            consumer.close()
