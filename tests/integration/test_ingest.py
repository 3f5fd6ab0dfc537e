"""Ingest against a real broker and a real InfluxDB: what it stores, what it rejects and why,
and that it acknowledges nothing before it is stored."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.points import REJECT_PAYLOAD_CHARS
from ingest.settings import IngestSettings
from isanfarm import contract
from isanfarm.influx import InfluxV1, series_rows
from tests.helpers import ROOT, count_points, wait_for
from tests.integration.conftest import RunningWorker
from tooling.services import LocalInfluxDB, LocalMosquitto

pytestmark = pytest.mark.integration


#: A day ago on a 10-minute boundary: recent enough for ingest's time window.
BASE_TS = (time.time_ns() // 1_000_000 // 600_000 - 144) * 600_000


def valid(device: str, seq: int) -> bytes:
    body = {
        "schema": 1,
        "device_id": device,
        "seq": seq,
        "ts": BASE_TS + seq * 600_000,
        "readings": {"soil_moisture_30cm": 14.0 + seq, "air_temperature": 30.5},
    }
    return json.dumps(body).encode()


def publish_all(client: mqtt.Client, messages: list[tuple[str, bytes]]) -> None:
    for topic, payload in messages:
        client.publish(topic, payload, qos=1).wait_for_publish(10)


def rejects(influx: InfluxV1) -> list[dict[str, object]]:
    results = influx.query('SELECT * FROM "ingest_rejects"')
    return [row for _, row in series_rows(results[0])]


def docs_examples() -> list[str]:
    """The shell examples that publish, exactly as docs/contract.md gives them."""
    text = (ROOT / "docs" / "contract.md").read_text()
    return [
        b for b in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL) if "mosquitto_pub" in b
    ]


def test_a_message_sent_by_a_plain_client_as_the_docs_show_is_stored(
    mosquitto: LocalMosquitto, influx: InfluxV1, start_ingest: Callable[..., RunningWorker]
) -> None:
    examples = docs_examples()
    assert len(examples) == 2, "docs/contract.md should show a reading and a scale pass"
    start_ingest(topic_filter="isanfarm/v1/korat-001/#")
    before_ms = time.time_ns() // 1_000_000
    for example in examples:
        assert "-p 11883" in example
        script = example.replace("-p 11883", f"-p {mosquitto.port}")
        subprocess.run(["bash", "-euc", script], check=True, timeout=10)
    wait_for(lambda: count_points(influx, "telemetry", "seq") == 2, "both doc examples stored")
    result = influx.query("SELECT * FROM telemetry")[0]
    rows = {row["device"]: row for _, row in series_rows(result)}
    assert rows["f01-node"]["soil_moisture_30cm"] == 14.2
    assert before_ms <= rows["f01-node"]["time"] <= time.time_ns() // 1_000_000
    assert rows["b01-node"]["animal"] == "wagyu-017"
    assert rows["b01-node"]["animal_weight"] == 612.5


def test_malformed_messages_are_kept_with_their_reason_and_valid_ones_around_them_stored(
    influx: InfluxV1,
    start_ingest: Callable[..., RunningWorker],
    publisher: mqtt.Client,
    unique_id: str,
) -> None:
    start_ingest()
    good = f"isanfarm/v1/{unique_id}/f01-node/telemetry"
    body = json.loads(valid("f01-node", 9))
    bad = {
        # topic, payload -> the reason ingest must give
        (good, b"soil=14"): "payload",
        # Valid JSON, but nested deeper than a recursive parser goes: once a crash of ingest.
        (good, b"[" * 8000 + b"]" * 8000): "payload",
        (good, json.dumps({k: v for k, v in body.items() if k != "ts"}).encode()): "ts",
        (
            good,
            valid("f01-node", 9).replace(b"soil_moisture_30cm", b"soil_moisture_45cm"),
        ): "readings.soil_moisture_45cm",
        (good, valid("f01-node", 9).replace(b"23.0", b"142.0")): "readings.soil_moisture_30cm",
        (good, valid("f01-node", 9).replace(b"30.5", b"NaN")): "payload",
        (good, valid("f01-node", 9).replace(b"30.5", b'"30.5"')): "readings.air_temperature",
        (good, valid("f01-node", 9).replace(b'"seq": 9', b'"seq": "9"')): "seq",
        (good, valid("other-node", 9)): "device_id",
        (f"isanfarm/v1/{unique_id}/F01 Node/telemetry", valid("f01-node", 9)): "topic.device_id",
        (f"isanfarm/v1/{unique_id}/f01-node/commands", valid("f01-node", 9)): "topic.kind",
        (f"isanfarm/v1/{unique_id}/f01-node/x/telemetry", valid("f01-node", 9)): "topic",
    }
    stream: list[tuple[str, bytes]] = []
    for number, message in enumerate(bad, start=1):
        stream += [(good, valid("f01-node", number)), message]
    stream.append((good, valid("f01-node", len(bad) + 1)))
    publish_all(publisher, stream)

    wait_for(lambda: len(rejects(influx)) == len(bad), "every bad message to be kept")
    wait_for(lambda: count_points(influx, "telemetry", "seq") == len(bad) + 1, "valid ones stored")
    kept = {(row["topic"], row["payload"]): row["field"] for row in rejects(influx)}
    assert all(row["rule"] in contract.RULES for row in rejects(influx))
    expected = {
        (topic, payload.decode()[:REJECT_PAYLOAD_CHARS]): why
        for (topic, payload), why in bad.items()
    }
    assert kept == expected


def test_payloads_the_stricter_contract_refuses_are_one_dead_letter_each_with_their_rule(
    influx: InfluxV1,
    start_ingest: Callable[..., RunningWorker],
    publisher: mqtt.Client,
    unique_id: str,
) -> None:
    """Issue 16: these were stored as good readings (or refused under the wrong rule)."""
    start_ingest()
    topic = f"isanfarm/v1/{unique_id}/f01-node/telemetry"
    status = f"isanfarm/v1/{unique_id}/f01-node/status"
    text = valid("f01-node", 99).decode()  # a seq no valid message below uses
    bad = {
        # topic, payload -> the rule ingest must give
        (topic, text.encode("utf-16-le")): "not_utf8",
        (topic, text.encode("utf-16")): "not_utf8",
        (topic, text.encode("utf-16-be")): "not_utf8",
        (topic, text.encode("utf-32")): "not_utf8",
        (topic, b"\xef\xbb\xbf" + text.encode()): "not_utf8",
        (topic, text.encode().replace(b"air_", b"air_\xed\xa0\x80")): "not_utf8",
        (
            topic,
            text.replace(
                '"air_temperature": 30.5', '"air_temperature": 999, "air_temperature": 1.5'
            ).encode(),
        ): "duplicate_key",
        (
            topic,
            text.replace(
                '"device_id": "f01-node"', '"device_id": "x", "device_id": "f01-node"'
            ).encode(),
        ): "duplicate_key",
        (topic, text.replace('"schema": 1', '"schema": 1.0').encode()): "wrong_type",
        (topic, text.replace('"schema": 1', '"schema": true').encode()): "wrong_type",
        (
            status,
            b'{"schema":1,"device_id":"f01-node","state":"online","ts":5,"firmware":"1.2"}',
        ): "unknown_field",
    }
    stream: list[tuple[str, bytes]] = []
    for number, message in enumerate(bad, start=1):
        stream += [(topic, valid("f01-node", number)), message]
    publish_all(publisher, stream)

    wait_for(lambda: len(rejects(influx)) == len(bad), "every bad message to be kept")
    wait_for(lambda: count_points(influx, "telemetry", "seq") == len(bad), "valid ones stored")
    kept = sorted((row["topic"], row["payload"], row["rule"]) for row in rejects(influx))
    expected = sorted(
        (topic, raw.decode("utf-8", errors="backslashreplace")[:REJECT_PAYLOAD_CHARS], why)
        for (topic, raw), why in bad.items()
    )
    assert kept == expected
    assert count_points(influx, "device_status", "state") == 0
    assert count_points(influx, "telemetry", "seq") == len(bad)
    stored = influx.query("SELECT min(air_temperature), max(seq) FROM telemetry")[0]
    assert [(row["min"], row["max"]) for _, row in series_rows(stored)] == [(30.5, len(bad))]


def test_a_point_the_database_refuses_is_kept_as_a_reject_and_does_not_block_the_rest(
    influx: InfluxV1,
    start_ingest: Callable[..., RunningWorker],
    publisher: mqtt.Client,
    unique_id: str,
) -> None:
    # An integer field already in the database makes InfluxDB refuse a float for it.
    influx.write([f"telemetry,device=f01-node,farm={unique_id} rain=1i {BASE_TS}"], "ms")
    start_ingest(batch_size=50, batch_max_age_s=1.0)
    topic = f"isanfarm/v1/{unique_id}/f01-node/telemetry"
    clash = json.dumps(
        {"schema": 1, "device_id": "f01-node", "seq": 1, "ts": BASE_TS, "readings": {"rain": 0.2}}
    ).encode()
    publish_all(
        publisher, [(topic, valid("f01-node", 2)), (topic, clash), (topic, valid("f01-node", 3))]
    )

    wait_for(lambda: len(rejects(influx)) == 1, "the refused point to be kept")
    assert rejects(influx)[0]["rule"] == "influxdb_refused"
    assert "rain=0.2" in str(rejects(influx)[0]["payload"])
    wait_for(
        lambda: count_points(influx, "telemetry", "soil_moisture_30cm") == 2, "the rest stored"
    )


def test_nothing_is_acknowledged_before_it_is_stored(
    mosquitto: LocalMosquitto,
    ingest_settings: IngestSettings,
    publisher: mqtt.Client,
    unique_id: str,
    tmp_path: Path,
) -> None:
    """InfluxDB is down, ingest holds the messages, then ingest dies. Nothing was acknowledged,
    so the broker redelivers to the next ingest once the database is back, and all is stored."""
    with LocalInfluxDB(tmp_path / "influxdb") as database:
        settings = ingest_settings.model_copy(
            update={"influx": ingest_settings.influx.model_copy(update={"url": database.url})}
        )
        influx = InfluxV1(settings.influx)
        influx.create_database()
        database.kill()

        first = RunningWorker(settings, InfluxV1(settings.influx))
        topic = f"isanfarm/v1/{unique_id}/f01-node/telemetry"
        publish_all(publisher, [(topic, valid("f01-node", n)) for n in range(1, 6)])
        wait_for(lambda: first.worker.stats.write_retries > 0, "ingest to find InfluxDB down")
        first.stop()
        assert first.worker.stats.stored == 0

        database.start()
        second = RunningWorker(settings, InfluxV1(settings.influx))
        try:
            wait_for(
                lambda: count_points(influx, "telemetry", "seq") == 5, "redelivered and stored"
            )
        finally:
            second.stop()
        influx.close()


def test_a_database_that_comes_back_is_caught_up_without_a_restart(
    mosquitto: LocalMosquitto,
    ingest_settings: IngestSettings,
    publisher: mqtt.Client,
    unique_id: str,
    tmp_path: Path,
) -> None:
    with LocalInfluxDB(tmp_path / "influxdb") as database:
        settings = ingest_settings.model_copy(
            update={"influx": ingest_settings.influx.model_copy(update={"url": database.url})}
        )
        influx = InfluxV1(settings.influx)
        influx.create_database()
        worker = RunningWorker(settings, InfluxV1(settings.influx))
        try:
            database.kill()
            topic = f"isanfarm/v1/{unique_id}/f01-node/telemetry"
            publish_all(publisher, [(topic, valid("f01-node", n)) for n in range(1, 4)])
            wait_for(lambda: worker.worker.stats.write_retries > 0, "ingest to find InfluxDB down")
            restart = threading.Timer(0.5, database.start)
            restart.start()
            restart.join()
            wait_for(
                lambda: count_points(influx, "telemetry", "seq") == 3,
                "stored after return",
                timeout_s=60,
            )
        finally:
            worker.stop()
            influx.close()


def test_a_database_not_created_yet_holds_the_stream_until_it_exists(
    ingest_settings: IngestSettings,
    publisher: mqtt.Client,
    unique_id: str,
) -> None:
    """InfluxDB answers 404 for a missing database (401/403 for a rotated password): a fault of
    the server, not of the points. Ingest once took it for a refusal, kept each point as a
    reject (which failed the same way) and acknowledged everything: all lost."""
    database = f"new_{unique_id}".replace("-", "_")
    missing = InfluxV1(ingest_settings.influx.model_copy(update={"database": database}))
    settings = ingest_settings.model_copy(update={"influx": missing.settings})
    worker = RunningWorker(settings, InfluxV1(settings.influx))
    try:
        topic = f"isanfarm/v1/{unique_id}/f01-node/telemetry"
        publish_all(publisher, [(topic, valid("f01-node", n)) for n in range(1, 6)])
        wait_for(lambda: worker.worker.stats.write_retries > 0, "ingest to meet the 404")
        assert worker.worker.stats.stored == 0
        assert not worker.worker.stats.rejected
        missing.create_database()
        wait_for(lambda: count_points(missing, "telemetry", "seq") == 5, "all stored", 60)
    finally:
        worker.stop()
        missing.close()


def test_qos1_messages_on_the_clock_topic_never_stall_ingest(
    influx: InfluxV1, ingest_settings: IngestSettings, unique_id: str, tmp_path: Path
) -> None:
    """Ingest's own beacon is QoS 0 and is skipped; anything else sent there at QoS 1 must be
    acknowledged, or each holds one of the broker's in-flight places for good (twelve of them
    once stopped ingest at max_in_flight 10)."""
    with LocalMosquitto(tmp_path / "broker") as broker:
        settings = ingest_settings.model_copy(
            update={
                "mqtt": ingest_settings.mqtt.model_copy(update={"port": broker.port}),
                "topic_filter": "isanfarm/v1/#",
                "max_in_flight": 10,
                "time_beacon_s": 0,
            }
        )
        worker = RunningWorker(settings, InfluxV1(settings.influx))
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"clock-{unique_id}")
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        try:
            clock = [(contract.TIME_TOPIC, contract.encode_time(BASE_TS)) for _ in range(12)]
            publish_all(client, clock)
            topic = f"isanfarm/v1/{unique_id}/f01-node/telemetry"
            publish_all(client, [(topic, valid("f01-node", n)) for n in range(1, 4)])
            wait_for(lambda: count_points(influx, "telemetry", "seq") == 3, "telemetry stored")
        finally:
            client.disconnect()
            client.loop_stop()
            worker.stop()


def test_a_retained_status_sent_again_at_resubscription_is_not_stored_again(
    influx: InfluxV1,
    start_ingest: Callable[..., RunningWorker],
    publisher: mqtt.Client,
    unique_id: str,
) -> None:
    """The broker sends a device's retained status to every new subscription; stored at its
    receive time, it made a device silent for days look online after each ingest restart."""
    first = start_ingest(client_id=f"ingest-a-{unique_id}")
    topic = contract.status_topic(unique_id, "f01-node")
    status = contract.encode_status("f01-node", contract.ONLINE, BASE_TS)
    publisher.publish(topic, status, qos=1, retain=True).wait_for_publish(10)
    wait_for(lambda: count_points(influx, "device_status", "online") == 1, "the live status")
    first.stop()

    second = start_ingest(client_id=f"ingest-b-{unique_id}")
    telemetry = f"isanfarm/v1/{unique_id}/f01-node/telemetry"
    publish_all(publisher, [(telemetry, valid("f01-node", 1))])
    wait_for(lambda: count_points(influx, "telemetry", "seq") == 1, "later telemetry stored")
    second.stop()
    assert count_points(influx, "device_status", "online") == 1
