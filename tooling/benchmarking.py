"""What every benchmark prints about the machine it ran on, so bench/RESULTS.md can say it."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    """CPU model, core count and Python version: 'x86_64 AMD EPYC, 2 cores, python 3.11.7'."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return (
        f"{platform.machine()} {model}, {os.cpu_count()} cores, python {platform.python_version()}"
    )


def load_average() -> str:
    """Other work on the machine moves every figure: the load average says if there was some."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"
