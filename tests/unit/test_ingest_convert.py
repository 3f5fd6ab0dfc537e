"""What ingest makes of one message when its own code fails: a dead letter, never a crash."""

from __future__ import annotations

import logging

import paho.mqtt.client as mqtt
import pytest

from ingest.settings import IngestSettings
from ingest.worker import INGEST_FAILED, Converted, IngestWorker
from isanfarm import contract
from isanfarm.influx import InfluxV1
from isanfarm.settings import InfluxSettings


def message(topic: str, payload: bytes) -> mqtt.MQTTMessage:
    built = mqtt.MQTTMessage(topic=topic.encode())
    built.payload = payload
    return built


def test_a_bug_in_conversion_keeps_the_message_as_a_dead_letter_and_logs_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Raising would stop ingest for every farm, and the broker would redeliver the same
    message after each restart."""

    def broken_decoder(topic: str, payload: bytes) -> contract.Telemetry:
        raise KeyError("soil")

    monkeypatch.setattr(contract, "decode_message", broken_decoder)
    worker = IngestWorker(IngestSettings(), InfluxV1(InfluxSettings()))
    converted = Converted()
    with caplog.at_level(logging.ERROR, logger="ingest.worker"):
        worker.convert(message("isanfarm/v1/korat-001/f01-node/telemetry", b"{}"), converted)

    assert converted.lines == []
    [reject] = converted.rejects
    assert (reject.rule, reject.field, reject.payload) == (INGEST_FAILED, "payload", b"{}")
    assert reject.detail == "KeyError: 'soil'"
    assert "kept as a reject" in caplog.text
    assert "KeyError" in caplog.text


def test_a_payload_nested_too_deeply_is_a_contract_reject() -> None:
    worker = IngestWorker(IngestSettings(), InfluxV1(InfluxSettings()))
    converted = Converted()
    deep = b"[" * 8000 + b"]" * 8000
    worker.convert(message("isanfarm/v1/korat-001/f01-node/telemetry", deep), converted)
    assert [r.rule for r in converted.rejects] == ["too_deep"]
