"""The agent's in-flight window (edge/delivery.py): what is confirmed, what is sent again."""

from __future__ import annotations

import pytest

from edge.delivery import MAX_DOUBLINGS, DeliveryWindow
from isanfarm.receipt import Receipt


def receipt_for(*ranges: tuple[int, int]) -> Receipt:
    return Receipt("korat-001", "f01-node", ranges)


def test_room_is_bounded_by_the_pubacks_awaited_and_by_everything_unconfirmed() -> None:
    window = DeliveryWindow(in_flight=3, limit=5, timeout_s=10)
    for item_id in range(3):
        window.sent(item_id, seq=item_id, mid=100 + item_id, now=0)
    assert window.room() == 0, "three PUBACKs awaited fill the in-flight window"
    taken, refused = window.answered({100: True, 101: True, 102: True})
    assert (taken, refused) == ([0, 1, 2], [])
    assert len(window) == 3, "taken by the broker is not stored: they stay"
    assert window.room() == 2, "the unconfirmed limit now binds"


def test_a_refused_publish_leaves_the_window_and_a_receipt_confirms_by_seq() -> None:
    window = DeliveryWindow(in_flight=10, limit=10, timeout_s=10)
    for item_id, seq in ((1, 40), (2, 41), (3, 42)):
        window.sent(item_id, seq, mid=item_id, now=0)
    taken, refused = window.answered({1: True, 2: False, 999: True})  # 999: a heartbeat
    assert (taken, refused) == ([1], [2])
    assert 2 not in window
    # A receipt may come before the PUBACK (lost with a disconnect): it confirms all the same.
    assert sorted(window.covered(receipt_for((40, 40), (42, 50)))) == [1, 3]
    assert len(window) == 0


def test_what_no_receipt_covered_is_due_again_oldest_first_with_a_doubling_wait() -> None:
    window = DeliveryWindow(in_flight=2, limit=10, timeout_s=10)
    for item_id in (5, 3, 4):
        window.sent(item_id, seq=item_id, mid=item_id, now=0)
    assert window.due_again(100) == [], "a reading still awaiting its PUBACK is not due"
    window.answered({3: True, 4: True, 5: True})
    assert window.due_again(9.9) == []
    assert window.due_again(10) == [3, 4], "oldest first, as many as the in-flight room"
    window.sent(3, seq=3, mid=50, now=10)
    window.answered({50: True})
    assert 3 not in window.due_again(29.9), "after one resend the wait is 20 s"
    assert 3 in window.due_again(30)
    for n in range(2, MAX_DOUBLINGS + 5):
        window.sent(3, seq=3, mid=50 + n, now=0)
        window.answered({50 + n: True})
    assert window.due_again(10 * 2**MAX_DOUBLINGS - 1) == [4, 5]
    assert window.due_again(10 * 2**MAX_DOUBLINGS) == [3, 4]


def test_forgotten_readings_cannot_be_confirmed_twice() -> None:
    window = DeliveryWindow(in_flight=5, limit=5, timeout_s=1)
    window.sent(1, seq=7, mid=1, now=0)
    window.forget([1, 2])
    assert window.covered(receipt_for((0, 100))) == []
    with pytest.raises(ValueError, match="in_flight >= 1"):
        DeliveryWindow(in_flight=0, limit=5, timeout_s=1)
