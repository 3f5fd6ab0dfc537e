"""PNG plots of a simulated field's season and a herd's weights, for a person to eyeball.

matplotlib with the Agg backend (no screen needed); imported only by ``isanfarm simulate plot``.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from agronomy.crop import variety as find_variety
from agronomy.field import SPIN_UP_DAYS, FieldDay, run_season
from agronomy.soil import soil_type
from agronomy.weather import KoratWeather, day_date, day_index
from simulators.offline import herd_days
from simulators.scenario import DevicePlan, FarmPlan

DPI = 80


def field_season(
    path: Path, seed: int, variety: str, soil: str, planted: date, days: int, management: float
) -> list[FieldDay]:
    """Weather, soil moisture, LAI, root dry matter and yield, starch: one panel each."""
    weather = KoratWeather(seed, day_index(planted) - SPIN_UP_DAYS)
    season = run_season(
        weather, soil_type(soil), find_variety(variety), planted,
        planted + timedelta(days=days - 1), management,
    )  # fmt: skip
    dates = [day_date(d.day) for d in season]
    fig, axes = plt.subplots(5, 1, figsize=(9, 11), sharex=True)
    rain, temp = axes[0], axes[0].twinx()
    rain.bar(dates, [d.weather.rain_mm for d in season], color="tab:blue", width=1.0)
    rain.set_ylabel("rain (mm/day)")
    temp.plot(dates, [d.weather.tmax_c for d in season], color="tab:red", lw=0.8, label="max")
    temp.plot(dates, [d.weather.tmin_c for d in season], color="tab:orange", lw=0.8, label="min")
    temp.set_ylabel("air (degC)")
    temp.legend(loc="upper right", fontsize=8)
    for depth, index in (("10 cm", 0), ("30 cm", 1), ("60 cm", 2)):
        axes[1].plot(dates, [d.soil_moisture_pct[index] for d in season], lw=1, label=depth)
    axes[1].set_ylabel("soil water (%VWC)")
    axes[1].legend(loc="upper right", fontsize=8)
    axes[2].plot(dates, [d.lai for d in season], color="tab:green")
    axes[2].set_ylabel("LAI (m2/m2)")
    axes[3].plot(dates, [d.root_dm_t_ha for d in season], label="root dry matter")
    axes[3].plot(dates, [d.fresh_yield_t_ha for d in season], label="fresh root yield")
    axes[3].set_ylabel("t/ha")
    axes[3].legend(loc="upper left", fontsize=8)
    starch = [(x, d.starch_pct) for x, d in zip(dates, season, strict=True) if d.root_dm_t_ha > 0.5]
    axes[4].plot([x for x, _ in starch], [s for _, s in starch], color="tab:brown")
    axes[4].set_ylabel("starch (% fresh)")
    fig.suptitle(
        f"{find_variety(variety).name} on {soil}, planted {planted}, weather seed {seed}, "
        f"management {management:g}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return season


def herd_weights(path: Path, farm: FarmPlan, barn: DevicePlan, start: date, days: int) -> None:
    """Every animal's true weight through the year, with the day's peak THI below."""
    series: dict[str, list[tuple[date, float]]] = {}
    peaks: list[tuple[date, float]] = []
    for day, herd, peak, _ in herd_days(farm, barn, start, days):
        when = day_date(day)
        peaks.append((when, peak))
        for animal in herd.animals:
            series.setdefault(animal.animal_id, []).append((when, animal.weight_kg))
    fig, (weights, thi_axis) = plt.subplots(2, 1, figsize=(9, 6), sharex=True,
                                            height_ratios=(3, 1))  # fmt: skip
    for points in series.values():
        weights.plot([x for x, _ in points], [w for _, w in points], lw=0.8)
    weights.set_ylabel("weight (kg)")
    thi_axis.plot([x for x, _ in peaks], [p for _, p in peaks], color="tab:red", lw=0.8)
    thi_axis.axhline(75, color="grey", ls="--", lw=0.8)
    thi_axis.set_ylabel("peak THI")
    fig.suptitle(f"herd {barn.id} ({barn.options['breed']}), from {start}")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
