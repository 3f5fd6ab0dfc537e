"""The evaluation report: a Markdown page and its PNG plots in one folder a person can open.

Every figure in it is computed from the held-out rows passed in; nothing is typed in by hand.
matplotlib (the ``sim`` extra) is imported here only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from models.training import EVAL_LEADS

SERIES = (("", "model"), ("_climatology", "climatology"), ("_last_season", "last season"))
GOALS = (
    "Goals at 3 months before harvest (issue 7): yield MAPE <= 10% and starch RMSE <= 1.5 "
    "points, each >= 40% better than the better baseline (skill >= 0.40); 80% intervals "
    "covering 75-85% of held-out outcomes."
)


def write(
    out_dir: Path, rows: Sequence[dict[str, Any]], metrics: dict[str, Any], meta: dict[str, Any]
) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    plots = [
        _predicted_vs_actual(out_dir, rows),
        _error_by_lead(out_dir, metrics),
        _coverage(out_dir, metrics),
    ]
    path = out_dir / "report.md"
    path.write_text(_markdown(metrics, meta, plots))
    return path


def _markdown(metrics: dict[str, Any], meta: dict[str, Any], plots: list[str]) -> str:
    lines = [
        "# Cassava forecast evaluation",
        "",
        f"Written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Model `{meta.get('version', '-')}`, "
        f"trained on {meta.get('training', '-')}.",
        f"Held out: {meta.get('held_out', 'seasons and fields not seen in training')}; "
        f"{metrics.get('n_test_rows', 0)} (field, harvest month, lead) rows.",
        "",
        "Baselines, computed in the same run from the training seasons: *climatology* = mean of "
        "the same variety, planting month and harvest month; *last season* = the same field's "
        "value a season earlier at the same harvest age. Skill = 1 - model error / error of the "
        "better baseline.",
        "",
        "| lead | yield MAPE % | climatology | last season | skill | starch RMSE | climatology "
        "| last season | skill | yield cov80 | starch cov80 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for lead in EVAL_LEADS:
        m = metrics.get(lead)
        if m is None:
            continue
        lines.append(
            f"| {lead} | {m['yield_mape']:.1f} | {m['yield_mape_climatology']:.1f} | "
            f"{m['yield_mape_last_season']:.1f} | {m['yield_skill']:.2f} | "
            f"{m['starch_rmse']:.2f} | {m['starch_rmse_climatology']:.2f} | "
            f"{m['starch_rmse_last_season']:.2f} | {m['starch_skill']:.2f} | "
            f"{m['yield_coverage80']:.2f} | {m['starch_coverage80']:.2f} |"
        )
    lines += ["", GOALS, "", _verdict(metrics), ""]
    lines += [f"![{name}]({name})" for name in plots]
    return "\n".join(lines) + "\n"


def _verdict(metrics: dict[str, Any]) -> str:
    m = metrics.get("3m")
    if m is None:
        return "No 3-month rows: no verdict."
    checks = {
        "yield MAPE <= 10%": m["yield_mape"] <= 10,
        "starch RMSE <= 1.5": m["starch_rmse"] <= 1.5,
        "yield skill >= 0.40": m["yield_skill"] >= 0.4,
        "starch skill >= 0.40": m["starch_skill"] >= 0.4,
        "yield coverage 0.75-0.85": 0.75 <= m["yield_coverage80"] <= 0.85,
        "starch coverage 0.75-0.85": 0.75 <= m["starch_coverage80"] <= 0.85,
    }
    met = [k for k, ok in checks.items() if ok]
    missed = [k for k, ok in checks.items() if not ok]
    return f"Met at 3 months: {', '.join(met) or 'none'}. Missed: {', '.join(missed) or 'none'}."


def _predicted_vs_actual(out_dir: Path, rows: Sequence[dict[str, Any]]) -> str:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    chosen = [r for r in rows if r["lead"] == "3m"]
    for ax, (true, pred, unit) in zip(
        axes,
        (
            ("yield_true", "yield_pred", "yield t/ha"),
            ("starch_true", "starch_pct_pred", "starch %"),
        ),
        strict=True,
    ):
        x = np.array([r[true] for r in chosen])
        y = np.array([r[pred] for r in chosen])
        ax.scatter(x, y, s=6, alpha=0.5)
        if len(x):
            lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
            ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.8)
        ax.set_xlabel(f"actual {unit}")
        ax.set_ylabel(f"predicted {unit}")
        ax.set_title(f"{unit}, 3 months ahead")
    return _save(fig, out_dir, "predicted_vs_actual.png")


def _error_by_lead(out_dir: Path, metrics: dict[str, Any]) -> str:
    import matplotlib.pyplot as plt

    leads = [lead for lead in EVAL_LEADS if lead in metrics]
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, (key, label) in zip(
        axes, (("yield_mape", "yield MAPE %"), ("starch_rmse", "starch RMSE (points)")), strict=True
    ):
        for suffix, name in (
            ("", "model"),
            ("_climatology", "climatology"),
            ("_last_season", "last season"),
        ):
            ax.plot(leads, [metrics[lead][key + suffix] for lead in leads], marker="o", label=name)
        ax.set_xlabel("lead time before harvest")
        ax.set_title(label)
        ax.legend()
    return _save(fig, out_dir, "error_by_lead.png")


def _coverage(out_dir: Path, metrics: dict[str, Any]) -> str:
    import matplotlib.pyplot as plt

    leads = [lead for lead in EVAL_LEADS if lead in metrics]
    fig, ax = plt.subplots(figsize=(5, 4))
    width = 0.35
    x = np.arange(len(leads))
    ax.bar(
        x - width / 2, [metrics[lead]["yield_coverage80"] for lead in leads], width, label="yield"
    )
    ax.bar(
        x + width / 2, [metrics[lead]["starch_coverage80"] for lead in leads], width, label="starch"
    )
    ax.axhspan(0.75, 0.85, color="green", alpha=0.15, label="goal 0.75-0.85")
    ax.set_xticks(x, leads)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of actuals inside the 80% interval")
    ax.legend()
    return _save(fig, out_dir, "interval_coverage.png")


def _save(fig: Any, out_dir: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=80)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return name
