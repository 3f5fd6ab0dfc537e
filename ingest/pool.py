"""Several ingest worker processes on one MQTT 5 shared subscription (``ingest run --workers``).

One worker is one Python process, so one core at most; N processes on the same machine share
the stream through the broker (``$share/<group>/<filter>``: each message goes to one of them)
and store it independently, each with its own session, acknowledgements and in-flight bound.
Worker ``i`` (from 1) gets ``<client_id>-<i>``, ``<worker_name>-<i>`` and, when metrics are on,
port ``metrics_port + i - 1``; the group is ``share_group``, or ``client_id`` if none is set.
A worker that exits is started again after a pause; each watches its stdin, held open by this
process, so that none outlives it (a SIGKILL included) to fight its successor for a client id.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping

from ingest.settings import IngestSettings
from isanfarm.processes import stop_process

log = logging.getLogger(__name__)

RESTART_PAUSE_S = 2.0


def worker_environment(settings: IngestSettings, number: int) -> dict[str, str]:
    """The ``ISANFARM_*`` overrides that make worker ``number`` one member of the group."""
    env = {
        "ISANFARM_CLIENT_ID": f"{settings.client_id}-{number}",
        "ISANFARM_WORKER_NAME": f"{settings.worker_name}-{number}",
        "ISANFARM_SHARE_GROUP": settings.share_group or settings.client_id,
    }
    if settings.metrics_port:
        env["ISANFARM_METRICS_PORT"] = str(settings.metrics_port + number - 1)
    return env


class WorkerPool:
    def __init__(self, settings: IngestSettings, count: int) -> None:
        self.settings = settings
        self.count = count
        self._processes: dict[int, subprocess.Popen[bytes]] = {}

    def run(self, stop: threading.Event) -> int:
        """Keep ``count`` workers running until ``stop``; then stop them (SIGTERM, so that each
        finishes or abandons its batch cleanly) and return 0."""
        group = self.settings.share_group or self.settings.client_id
        log.info("ingest: %d worker processes sharing group %r", self.count, group)
        try:
            while not stop.is_set():
                for number in range(1, self.count + 1):
                    process = self._processes.get(number)
                    if process is None or process.poll() is not None:
                        self._start(number, process)
                stop.wait(0.5)
        finally:
            for process in self._processes.values():
                stop_process(process, timeout_s=30)
        return 0

    def _start(self, number: int, previous: subprocess.Popen[bytes] | None) -> None:
        if previous is not None:
            log.error("ingest worker %d exited (%s); restarting", number, previous.returncode)
            time.sleep(RESTART_PAUSE_S)
        self._processes[number] = spawn_worker(worker_environment(self.settings, number))


def spawn_worker(overrides: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """``isanfarm ingest run --supervised`` with these settings on top of ours."""
    command = [sys.executable, "-m", "tooling.cli", "ingest", "run", "--supervised"]
    return subprocess.Popen(command, env={**os.environ, **overrides}, stdin=subprocess.PIPE)


def stop_when_stdin_closes(stop: threading.Event) -> None:
    """For a supervised worker: its supervisor holds our stdin; EOF means it is gone."""

    def watch() -> None:
        sys.stdin.buffer.read()
        stop.set()

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()
