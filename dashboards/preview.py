"""``isanfarm grafana preview``: each panel's query result drawn with matplotlib, one PNG grid
per dashboard.

A PNG of a Grafana dashboard needs Grafana and its image renderer; neither runs here. This
draws what the panels' queries return instead (time series as lines or bars, stats as a big
number, tables as a table), with the panel titles, so a reader sees what data each panel
shows. It is not what Grafana draws: no threshold bands, mappings or transformations.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agronomy.units import THAI_TIMEZONE
from dashboards.panels import PanelQuery, Runner, TimeRange, panel_queries

COLUMNS = 3


def variables_for(name: str, farm: str, field: str, barn: str, runner: Runner) -> dict[str, str]:
    """What a person would pick: the farm, its field or barn, all devices and animals, and
    the newest forecast run (as the ``issued`` variable opens)."""
    site = {"cassava-field": field, "cattle-barn": barn}.get(name, ".*")
    runs = runner(
        f'SHOW TAG VALUES FROM "cassava_forecast" WITH KEY = "issued" WHERE "farm" = \'{farm}\''
    )
    issued = max((row[1] for s in runs[0].get("series", []) for row in s["values"]), default="")
    return {
        "cooperative": ".*",
        "farm": farm,
        "site": site,
        "device": ".*",
        "animal": ".*",
        "issued": issued,
    }


def render_all(
    dashboards: Mapping[str, Mapping[str, Any]],
    runner: Runner,
    farm: str,
    window: TimeRange,
    out_dir: Path,
    field: str = "field-01",
    barn: str = "barn-01",
    now_ms: int | None = None,
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, dashboard in dashboards.items():
        path = out_dir / f"grafana-{name}.png"
        variables = variables_for(name, farm, field, barn, runner)
        render(dashboard, runner, variables, window, path, now_ms)
        written.append(path)
    return written


def render(
    dashboard: Mapping[str, Any],
    runner: Runner,
    variables: Mapping[str, str],
    window: TimeRange,
    path: Path,
    now_ms: int | None = None,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["font.family"] = _thai_font() or plt.rcParams["font.family"]
    plt.rcParams["axes.unicode_minus"] = False
    panels: dict[int, list[tuple[PanelQuery, list[dict[str, Any]]]]] = {}
    now_ms = now_ms or min(window.end_ms, int(time.time() * 1000))
    for query in panel_queries(dashboard, variables, window, now_ms):
        panels.setdefault(query.panel_id, []).append((query, runner(query.statement)))
    rows = max(1, math.ceil(len(panels) / COLUMNS))
    figure, axes = plt.subplots(rows, COLUMNS, figsize=(6 * COLUMNS, 3.2 * rows), squeeze=False)
    figure.suptitle(f"{dashboard['title']}  ({variables.get('farm', '')})", fontsize=14)
    flat = list(axes.flat)
    for axis, results in zip(flat, panels.values(), strict=False):
        _draw(axis, results)
    for axis in flat[len(panels) :]:
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=60)
    plt.close(figure)


def _draw(axis: Any, results: list[tuple[PanelQuery, list[dict[str, Any]]]]) -> None:
    query = results[0][0]
    axis.set_title(query.title, fontsize=9)
    series = [s for _, result in results for r in result for s in r.get("series", [])]
    if not series:
        axis.text(0.5, 0.5, "no data", ha="center", va="center", transform=axis.transAxes)
        return
    if query.result_format == "table":
        _table(axis, series)
    elif query.panel_type == "stat":
        _stat(axis, series, query.shown)
    else:
        _lines(axis, series, query.hidden)


def _lines(axis: Any, series: list[dict[str, Any]], hidden: frozenset[str]) -> None:
    for one in series:
        times = [
            datetime.fromtimestamp(row[0] / 1000, tz=UTC).astimezone(THAI_TIMEZONE)
            for row in one["values"]
        ]
        label_tags = ",".join(one.get("tags", {}).values())
        for index, column in enumerate(one["columns"][1:], start=1):
            if column in hidden:
                continue
            values = [
                row[index] if isinstance(row[index], int | float) else None for row in one["values"]
            ]
            if all(v is None for v in values):
                continue
            label = f"{column} {label_tags}".strip()
            marker = "o" if len(values) < 3 else None
            plotted = [math.nan if v is None else v for v in values]
            axis.plot(times, plotted, label=label, lw=1, marker=marker)
    if axis.get_legend_handles_labels()[0]:
        axis.legend(fontsize=6, loc="best")
    axis.tick_params(labelsize=6)


def _stat(axis: Any, series: list[dict[str, Any]], shown: str | None) -> None:
    pattern = re.compile(shown.strip("/")) if shown else None
    if pattern is not None and pattern.search("Time"):  # a stat showing a date
        times = [row[0] for one in series for row in one["values"]]
        axis.axis("off")
        text = _cell(max(times)) if times else "—"
        axis.text(0.5, 0.45, text, ha="center", va="center", fontsize=24, transform=axis.transAxes)
        return
    last = None
    for one in series:
        keep = [
            i
            for i, column in enumerate(one["columns"])
            if i > 0 and (pattern is None or pattern.search(column))
        ]
        for row in one["values"]:
            numbers = [row[i] for i in keep if isinstance(row[i], int | float)]
            if numbers:
                last = numbers[0]
    axis.axis("off")
    text = "—" if last is None else f"{last:,.1f}"
    axis.text(0.5, 0.45, text, ha="center", va="center", fontsize=28, transform=axis.transAxes)


def _table(axis: Any, series: list[dict[str, Any]]) -> None:
    axis.axis("off")
    first = series[0]
    tag_names = list(first.get("tags", {}))
    columns = tag_names + first["columns"][1:]
    rows = []
    for one in series:
        for row in one["values"]:
            rows.append([*one.get("tags", {}).values(), *(_cell(v) for v in row[1:])])
    rows = rows[:8]
    table = axis.table(cellText=rows, colLabels=columns, loc="center", fontsize=6)
    table.auto_set_font_size(False)
    table.set_fontsize(6)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and value > 10**12:  # a time in ms
        return datetime.fromtimestamp(value / 1000, tz=THAI_TIMEZONE).strftime("%Y-%m-%d")
    return "" if value is None else str(value)


def _thai_font() -> str | None:
    """A font with Thai glyphs if one is installed (fonts-thai-tlwg), else matplotlib's own."""
    from matplotlib import font_manager

    for name in ("Loma", "Garuda", "Norasi", "Sawasdee", "Noto Sans Thai"):
        try:
            font_manager.findfont(name, fallback_to_default=False)
        except ValueError:
            continue
        return name
    return None


def influx_from_environment() -> Any:
    """An InfluxDB client from ``ISANFARM_INFLUX_*``, as ingest and the API configure theirs."""
    from pydantic_settings import BaseSettings

    from isanfarm.influx import InfluxV1
    from isanfarm.settings import ENV_CONFIG, InfluxSettings

    class PreviewSettings(BaseSettings):
        model_config = ENV_CONFIG
        influx: InfluxSettings = InfluxSettings()

    return InfluxV1(PreviewSettings().influx)
