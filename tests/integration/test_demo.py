"""The README's first command, minus the install step: `isanfarm demo` runs the whole system
on simulated farms, shows readings stored per device, and Ctrl-C stops all it started."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import wait_for

pytestmark = pytest.mark.integration


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_demo_stores_readings_from_every_device_and_ctrl_c_stops_everything(
    tmp_path: Path,
) -> None:
    output = tmp_path / "demo.out"
    command = [
        sys.executable,
        "-m",
        "tooling.cli",
        "demo",
        "--state-dir",
        str(tmp_path / "state"),
        "--api-port",
        "0",
        "--mqtt-port",
        "0",
        "--influx-port",
        "0",
        "--speed",
        "6000",
    ]
    with open(output, "w") as sink:
        demo = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        stored_rows = re.compile(r"^(field-01-node|barn-01-node)\s+\d+\s+\d+\s+([1-9]\d*)$", re.M)
        wait_for(
            lambda: (
                {m[0] for m in stored_rows.findall(output.read_text())}
                == {"field-01-node", "barn-01-node"}
            ),
            what="the demo to report stored readings for both devices",
            timeout_s=60,
        )
        text = output.read_text()
        assert re.search(r"API docs\s+http://127\.0\.0\.1:\d+/docs", text)
        assert re.search(r"InfluxDB\s+http://127\.0\.0\.1:\d+\s+database 'isanfarm'", text)
        key = re.search(r"API key\s+(isf_\S+)", text)
        api = re.search(r"API docs\s+(http://127\.0\.0\.1:\d+)/docs", text)
        assert key, text
        assert api, text
        request = urllib.request.Request(
            f"{api[1]}/v1/devices/field-01-node/latest",
            headers={"Authorization": f"Bearer {key[1]}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["readings"], "the demo's API serves the stored readings"
        children = [int(pid) for pid in re.findall(r"\(pid (\d+),", text)]
        assert len(children) == 2, text
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0, output.read_text()
    finally:
        if demo.poll() is None:
            demo.kill()
    assert output.read_text().rstrip().endswith("stopped.")
    time.sleep(0.2)
    assert not [pid for pid in children if is_alive(pid)], "ingest or API left running"
    leftovers = subprocess.run(
        ["pgrep", "-f", str(tmp_path)], capture_output=True, text=True
    ).stdout.split()
    assert not leftovers, "a server of the demo is still running"
