"""Stopping processes: a child we started, and ourselves when asked to (one rule for every
component that starts or runs as one)."""

from __future__ import annotations

import signal
import subprocess
import threading


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 10) -> None:
    """SIGTERM, so it can finish cleanly; SIGKILL if it has not after ``timeout_s``."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_on_signals() -> threading.Event:
    """An event set on SIGTERM (systemd, a supervisor) or SIGINT (Ctrl-C), so that a long-running
    command finishes its current step and returns instead of dying mid-write."""
    stop = threading.Event()

    def handle(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop
