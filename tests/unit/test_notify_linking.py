"""LINE's webhook signature and the link code a farmer types."""

from __future__ import annotations

import base64
import hashlib
import hmac

from notify.linking import Signature, WrongCodes, check_signature, sign
from registry.subscriptions import normalise_code, parse_quiet

SECRET = "8c570fa6dd201bb328f1c1eac23a96d8"
BODY = b'{"destination":"U0","events":[]}'


def test_the_signature_is_base64_of_hmac_sha256_of_the_raw_body() -> None:
    expected = base64.b64encode(hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()).decode()
    assert sign(SECRET, BODY) == expected
    assert check_signature(SECRET, BODY, expected) is Signature.VALID


def test_missing_and_wrong_signatures_are_told_apart() -> None:
    assert check_signature(SECRET, BODY, None) is Signature.MISSING
    assert check_signature(SECRET, BODY, "") is Signature.MISSING
    assert check_signature(SECRET, BODY, sign("another secret", BODY)) is Signature.WRONG
    assert check_signature(SECRET, BODY + b" ", sign(SECRET, BODY)) is Signature.WRONG


def test_a_code_is_read_as_a_farmer_types_it() -> None:
    assert normalise_code("1234 5678") == "12345678"
    assert normalise_code("1234-5678\n") == "12345678"
    assert normalise_code("๑๒๓๔๕๖๗๘") == "12345678"
    assert normalise_code("สวัสดีครับ") is None
    assert normalise_code("1234567") is None


def test_wrong_codes_are_limited_per_user_per_hour() -> None:
    wrong = WrongCodes(limit=2, window_s=3600)
    wrong.add("U1", 0)
    wrong.add("U1", 10)
    assert wrong.blocked("U1", 20)
    assert not wrong.blocked("U2", 20)
    assert not wrong.blocked("U1", 3601)


def test_quiet_hours_are_written_as_a_span_or_none() -> None:
    assert parse_quiet("21:00-06:00") == ("21:00", "06:00")
    assert parse_quiet("none") is None
