"""Unit tests do no I/O: they open no socket and start no process, so that they run anywhere, in
seconds, in any order, and a failure points at the code rather than at the machine. Tests that
need a server, a process, a thread waiting on the clock or a database file live in
tests/integration.

The guard below makes the rule fail loudly instead of hoping for it: a unit test that opens a
socket or starts a process fails, naming the rule, even when the code under test catches the
error. A test that still does so while it waits to be moved carries
``@pytest.mark.io_pending_move(reason)``, which shows in the file, not here.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Generator
from typing import NoReturn

import pytest

RULE = (
    "unit tests open no socket and start no process (tests/unit/conftest.py): "
    "move this test to tests/integration"
)
_ATTEMPTS = pytest.StashKey[list[str]]()


class UnitTestIOError(AssertionError):
    """A unit test tried to open a socket or start a process."""


@pytest.fixture(autouse=True)
def _no_sockets_or_processes(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if request.node.get_closest_marker("io_pending_move") is not None:
        return
    attempts = request.node.stash.setdefault(_ATTEMPTS, [])

    def refuse(what: str) -> Callable[..., NoReturn]:
        def refused(*args: object, **kwargs: object) -> NoReturn:
            attempts.append(what)
            raise UnitTestIOError(f"{request.node.nodeid} {what}: {RULE}")

        return refused

    opened = refuse("opened a socket")
    wrap_existing = socket.socket.__init__

    def socket_init(self: socket.socket, *args: object, **kwargs: object) -> None:
        """Wrapping a descriptor that already exists is no I/O: asyncio's event loop wakes
        itself through an in-process ``socketpair``."""
        fileno = kwargs.get("fileno", args[3] if len(args) > 3 else None)
        if fileno is None:
            opened()
        wrap_existing(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "__init__", socket_init)
    for method in ("connect", "connect_ex", "bind"):
        monkeypatch.setattr(socket.socket, method, refuse(f"called socket.{method}"))
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("started a process"))
    for name in ("fork", "system", "posix_spawn", "posix_spawnp"):
        monkeypatch.setattr(os, name, refuse(f"called os.{name}"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Fails a test that passed only because the code under test caught the guard's error."""
    report = yield
    attempts = item.stash.get(_ATTEMPTS, [])
    if report.when == "call" and report.passed and attempts:
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid} {attempts[0]} and carried on: {RULE}"
    return report
