"""Ingest's receipts to devices, on an MQTT connection of their own.

Why not the worker's connection: paho's ``loop_read()`` reads as many packets per call as the
client has QoS 1 messages of its own awaiting a PUBACK, so receipts published there made the
consuming thread read past its bound on held messages (measured: 121 held for a bound of 50,
``test_a_slow_database_never_makes_ingest_hold_more_than_max_in_flight``). Here paho's own
network thread sends them; the consuming thread only hands them over (``publish`` is
thread-safe), one per device per stored batch.

A receipt handed over while this connection is down waits in paho's memory and goes when it is
back; one lost all the same (ingest stopped first) only makes its device send those readings
again, which stores nothing twice (the point key).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.settings import IngestSettings
from isanfarm import receipt

log = logging.getLogger(__name__)

#: Receipts published and not yet acknowledged by the broker, at most (paho queues the rest).
IN_FLIGHT = 1000


class ReceiptSender:
    def __init__(self, settings: IngestSettings) -> None:
        self._settings = settings
        #: Receipts handed over so far.
        self.sent = 0
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{settings.client_id}-receipts",
            protocol=mqtt.MQTTv5,
        )
        mqtt_settings = settings.mqtt
        if mqtt_settings.username:
            password = mqtt_settings.password.get_secret_value() if mqtt_settings.password else None
            self._client.username_pw_set(mqtt_settings.username, password)
        self._client.max_inflight_messages_set(IN_FLIGHT)
        self._client.reconnect_delay_set(1, 30)
        self._client.on_connect = self._on_connect

    def start(self) -> None:
        self._client.connect_async(
            self._settings.mqtt.host,
            self._settings.mqtt.port,
            keepalive=self._settings.mqtt.keepalive_s,
        )
        self._client.loop_start()

    def send(self, seqs: Mapping[tuple[str, str], Sequence[int]]) -> None:
        """The receipts of one stored batch: ``seq`` numbers by (farm_id, device_id)."""
        for (farm_id, device_id), numbers in seqs.items():
            for stored in receipt.receipts_for(farm_id, device_id, numbers):
                self._client.publish(stored.topic, receipt.encode_receipt(stored), qos=1)
                self.sent += 1

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.error(
                "broker refused ingest's receipt connection %r: %s; devices on receipts "
                "will send their readings again until it is fixed",
                f"{self._settings.client_id}-receipts",
                reason_code,
            )
