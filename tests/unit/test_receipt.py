"""The receipt's wire format (isanfarm/receipt.py): topic, ranges, encode and decode."""

from __future__ import annotations

import json

import pytest

from isanfarm import contract
from isanfarm.receipt import (
    MAX_RANGES,
    Receipt,
    decode_receipt,
    encode_receipt,
    is_receipt_topic,
    parse_receipt_topic,
    receipt_subscription,
    receipt_topic,
    receipts_for,
    seq_ranges,
)

TOPIC = "isanfarm/v1/korat-001/f01-node/receipt"


def test_the_receipt_topic_follows_the_contracts_scheme() -> None:
    assert receipt_topic("korat-001", "f01-node") == TOPIC
    assert TOPIC.startswith(contract.TOPIC_PREFIX + "/")
    assert parse_receipt_topic(TOPIC) == ("korat-001", "f01-node")
    assert receipt_subscription() == "isanfarm/v1/+/+/receipt"
    assert is_receipt_topic(TOPIC)
    assert not is_receipt_topic(contract.telemetry_topic("korat-001", "f01-node"))
    with pytest.raises(contract.ContractError, match="not a valid id"):
        receipt_topic("Korat", "f01-node")
    for wrong in ("isanfarm/v1/korat-001/receipt", "isanfarm/v2/a/b/receipt", "isanfarm/v1/a/b/c"):
        with pytest.raises(contract.ContractError):
            parse_receipt_topic(wrong)


def test_seqs_become_sorted_merged_ranges() -> None:
    assert seq_ranges([7, 1, 2, 3, 2]) == ((1, 3), (7, 7))
    assert seq_ranges([]) == ()
    assert seq_ranges(range(500)) == ((0, 499),)


def test_a_long_list_of_ranges_is_cut_into_several_receipts() -> None:
    receipts = receipts_for("korat-001", "f01-node", range(0, 4 * MAX_RANGES + 2, 2))
    assert [len(r.stored) for r in receipts] == [MAX_RANGES, MAX_RANGES, 1]
    covered = [seq for seq in range(4 * MAX_RANGES + 2) if any(r.covers(seq) for r in receipts)]
    assert covered == list(range(0, 4 * MAX_RANGES + 2, 2))


def test_encode_and_decode_round_trip_exactly() -> None:
    original = Receipt("korat-001", "f01-node", ((0, 19), (25, 25), (2**63 - 1, 2**63 - 1)))
    payload = encode_receipt(original)
    assert json.loads(payload) == {
        "schema": 1,
        "device_id": "f01-node",
        "stored": [[0, 19], [25, 25], [2**63 - 1, 2**63 - 1]],
    }
    decoded = decode_receipt(TOPIC, payload)
    assert decoded == original
    assert [seq for seq in range(30) if decoded.covers(seq)] == [*range(20), 25]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"\xff", "payload"),
        (b"[]", "payload"),
        (b'{"schema":2,"device_id":"f01-node","stored":[]}', "schema"),
        (b'{"schema":1.0,"device_id":"f01-node","stored":[]}', "schema"),
        (b'{"schema":true,"device_id":"f01-node","stored":[]}', "schema"),
        (b'{"schema":1,"device_id":"f02-node","stored":[]}', "device_id"),
        (b'{"schema":1,"device_id":"f01-node"}', "stored"),
        (b'{"schema":1,"device_id":"f01-node","stored":[[1]]}', "stored[0]"),
        (b'{"schema":1,"device_id":"f01-node","stored":[[3,2]]}', "stored[0]"),
        (b'{"schema":1,"device_id":"f01-node","stored":[[-1,2]]}', "stored[0]"),
        (b'{"schema":1,"device_id":"f01-node","stored":[[1.0,2]]}', "stored[0]"),
        (b'{"schema":1,"device_id":"f01-node","stored":[[true,2]]}', "stored[0]"),
        (b'{"schema":1,"device_id":"f01-node","stored":[[0,9223372036854775808]]}', "stored[0]"),
    ],
)
def test_a_bad_receipt_names_what_is_wrong(payload: bytes, field: str) -> None:
    with pytest.raises(contract.ContractError) as caught:
        decode_receipt(TOPIC, payload)
    assert caught.value.field == field
    assert caught.value.rule in contract.RULES


def test_a_receipt_with_too_many_ranges_is_refused() -> None:
    stored = [[2 * n, 2 * n] for n in range(MAX_RANGES + 1)]
    payload = json.dumps({"schema": 1, "device_id": "f01-node", "stored": stored}).encode()
    with pytest.raises(contract.ContractError, match="at most"):
        decode_receipt(TOPIC, payload)
