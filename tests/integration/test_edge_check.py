"""`isanfarm edge check` as a gateway installer runs it: validates a config without starting
the agent, and names the driver and option an installer got wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.integration.test_edge_config import GOOD, write


def _edge_check(config: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tooling.cli", "edge", "check", "--config", str(config)]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


def test_edge_check_validates_without_starting(tmp_path: Path) -> None:
    good = _edge_check(write(tmp_path, GOOD))
    assert good.returncode == 0, good.stderr
    assert "ok: device 'f01-node'" in good.stdout
    bad = _edge_check(write(tmp_path, GOOD.replace("seed = 4", "seed = 4\ncolour = 'red'")))
    assert bad.returncode == 2
    assert "driver 'simulated'" in bad.stderr
    assert "colour" in bad.stderr
