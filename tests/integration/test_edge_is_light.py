"""A Pi gateway installs the `edge` extra only: the agent must not import server libraries."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = [
    "fastapi",
    "pydantic",
    "pydantic_core",
    "numpy",
    "sklearn",
    "httpx",
    "influxdb_client",
    "uvicorn",
    "starlette",
    "grafana_client",
]

PROBE = """
import json, sys
import tooling.cli, edge.agent, edge.runner, edge.config, simulators.driver, edge.clock
from edge.drivers import load_driver
load_driver("simulated", {"kind": "cassava_field"}).read(1_764_115_200_000)
tooling.cli._parser().parse_args(["edge", "--config", "x.toml"])
print(json.dumps(sorted(m for m in sys.modules if not m.startswith("_"))))
"""


def test_the_edge_agent_and_its_cli_load_no_server_library() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    )
    loaded = {name.split(".")[0] for name in json.loads(result.stdout)}
    assert "paho" in loaded, "the probe did not load what it claims to check"
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_the_wire_contract_imports_no_other_project_package() -> None:
    probe = "import json, sys; import isanfarm.contract; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    loaded = {name.split(".")[0] for name in json.loads(result.stdout)}
    project = {"edge", "ingest", "api", "models", "simulators", "paho"}
    assert "isanfarm" in loaded
    assert loaded.isdisjoint(project), sorted(loaded & project)
