"""The README's first command, minus the install step: `isanfarm demo` runs the whole system
on simulated farms, shows readings stored per device and its herd's forecasts, Ctrl-C stops all
it started, and a restart on the same state keeps the same registry."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_for

pytestmark = pytest.mark.integration

#: The demo's barn (tooling.simulate.FarmLayout) and how many animals its herd has.
HERD = "barn-01"
HERD_SIZE = 12
#: The demo's forecast job runs every minute; the herd is forecast once the simulated clock has
#: put five days of scale passes in (models.cattle.CattleRule.min_days).
FORECAST_TIMEOUT_S = 240


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def get_json(url: str, key: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def answers(api: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api}/health", timeout=5):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def registered_animals(state_dir: Path) -> dict[str, tuple[Any, ...]]:
    """Animal id -> (herd, cooperative, breed, target weight, birth date) in the registry."""
    with sqlite3.connect(state_dir / "registry.sqlite3") as registry:
        rows = registry.execute(
            "SELECT id, herd_id, cooperative_id, breed, target_weight_kg, birth_date FROM animals"
        ).fetchall()
    return {row[0]: (*row[1:5], date.fromisoformat(row[5])) for row in rows}


def check_herd_forecast(api: str, key: str) -> None:
    """The herd's animals are registered, and the herd forecast lists every one of them, each
    with its registered target."""
    page = get_json(f"{api}/v1/animals?herd_id={HERD}", key)
    animals = {animal["id"]: animal for animal in page["items"]}
    # The simulator's ear tags (simulators.herd), registered before the scale weighs them.
    assert sorted(animals) == [f"wagyu-{n:03d}" for n in range(1, HERD_SIZE + 1)], page
    for animal in animals.values():
        assert animal["breed"] == "Wagyu x Brahman"
        # DOMAIN.md: finishing from 10-12 months to slaughter at 26-32 months and 650-800 kg.
        months = (date.today() - date.fromisoformat(animal["birth_date"])).days / 30.4
        assert 10 <= months <= 32, animal
        assert 650 <= animal["target_weight_kg"] <= 800, animal
    forecast: dict[str, Any] = {}

    def every_animal_forecast() -> bool:
        rows = get_json(f"{api}/v1/herds/{HERD}/forecast", key)
        forecast.update({row["animal_id"]: row for row in rows})
        return forecast.keys() == animals.keys()

    wait_for(every_animal_forecast, "a forecast of every animal", timeout_s=FORECAST_TIMEOUT_S)
    for animal_id, row in forecast.items():
        assert row["target_weight_kg"] == animals[animal_id]["target_weight_kg"], row
        assert 0 < row["days_to_target"] <= 3650, row
        assert row["days_to_target_p10"] <= row["days_to_target"] <= row["days_to_target_p90"]


def demo_command(state_dir: Path) -> list[str]:
    ports = ["--api-port", "0", "--mqtt-port", "0", "--influx-port", "0"]
    return [sys.executable, "-m", "tooling.cli", "demo", "--state-dir", str(state_dir), *ports]


def test_the_demo_stores_readings_forecasts_its_herd_and_ctrl_c_stops_everything(
    tmp_path: Path,
) -> None:
    output = tmp_path / "demo.out"
    state_dir = tmp_path / "state"
    # A week of device time in 50 s: the herd is forecast by the forecast job's second run.
    command = [*demo_command(state_dir), "--speed", "12000"]
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
        # The API is a child process: on a busy machine it may answer after the first readings.
        wait_for(lambda: answers(api[1]), what="the demo's API to answer", timeout_s=30)
        latest = get_json(f"{api[1]}/v1/devices/field-01-node/latest", key[1])
        assert latest["readings"], "the demo's API serves the stored readings"
        check_herd_forecast(api[1], key[1])
        assert re.search(rf"^forecasts: \d+ fields, {HERD_SIZE} animals", output.read_text(), re.M)
        text = output.read_text()
        children = [int(pid) for pid in re.findall(r"\(pid (\d+),", text)]
        assert len(children) == 2, text
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0, output.read_text()
    finally:
        if demo.poll() is None:
            # Ctrl-C first, so that a failed check does not leave the demo's servers running.
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(timeout=60)
            except subprocess.TimeoutExpired:
                demo.kill()
    assert output.read_text().rstrip().endswith("stopped.")
    time.sleep(0.2)
    assert not [pid for pid in children if is_alive(pid)], "ingest or API left running"
    leftovers = subprocess.run(
        ["pgrep", "-f", str(tmp_path)], capture_output=True, text=True
    ).stdout.split()
    assert not leftovers, "a server of the demo is still running"

    registered = registered_animals(state_dir)
    restart = subprocess.run(
        [*demo_command(state_dir), "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert restart.returncode == 0, restart.stdout + restart.stderr
    again = registered_animals(state_dir)
    assert again.keys() == registered.keys(), "a restart registers the same animals"
    for animal_id, (*facts, born) in again.items():
        *before, born_before = registered[animal_id]
        assert facts == before, animal_id
        # The simulated clock restarts a week back from the new now, on a whole hour.
        assert abs((born - born_before).days) <= 1, animal_id
