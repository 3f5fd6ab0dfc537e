"""Dashboard previews are drawn to PNG files with matplotlib, which on a machine without its
font cache starts ``fc-list`` to build one: file and process I/O, hence not a unit test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dashboards import build
from dashboards.panels import TimeRange, has_values
from dashboards.preview import render
from tests.helpers import ROOT

DASHBOARDS = build.load_dashboards(ROOT / "grafana")


def test_preview_draws_one_png_per_dashboard(tmp_path: Path) -> None:
    def fake_influx(statement: str) -> list[dict[str, Any]]:
        columns = ["time", "value", "other"]
        return [
            {
                "series": [
                    {"name": "x", "columns": columns, "values": [[0, 1.0, 2], [60_000, 2.0, 3]]}
                ]
            }
        ]

    variables = {"cooperative": ".*", "farm": "f", "site": "s", "device": ".*", "animal": ".*"}
    path = tmp_path / "fleet.png"
    render(DASHBOARDS["fleet"], fake_influx, variables, TimeRange(0, 3_600_000), path)
    assert path.read_bytes().startswith(b"\x89PNG")
    assert has_values(fake_influx(""))
