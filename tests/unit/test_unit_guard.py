"""The unit-test guard (tests/unit/conftest.py) really refuses: were it to stop, unit tests that
open sockets or start processes would pass here unnoticed."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable

import pytest

from tests.unit.conftest import _ATTEMPTS, UnitTestIOError


@pytest.mark.parametrize(
    "attempt",
    [
        lambda: socket.create_connection(("127.0.0.1", 9), timeout=0.1),
        lambda: socket.socket().bind(("127.0.0.1", 0)),
        lambda: subprocess.run(["true"], check=False),
    ],
    ids=["connect", "bind", "process"],
)
def test_a_unit_test_may_not_open_a_socket_or_start_a_process(
    attempt: Callable[[], object], request: pytest.FixtureRequest
) -> None:
    with pytest.raises(UnitTestIOError, match="move this test to tests/integration"):
        attempt()
    request.node.stash[_ATTEMPTS].clear()  # refused, as it must be: the test may pass
