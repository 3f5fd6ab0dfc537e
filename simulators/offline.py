"""Offline mode: whole seasons for many fields and herds, straight to CSV (and optionally
InfluxDB), for training and scoring forecasts before real farm data exists.

Files written to the output directory:

- ``fields_daily.csv``: one row per field per day: weather, soil moisture at 10/30/60 cm, and
  the crop's truth (LAI, root dry matter, fresh yield, starch).
- ``harvests.csv``: one row per field and harvest age (8-12 months): the numbers a yield and
  starch forecast is scored on.
- ``herds_daily.csv``: one row per animal per day: weight, age, the day's peak THI and water.

CSV through the standard library, not Parquet: a season of 1,000 fields is ~40 MB of CSV, which
pandas, DuckDB and a spreadsheet all read, and pyarrow (~100 MB installed) would be this mode's
only heavy dependency. Not imported by the edge agent.
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from agronomy.crop import variety as find_variety
from agronomy.field import SPIN_UP_DAYS, FieldDay, run_season
from agronomy.soil import soil_type
from agronomy.thi import thi
from agronomy.units import HOUR_MS, RAI_PER_HA, thai_midnight_ms
from agronomy.weather import (
    KoratWeather,
    day_date,
    day_index,
    diurnal_humidity,
    diurnal_temperature,
)
from simulators.herd import Herd
from simulators.scenario import DevicePlan, FarmPlan, Scenario

if TYPE_CHECKING:
    from isanfarm.influx import InfluxV1

FIELD_COLUMNS = (
    "date", "farm", "field", "variety", "soil", "days_after_planting", "rain_mm", "tmax_c",
    "tmin_c", "rh_pct", "radiation_mj", "et0_mm", "soil_moisture_10cm", "soil_moisture_30cm",
    "soil_moisture_60cm", "water_factor", "lai", "root_dm_t_ha", "fresh_yield_t_ha",
    "starch_pct",
)  # fmt: skip
HARVEST_COLUMNS = (
    "farm", "field", "variety", "soil", "management", "planted", "harvested", "months",
    "fresh_yield_t_ha", "fresh_yield_t_rai", "starch_pct", "season_rain_mm",
)  # fmt: skip
HERD_COLUMNS = (
    "date", "farm", "barn", "animal", "breed", "age_days", "weight_kg", "thi_max",
    "water_l_per_head",
)  # fmt: skip
HARVEST_MONTHS = (8, 9, 10, 11, 12)
INFLUX_BATCH = 5000


@dataclass(frozen=True, slots=True)
class OfflineSummary:
    fields: int
    barns: int
    field_days: int
    seconds: float


def field_seasons(scenario: Scenario) -> Iterator[tuple[FarmPlan, DevicePlan, list[FieldDay]]]:
    """Every field's season, farm by farm; fields of a farm share its weather."""
    for farm in scenario.farms:
        fields = farm.of_kind("cassava_field")
        if not fields:
            continue
        planted = [_planted(device, scenario.start) for device in fields]
        weather = KoratWeather(farm.weather_seed, day_index(min(planted)) - SPIN_UP_DAYS)
        for device, when in zip(fields, planted, strict=True):
            days = run_season(
                weather,
                soil_type(str(device.options["soil"])),
                find_variety(str(device.options["variety"])),
                when,
                when + timedelta(days=scenario.days),
                float(device.options["management"]),
            )
            yield farm, device, days


def _planted(device: DevicePlan, default: date) -> date:
    value = device.options.get("planted")
    return default if value is None else date.fromisoformat(str(value))


def run(
    scenario: Scenario,
    out_dir: Path,
    progress: TextIO | None = sys.stderr,
    influx: InfluxV1 | None = None,
) -> OfflineSummary:
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    total_fields = sum(len(f.of_kind("cassava_field")) for f in scenario.farms)
    bar = ProgressBar(total_fields, "fields", progress)
    field_days, lines = 0, _InfluxBatcher(influx)
    with (
        open(out_dir / "fields_daily.csv", "w", newline="") as daily_file,
        open(out_dir / "harvests.csv", "w", newline="") as harvest_file,
    ):
        daily, harvests = csv.writer(daily_file), csv.writer(harvest_file)
        daily.writerow(FIELD_COLUMNS)
        harvests.writerow(HARVEST_COLUMNS)
        for farm, device, days in field_seasons(scenario):
            daily.writerows(_field_rows(farm, device, days))
            harvests.writerows(_harvest_rows(farm, device, days))
            lines.add_field(farm, device, days)
            field_days += len(days)
            bar.advance()
    barns = _write_herds(scenario, out_dir / "herds_daily.csv")
    lines.flush()
    bar.done()
    return OfflineSummary(total_fields, barns, field_days, time.perf_counter() - started)


def _field_rows(farm: FarmPlan, device: DevicePlan, days: list[FieldDay]) -> Iterator[list[object]]:
    variety, soil = device.options["variety"], device.options["soil"]
    for age, d in enumerate(days):
        w = d.weather
        yield [
            day_date(d.day).isoformat(), farm.id, device.id, variety, soil, age,
            f"{w.rain_mm:.1f}", f"{w.tmax_c:.2f}", f"{w.tmin_c:.2f}", f"{w.rh_mean_pct:.1f}",
            f"{w.radiation_mj:.2f}", f"{w.et0_mm:.2f}",
            *(f"{m:.2f}" for m in d.soil_moisture_pct),
            f"{d.water_factor:.3f}", f"{d.lai:.3f}", f"{d.root_dm_t_ha:.3f}",
            f"{d.fresh_yield_t_ha:.3f}", f"{d.starch_pct:.2f}",
        ]  # fmt: skip


def _harvest_rows(
    farm: FarmPlan, device: DevicePlan, days: list[FieldDay]
) -> Iterator[list[object]]:
    planted = day_date(days[0].day)
    for months in HARVEST_MONTHS:
        age = round(months * 30.44)
        if age >= len(days):
            continue
        d = days[age]
        season_rain = sum(x.weather.rain_mm for x in days[: age + 1])
        yield [
            farm.id, device.id, device.options["variety"], device.options["soil"],
            device.options["management"], planted.isoformat(), day_date(d.day).isoformat(),
            months, f"{d.fresh_yield_t_ha:.3f}", f"{d.fresh_yield_t_ha / RAI_PER_HA:.3f}",
            f"{d.starch_pct:.2f}", f"{season_rain:.1f}",
        ]  # fmt: skip


def herd_days(
    farm: FarmPlan, device: DevicePlan, start: date, days: int
) -> Iterator[tuple[int, Herd, float, float]]:
    """(day, herd at the day's end, the day's peak THI, litres per head) for each day; the herd
    steps hourly through the diurnal THI (barn: 0.5 degC under the outside air)."""
    weather = KoratWeather(farm.weather_seed, day_index(start))
    herd = Herd(
        device.seed * 7919 + 3,
        int(device.options["herd_size"]),
        str(device.options["breed"]),
        str(device.options["feed"]),
    )
    for day in range(day_index(start), day_index(start) + days):
        w = weather.day(day)
        peak, litres = 0.0, 0.0
        for hour in range(24):
            temperature = diurnal_temperature(w, hour + 0.5) - 0.5
            value = thi(temperature, diurnal_humidity(w, hour + 0.5))
            peak = max(peak, value)
            litres += herd.water_litres_per_day(temperature) / 24
            herd.advance(1 / 24, value)
        yield day, herd, peak, litres / len(herd.animals)


def _write_herds(scenario: Scenario, path: Path) -> int:
    barns = 0
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HERD_COLUMNS)
        for farm in scenario.farms:
            for device in farm.of_kind("cattle_barn"):
                barns += 1
                for day, herd, peak, litres in herd_days(
                    farm, device, scenario.start, scenario.days
                ):
                    when = day_date(day).isoformat()
                    for a in herd.animals:
                        writer.writerow([
                            when, farm.id, device.id, a.animal_id, a.breed.name,
                            f"{a.age_days:.0f}", f"{a.weight_kg:.2f}", f"{peak:.2f}",
                            f"{litres:.1f}",
                        ])  # fmt: skip
    return barns


class _InfluxBatcher:
    """Daily field readings as telemetry points (catalogue names, stamped at local noon), so
    the database holds seasons shaped like real devices' data; the crop truth stays in CSV."""

    def __init__(self, influx: InfluxV1 | None) -> None:
        self.influx = influx
        self.lines: list[str] = []

    def add_field(self, farm: FarmPlan, device: DevicePlan, days: list[FieldDay]) -> None:
        if self.influx is None:
            return
        from ingest.points import telemetry_line
        from isanfarm.contract import Sensor, Telemetry

        written_ms = time.time_ns() // 1_000_000
        for seq, d in enumerate(days):
            w = d.weather
            readings = {
                Sensor.SOIL_MOISTURE_10CM: round(d.soil_moisture_pct[0], 2),
                Sensor.SOIL_MOISTURE_30CM: round(d.soil_moisture_pct[1], 2),
                Sensor.SOIL_MOISTURE_60CM: round(d.soil_moisture_pct[2], 2),
                Sensor.AIR_TEMPERATURE: round(w.tmean_c, 2),
                Sensor.RELATIVE_HUMIDITY: round(w.rh_mean_pct, 1),
                Sensor.RAIN: w.rain_mm,
                # One reading stands for the whole day: the day's mean irradiance, which is
                # what the daily rollup of real 10-minute readings gives (not the noon peak).
                Sensor.SOLAR_RADIATION: round(w.radiation_mj * 1e6 / 86_400, 1),
            }
            noon = thai_midnight_ms(day_date(d.day)) + 12 * HOUR_MS
            message = Telemetry(farm.id, f"{device.id}-node", seq, noon, readings, device.id)
            # Written, not received: the generation time stands in for the receive time.
            self.lines.append(telemetry_line(message, received_ms=written_ms))
        if len(self.lines) >= INFLUX_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.influx is not None and self.lines:
            self.influx.write(self.lines)
            self.lines = []


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, total: int, what: str, stream: TextIO | None, width: int = 30) -> None:
        self.total, self.what, self.stream, self.width = max(total, 1), what, stream, width
        self.count = 0
        self._started = self._drawn = time.monotonic()

    def advance(self) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self._drawn >= 0.1 or self.count == self.total:
            self._drawn = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        if self.stream is None:
            return
        filled = self.width * self.count // self.total
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(
            f"\r[{bar}] {self.count}/{self.total} {self.what} {now - self._started:.1f} s"
        )
        self.stream.flush()

    def done(self) -> None:
        if self.stream is not None:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()
