"""The delivery receipt: ingest tells a device which of its readings are stored.

A PUBACK means "the broker has it", not "it is stored": a broker killed before it saved its
queue loses readings it had acknowledged, and over MQTT 3.1.1 a publish the ACL refuses is
acknowledged all the same. So after each InfluxDB write ingest publishes, to each device with
readings in the batch, the ``seq`` numbers now stored (dead letters and quarantined readings
included: they are kept, and sending them again would change nothing). The agent deletes a
reading only when a receipt covers it, and sends again what none covered (docs/receipts.md).

Why ranges of the batch's own numbers and not a watermark ("everything up to N"): ``seq``
has gaps by design (a crash skips the rest of a reserved block, edge/sequence.py; the outbox
cap drops the oldest), a batch holds live readings before the backlog, and workers sharing the
stream each see part of it; ingest cannot know that nothing below N is missing. A batch's
numbers are mostly consecutive, so the ranges stay short.

Standard library only, like ``isanfarm.contract``, whose topic scheme and errors it uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from isanfarm.contract import SCHEMA_VERSION, TOPIC_PREFIX, ContractError, check_id

#: The last level of a device's receipt topic: ``isanfarm/v1/<farm_id>/<device_id>/receipt``.
RECEIPT = "receipt"
#: The contract's ``seq`` is below 2**63.
MAX_SEQ = 2**63 - 1
#: A receipt names at most this many ranges (ingest cuts longer lists into several receipts);
#: a bound on what a device parses.
MAX_RANGES = 1000

SeqRange = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Receipt:
    """The ``seq`` numbers of one device stored by one write, as inclusive ranges."""

    farm_id: str
    device_id: str
    stored: tuple[SeqRange, ...]

    @property
    def topic(self) -> str:
        return receipt_topic(self.farm_id, self.device_id)

    def covers(self, seq: int) -> bool:
        return any(low <= seq <= high for low, high in self.stored)


def receipt_topic(farm_id: str, device_id: str) -> str:
    check_id(farm_id, "farm_id")
    check_id(device_id, "device_id")
    return f"{TOPIC_PREFIX}/{farm_id}/{device_id}/{RECEIPT}"


def receipt_subscription(farm_id: str = "+") -> str:
    """Every device's receipts (of one farm, or of all): for tools and tests."""
    if farm_id != "+":
        check_id(farm_id, "farm_id")
    return f"{TOPIC_PREFIX}/{farm_id}/+/{RECEIPT}"


def is_receipt_topic(topic: str) -> bool:
    """Cheap enough for every message ingest reads: its own receipts come back to it."""
    return topic.endswith("/" + RECEIPT) and topic.startswith(TOPIC_PREFIX + "/")


def parse_receipt_topic(topic: str) -> tuple[str, str]:
    """(farm_id, device_id) of a receipt topic."""
    parts = topic.split("/")
    prefix = TOPIC_PREFIX.split("/")
    if len(parts) != len(prefix) + 3 or parts[: len(prefix)] != prefix or parts[-1] != RECEIPT:
        raise ContractError(
            "topic",
            f"{topic!r} does not match '{TOPIC_PREFIX}/<farm_id>/<device_id>/{RECEIPT}'",
            "bad_topic",
        )
    farm_id, device_id = parts[len(prefix) : len(prefix) + 2]
    return check_id(farm_id, "topic.farm_id"), check_id(device_id, "topic.device_id")


def seq_ranges(seqs: Iterable[int]) -> tuple[SeqRange, ...]:
    """Numbers as sorted, merged inclusive ranges: 1, 2, 3, 7, 2 -> (1, 3), (7, 7)."""
    merged: list[list[int]] = []
    for seq in sorted(set(seqs)):
        if merged and seq == merged[-1][1] + 1:
            merged[-1][1] = seq
        else:
            merged.append([seq, seq])
    return tuple((low, high) for low, high in merged)


def receipts_for(farm_id: str, device_id: str, seqs: Iterable[int]) -> list[Receipt]:
    """One device's stored numbers as receipts of at most ``MAX_RANGES`` ranges each."""
    ranges = seq_ranges(seqs)
    return [
        Receipt(farm_id, device_id, ranges[start : start + MAX_RANGES])
        for start in range(0, len(ranges), MAX_RANGES)
    ]


def encode_receipt(receipt: Receipt) -> bytes:
    body = {
        "schema": SCHEMA_VERSION,
        "device_id": receipt.device_id,
        "stored": [list(pair) for pair in receipt.stored],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def decode_receipt(topic: str, payload: bytes) -> Receipt:
    """The receipt on ``topic``; ContractError naming the part that is wrong."""
    farm_id, device_id = parse_receipt_topic(topic)
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ContractError("payload", f"not a JSON receipt: {exc}", "not_json") from None
    if not isinstance(body, dict):
        raise ContractError("payload", "a receipt is a JSON object", "not_json")
    schema = body.get("schema")
    if type(schema) is not int or schema != SCHEMA_VERSION:
        raise ContractError(
            "schema", f"{schema!r} is not schema {SCHEMA_VERSION}", "unsupported_schema"
        )
    if body.get("device_id") != device_id:
        raise ContractError(
            "device_id",
            f"{body.get('device_id')!r} is not the topic's {device_id!r}",
            "device_mismatch",
        )
    return Receipt(farm_id, device_id, _ranges(body.get("stored")))


def _ranges(value: object) -> tuple[SeqRange, ...]:
    if not isinstance(value, list) or len(value) > MAX_RANGES:
        raise ContractError(
            "stored", f"a list of at most {MAX_RANGES} [low, high] pairs", "wrong_type"
        )
    return tuple(_range(pair, n) for n, pair in enumerate(value))


def _range(pair: object, n: int) -> SeqRange:
    if not isinstance(pair, list) or len(pair) != 2:
        raise ContractError(f"stored[{n}]", f"{pair!r} is not a [low, high] pair", "wrong_type")
    low, high = (_seq(number, f"stored[{n}]") for number in pair)
    if low > high:
        raise ContractError(f"stored[{n}]", f"{low} is above {high}", "out_of_range")
    return low, high


def _seq(number: object, where: str) -> int:
    if type(number) is not int or not 0 <= number <= MAX_SEQ:
        raise ContractError(where, f"{number!r} is not a seq (an integer 0..2**63-1)", "wrong_type")
    return number
