"""The forecast job: every registered field and herd, read from the registry and InfluxDB,
forecast, and written back as ``cassava_forecast`` and ``cattle_forecast`` points
(isanfarm.storage) that the API and the dashboards read.

A field whose data cannot make the features (a dead probe, a new field with no device yet) is
skipped and reported with the reason; the others are still forecast.

With a weather-forecast feed (``ISANFARM_WEATHER_FEED_URL``), each farm's forecast is fetched
once per run at its fields' mean registered location and carried by all its fields' cases
(``farm_forecasts``). The feed only sharpens the last weeks before harvest: a farm without
coordinates, or whose forecast cannot be had, is forecast without one, never left out.
"""

from __future__ import annotations

import copy
import csv
import itertools
import logging
import math
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from sklearn.pipeline import Pipeline  # type: ignore[import-untyped]

from agronomy.crop import CropParameters
from agronomy.units import RAI_PER_HA
from isanfarm import storage
from isanfarm.contract import ID_PATTERN
from isanfarm.influx import InfluxError, InfluxV1
from models import cattle, store
from models.daily import FieldSeason, normalise_soil, normalise_variety
from models.errors import FeatureError
from models.features import Case
from models.price import HarvestCalendar, PriceRule
from models.recalibration import Recalibration
from models.seasons import HarvestedSeason
from models.weatherfeed import WeatherFeedError, WeatherForecast

log = logging.getLogger(__name__)
#: Scale passes and barn climate read back this far for the cattle forecast.
CATTLE_LOOKBACK_DAYS = 60
HEAT_LOOKBACK_DAYS = 7
#: Planting dates outside these bounds are typos (0202 for 2022, 2062 for 2026), not seasons:
#: the job reads every field's days from the earliest planting date, so one such date would
#: stop the forecast of every field. The floor is a fixed date, not "N years ago": a field
#: whose date was not updated after its harvest is still forecast, held at its 12-month answer
#: (models.price.HarvestCalendar), but cassava is harvested 8-12 months after planting, sometimes
#: later (DOMAIN.md), so no crop in the ground dates from the last century.
EARLIEST_PLANTING = date(2000, 1, 1)
#: Fields are registered ahead of planting, at most a season ahead: planting is in the early
#: (March-May) or late (October-November) rainy season (DOMAIN.md), always within a year.
MAX_PLANTING_AHEAD = timedelta(days=366)
#: The columns a harvest CSV must have (docs/forecasts.md); ``planted`` and ``variety`` are
#: optional.
HARVEST_COLUMNS = ("field", "harvested", "fresh_yield_t_ha", "starch_pct")
#: Plausible fresh-root yield of a harvest record, t/ha. DOMAIN.md "Cassava" (Thai Office of
#: Agricultural Economics, Thai Tapioca Starch Association, FAO): national average 20-22, good
#: farmers 35-50, research plots above 60; 80 leaves room above those. The floor is a modelling
#: choice: a rain-fed crop in a dry year loses a third or more, still several t/ha; under 1 is a
#: blank typed as 0 or a misplaced decimal point.
YIELD_T_HA_RANGE = (1.0, 80.0)
#: Plausible starch, % of fresh weight. DOMAIN.md "Cassava": root dry matter is 30-40 % of fresh
#: weight and starch is most of it, so 40 is a ceiling no root reaches; dry-season starch of the
#: high-starch varieties is 25-30 %, others lower, swinging by several points with the rains
#: (Sriroth et al. 1999; Santisopasri et al. 2001). The floor of 10 is a modelling choice well
#: below those swings.
STARCH_PCT_RANGE = (10.0, 40.0)
#: Lines per InfluxDB write; a series' points (one field's candidate dates) are never split
#: across two writes, so a failed write leaves each field with a whole run, today's or the last.
WRITE_BATCH_LINES = 5000
#: A line's series key: everything before its first unescaped space (measurement and tags).
_SERIES_KEY = re.compile(r"(?:[^ \\]|\\.)*")
#: After this many farms in a row whose forecast failed in a way asking again may mend (a
#: timeout, an outage, a rate limit), the rest of the run's farms are not asked: a feed that is
#: down would otherwise cost a timeout per farm.
FEED_GIVE_UP_AFTER = 3


class ForecastWriteError(InfluxError):
    """A write failed part-way through a run: the fields written before it show today's run,
    the others their previous one, until the run is repeated (it overwrites the same points)."""


@dataclass(frozen=True, slots=True)
class FieldInfo:
    field_id: str
    farm_id: str
    variety: str
    soil: str
    planted: date
    area_rai: float
    #: The cooperative whose calibration (``isanfarm calibrate``) its forecasts get.
    cooperative_id: str = ""
    #: Registered location (degrees); the farm's weather forecast is asked at its fields' mean.
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True, slots=True)
class AnimalInfo:
    herd_id: str
    farm_id: str
    animals: dict[str, float]  # registered animal id -> target weight


@dataclass(slots=True)
class ForecastReport:
    fields: int = 0
    #: Fields whose yield gap the crop model calibrated from their previous season.
    calibrated: int = 0
    #: Harvest records written as actuals (``cassava_harvest``).
    harvests: int = 0
    #: Fields whose forecasts their cooperative's stored recalibration corrected.
    recalibrated: int = 0
    #: Fields whose crop runs used the crop their cooperative's records calibrated.
    crop_calibrated: int = 0
    points: int = 0
    animals: int = 0
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: Calibrations not applied (fitted on another model version), with the fix.
    notes: list[str] = field(default_factory=list)
    #: With harvest records: per cooperative, the coverage check and its alert's state.
    coverage: list[str] = field(default_factory=list)
    #: With a weather feed: fields forecast with their farm's weather forecast; farms forecast
    #: without one because none of their fields has registered coordinates; farms whose
    #: forecast could not be had ("farm: why").
    weather_fields: int = 0
    no_coordinates: list[str] = field(default_factory=list)
    feed_failures: list[str] = field(default_factory=list)


class FarmFeed(Protocol):
    """A weather-forecast source (``models.weatherfeed.OpenMeteoFeed``)."""

    def forecast(self, farm_id: str, latitude: float, longitude: float) -> WeatherForecast: ...


@dataclass(frozen=True, slots=True)
class History:
    """A field's previous harvest (yield t/ha, starch %), from an imported CSV; with its
    planting and harvest dates the job also reads that season's daily data, from which the crop
    model calibrates the field's yield gap (``models.cropfeatures``)."""

    yield_t_ha: float
    starch_pct: float
    planted: date | None = None
    harvested: date | None = None

    @property
    def season_days(self) -> int | None:
        """Days from planting to harvest, when both are known and in that order."""
        if self.planted is None or self.harvested is None or self.harvested <= self.planted:
            return None
        return (self.harvested - self.planted).days


def cassava_lines(
    pipeline: Pipeline,
    model_version: str,
    fields: Sequence[FieldInfo],
    daily: dict[str, np.ndarray],
    issued: date,
    price: PriceRule,
    calendar: HarvestCalendar,
    history: dict[str, History] | None = None,
    report: ForecastReport | None = None,
    previous: dict[str, np.ndarray] | None = None,
    recalibrations: Mapping[str, Recalibration] | None = None,
    weather_forecasts: Mapping[str, WeatherForecast] | None = None,
) -> list[str]:
    """Forecast points for every field and candidate harvest date. ``previous``: field id ->
    daily values of its previous season (planting to harvest, as ``history`` dates it);
    ``recalibrations``: cooperative id -> its recalibration for this model (fields of other
    cooperatives are served uncorrected); ``weather_forecasts``: farm id -> its weather
    forecast, carried by its fields' cases."""
    report = report or ForecastReport()
    history = history or {}
    previous = previous or {}
    weather_forecasts = weather_forecasts or {}
    features, model = pipeline.named_steps["features"], pipeline[-1]
    cases, meta = [], []
    for info in fields:
        season = FieldSeason(
            info.field_id,
            info.farm_id,
            normalise_variety(info.variety),
            normalise_soil(info.soil),
            info.planted,
            info.area_rai / RAI_PER_HA,
            daily[info.field_id],
        )
        age = max(0, (issued - info.planted).days)
        before = history.get(info.field_id, History(math.nan, math.nan))
        last = _previous_season(season, before, previous.get(info.field_id))
        dates = calendar.candidates(info.planted, issued)
        weather = weather_forecasts.get(info.farm_id)
        cases += [
            Case(
                season,
                age,
                (d - info.planted).days,
                before.yield_t_ha,
                before.starch_pct,
                last,
                before.season_days if last is not None else None,
                weather,
            )
            for d in dates
        ]
        meta.append((info, season, dates))
    # One transform for every field: one crop-model batch, one summary pass.
    kept, matrix, refused = features.transform_accepted(cases)
    for field_id, reasons in refused.items():
        report.skipped.append(f"{field_id}: {'; '.join(reasons)}")
        log.warning("field %s not forecast: %s", field_id, "; ".join(reasons))
    meta = [m for m in meta if m[0].field_id not in refused]
    if not kept:
        return []
    predicted = model.predict(matrix)
    if recalibrations:
        predicted = _recalibrated(
            predicted, [cases[i] for i in kept], fields, recalibrations, report
        )
    # management_est is now always set (data assimilation): count the cases given a season.
    calibrated = np.array([cases[i].prev_season is not None for i in kept], dtype=bool)
    report.calibrated += len({cases[kept[i]].season.field_id for i in np.flatnonzero(calibrated)})
    report.weather_fields += sum(1 for info, _, _ in meta if info.farm_id in weather_forecasts)
    lines = _cassava_points(meta, predicted, issued, model_version, price)
    report.fields += len(meta)
    report.points += len(lines)
    return lines


def _recalibrated(
    predicted: np.ndarray,
    cases: Sequence[Case],
    fields: Sequence[FieldInfo],
    recalibrations: Mapping[str, Recalibration],
    report: ForecastReport,
) -> np.ndarray:
    """``predicted`` (rows: ``cases``) with each cooperative's recalibration applied to its
    fields' rows, at each row's lead (harvest day minus issue day)."""
    cooperative = {f.field_id: f.cooperative_id for f in fields}
    owner = np.array([cooperative.get(c.season.field_id, "") for c in cases])
    leads = np.array([c.harvest_age_days - c.age_days for c in cases], dtype=float)
    out = np.array(predicted, dtype=float, copy=True)
    for cooperative_id, recalibration in recalibrations.items():
        rows = owner == cooperative_id
        if rows.any():
            out[rows] = recalibration.apply(out[rows], leads[rows])
            report.recalibrated += len(
                {cases[int(i)].season.field_id for i in np.flatnonzero(rows)}
            )
    return out


def _previous_season(
    season: FieldSeason, before: History, values: np.ndarray | None
) -> FieldSeason | None:
    """The field's previous season as the crop model's calibration needs it: its daily values
    from planting to harvest; None without both dates or without data."""
    if values is None or before.planted is None or before.season_days is None:
        return None
    return FieldSeason(
        season.field_id,
        season.farm_id,
        season.variety,
        season.soil,
        before.planted,
        season.area_ha,
        values,
    )


def _cassava_points(
    meta: Sequence[tuple[FieldInfo, FieldSeason, list[date]]],
    predicted: np.ndarray,
    issued: date,
    model_version: str,
    price: PriceRule,
) -> list[str]:
    """Line protocol for every (field, candidate date), in ``meta`` order. The numbers are
    computed for all rows at once and each line is one format string: at 18 points per field,
    a dictionary and a price call per point were most of the job's time."""
    if not np.isfinite(predicted).all():
        raise ValueError("the model predicted a non-finite number: retrain or pin another model")
    issued_at_ms = time.time_ns() // 1_000_000
    counts = [len(dates) for _, _, dates in meta]
    area = np.repeat([season.area_ha for _, season, _ in meta], counts)
    values = np.round(predicted, 3)
    tonnes = np.round(values[:, 0] * area, 3)
    revenue = np.round(price.revenue_thb(tonnes, values[:, 3]), 0)
    series = [
        (
            {
                "farm": info.farm_id,
                "field": info.field_id,
                "variety": season.variety,
                "model_version": model_version,
                "issued": issued.isoformat(),
            },
            season.area_ha,
            dates,
        )
        for info, season, dates in meta
    ]
    return store.cassava_forecast_lines(series, issued, issued_at_ms, values, tonnes, revenue)


def cattle_lines(
    herds: Sequence[AnimalInfo],
    passes: dict[tuple[str, str], list[tuple[int, float]]],
    climate: dict[str, list[tuple[float, float]]],
    now_ms: int,
    default_target_kg: float,
    rule: cattle.CattleRule | None = None,
    report: ForecastReport | None = None,
) -> list[str]:
    """One point per animal seen on the scale (registered or not), at ``now_ms``."""
    report = report or ForecastReport()
    lines = []
    for herd in herds:
        risk = cattle.heat_stress_risk(climate.get(herd.herd_id, []))
        for (herd_id, animal), animal_passes in sorted(passes.items()):
            if herd_id != herd.herd_id:
                continue
            target = herd.animals.get(animal, default_target_kg)
            result = cattle.forecast_animal(
                animal, animal_passes, target, now_ms, rule or cattle.CattleRule()
            )
            if result is None:
                report.skipped.append(f"{herd_id}/{animal}: too few days on the scale")
                continue
            fields: dict[str, float | int] = {
                "weight_kg": result.weight_kg,
                "target_weight_kg": float(target),
                "daily_gain_kg": result.daily_gain_kg,
                "days_to_target": result.days_to_target,
                "days_to_target_p10": result.days_to_target_p10,
                "days_to_target_p90": result.days_to_target_p90,
                "market_date_ms": result.market_date_ms,
                "heat_stress_risk": 0.0 if math.isnan(risk) else round(risk, 3),
            }
            tags = {
                "farm": herd.farm_id,
                "herd": herd_id,
                "animal": animal,
                "model_version": cattle.MODEL_VERSION,
            }
            lines.append(store.line(storage.CATTLE_FORECAST, tags, fields, now_ms))
            report.animals += 1
    return lines


def plausible_plantings(
    fields: Sequence[FieldInfo], issued: date
) -> tuple[list[FieldInfo], list[str]]:
    """The fields whose planting date can be a real season's, and a reason for each other one,
    so that one typo skips its own field, not the job."""
    kept, reasons = [], []
    for info in fields:
        problem = _planting_problem(info.planted, issued)
        if problem is None:
            kept.append(info)
        else:
            reasons.append(
                f"{info.field_id}: planting date {info.planted} is {problem}: correct the "
                "field's planting_date in the registry"
            )
    return kept, reasons


def _planting_problem(planted: date, issued: date) -> str | None:
    """Why ``planted`` cannot be a season's (``EARLIEST_PLANTING``, ``MAX_PLANTING_AHEAD``)."""
    if planted < EARLIEST_PLANTING:
        return f"before {EARLIEST_PLANTING}"
    if planted > issued + MAX_PLANTING_AHEAD:
        return f"more than a year after today ({issued})"
    return None


def load_harvests(path: Path | None, today: date | None = None) -> dict[str, list[History]]:
    """Every harvest per field from a harvest CSV, oldest first (docs/forecasts.md: ``field``,
    ``harvested``, ``fresh_yield_t_ha``, ``starch_pct``, optionally ``planted``).

    Every row is checked before any is used, as the registry importer does: one bad row
    refuses the file, with each problem as ``<file> line <n>, column <name>: <rule>``, so the
    clerk fixes the spreadsheet in one pass and no wrong actual is stored."""
    if path is None:
        return {}
    today = today or date.today()
    out: dict[str, list[History]] = {}
    problems: list[str] = []
    with open(path, newline="", encoding="utf-8-sig") as handle:  # Excel writes a BOM
        reader = csv.DictReader(handle)
        reader.fieldnames = [name.strip() for name in reader.fieldnames or ()]
        _refuse_if_any(path, _header_problems(path, reader.fieldnames))
        for row in reader:
            field_id, entry, wrong = _harvest_record(row, today)
            problems += [f"{path.name} line {reader.line_num}, {problem}" for problem in wrong]
            if entry is not None:
                out.setdefault(field_id, []).append(entry)
    _refuse_if_any(path, problems)
    for entries in out.values():
        entries.sort(key=lambda e: e.harvested or date.min)
    return out


def _refuse_if_any(path: Path, problems: list[str]) -> None:
    if problems:
        raise FeatureError(
            f"{path.name}: nothing imported; fix these and run again (docs/forecasts.md):\n"
            + "\n".join(problems)
        )


def _header_problems(path: Path, names: Sequence[str]) -> list[str]:
    missing = [column for column in HARVEST_COLUMNS if column not in names]
    if not missing:
        return []
    return [
        f"{path.name} line 1: the header lacks {', '.join(missing)}; it must name "
        f"{', '.join(HARVEST_COLUMNS)} (planted and variety optional)"
    ]


def _harvest_record(
    row: dict[str | None, Any], today: date
) -> tuple[str, History | None, list[str]]:
    """One CSV row as (field id, harvest), or the problems that refuse it."""
    text = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)}
    problems: list[str] = []
    if row.get(None):  # csv.DictReader's place for the values beyond the header's columns
        problems.append(f"{len(row[None])} value(s) more than the header has columns")
    field_id = text.get("field", "")
    if not ID_PATTERN.fullmatch(field_id):
        problems.append(
            f"column field: {field_id!r} is not a registry field id (lowercase letters, digits, "
            "'-' and '_')"
        )
    yield_t_ha = _number(text, "fresh_yield_t_ha", YIELD_T_HA_RANGE, "t/ha", problems)
    starch_pct = _number(text, "starch_pct", STARCH_PCT_RANGE, "% of fresh weight", problems)
    harvested = _day(text, "harvested", today, problems, required=True)
    planted = _day(text, "planted", today, problems, required=False)
    if planted is not None and harvested is not None and planted >= harvested:
        problems.append(f"column planted: {planted} is not before harvested ({harvested})")
    if problems:
        return field_id, None, problems
    return field_id, History(yield_t_ha, starch_pct, planted, harvested), []


def _number(
    row: dict[str, str],
    column: str,
    bounds: tuple[float, float],
    unit: str,
    problems: list[str],
) -> float:
    """The column's number, or NaN and a problem when it is missing, not finite or outside
    ``bounds`` (inclusive)."""
    text = row.get(column, "")
    if not text:
        problems.append(f"column {column}: empty; a number is required")
        return math.nan
    try:
        value = float(text)
    except ValueError:
        problems.append(f"column {column}: {text!r} is not a number")
        return math.nan
    low, high = bounds
    if not math.isfinite(value):
        problems.append(f"column {column}: {text!r} is not a finite number")
    elif not low <= value <= high:
        problems.append(f"column {column}: {value:g} {unit} is outside {low:g}..{high:g}")
    return value


def _day(
    row: dict[str, str], column: str, today: date, problems: list[str], required: bool
) -> date | None:
    """The column's date (YYYY-MM-DD, from ``EARLIEST_PLANTING`` to ``today``), or None and a
    problem; an optional column may be empty."""
    text = row.get(column, "")
    if not text:
        if required:
            problems.append(f"column {column}: empty; a date YYYY-MM-DD is required")
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        problems.append(f"column {column}: {text!r} is not a date YYYY-MM-DD")
        return None
    if not EARLIEST_PLANTING <= day <= today:
        problems.append(f"column {column}: {day} is outside {EARLIEST_PLANTING}..{today}")
        return None
    return day


def newest(harvests: dict[str, list[History]]) -> dict[str, History]:
    """Each field's newest harvest: its "previous season" for the forecast."""
    return {key: entries[-1] for key, entries in harvests.items() if entries}


def harvest_lines(harvests: dict[str, list[History]], fields: Sequence[FieldInfo]) -> list[str]:
    """The registered fields' harvests as ``cassava_harvest`` points (isanfarm.storage), at
    their harvest date: what the dashboards draw as the actual beside the forecasts. Writing
    them again on every run overwrites the same points."""
    lines = []
    for info in fields:
        for entry in harvests.get(info.field_id, []):
            if entry.harvested is None:
                continue
            values: dict[str, float | int] = {
                "yield_t_ha": entry.yield_t_ha,
                "starch_pct": entry.starch_pct,
            }
            if entry.season_days is not None:
                values["season_days"] = entry.season_days
            tags = {"farm": info.farm_id, "field": info.field_id}
            midnight = store.local_midnight_ms(entry.harvested)
            lines.append(store.line(storage.CASSAVA_HARVEST, tags, values, midnight))
    return lines


def run(
    influx: InfluxV1,
    sessions: Any,
    pipeline: Pipeline,
    model_version: str,
    price: PriceRule,
    calendar: HarvestCalendar,
    default_target_kg: float = 750.0,
    harvests: dict[str, list[History]] | None = None,
    today: date | None = None,
    recalibrations: Mapping[str, Recalibration] | None = None,
    feed: FarmFeed | None = None,
    crops: Mapping[str, CropParameters] | None = None,
) -> ForecastReport:
    """Read the registry and InfluxDB, forecast, write. ``sessions``: a SQLAlchemy sessionmaker
    of the registry; ``harvests``: the cooperative's harvest records (``load_harvests``),
    written as the actuals and used as each field's previous season; ``recalibrations``:
    cooperative id -> its stored recalibration for this model (``isanfarm calibrate``);
    ``feed``: where each farm's weather forecast is fetched (``farm_forecasts``); ``crops``:
    cooperative id -> the crop its records calibrated (its fields' crop runs use it)."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    issued = today or store.local_day(int(now.timestamp() * 1000))
    fields, herds = registered(sessions)
    report = ForecastReport()
    harvests = harvests or {}
    history = newest(harvests)
    lines: list[str] = harvest_lines(harvests, fields)
    report.harvests = len(lines)
    fields, implausible = plausible_plantings(fields, issued)
    for reason in implausible:
        report.skipped.append(reason)
        log.warning("not forecast: field %s", reason)
    if fields:
        first = min(f.planted for f in fields)
        owners = {f.field_id: f.farm_id for f in fields}
        daily = store.daily_values(influx, owners, first, issued)
        trimmed = {f.field_id: daily[f.field_id][(f.planted - first).days :] for f in fields}
        previous = _previous_daily(influx, history, owners)
        weather = farm_forecasts(feed, fields, issued, report) if feed is not None else {}
        for served, members in _by_crop(pipeline, fields, crops or {}):
            forecast_before = report.fields
            lines += cassava_lines(
                served,
                model_version,
                members,
                trimmed,
                issued,
                price,
                calendar,
                history,
                report,
                previous,
                recalibrations,
                weather,
            )
            if served is not pipeline:
                report.crop_calibrated += report.fields - forecast_before
    if herds:
        herd_owners = {h.herd_id: h.farm_id for h in herds}
        since = now - timedelta(days=CATTLE_LOOKBACK_DAYS)
        passes = store.scale_passes(influx, herd_owners, since)
        climate = store.barn_climate(influx, herd_owners, now - timedelta(days=HEAT_LOOKBACK_DAYS))
        now_ms = int(now.timestamp() * 1000)
        lines += cattle_lines(herds, passes, climate, now_ms, default_target_kg, report=report)
    write_whole(influx, lines)
    report.seconds = time.perf_counter() - started
    return report


def _by_crop(
    pipeline: Pipeline, fields: Sequence[FieldInfo], crops: Mapping[str, CropParameters]
) -> list[tuple[Pipeline, list[FieldInfo]]]:
    """The fields in batches that share a crop: those of cooperatives without a calibrated
    crop with ``pipeline`` as it is, each calibrated cooperative's with a copy whose crop runs
    use its crop (one crop-model batch per crop)."""
    standard = [f for f in fields if f.cooperative_id not in crops]
    batches = [(pipeline, standard)] if standard else []
    for cooperative_id, crop in sorted(crops.items()):
        mine = [f for f in fields if f.cooperative_id == cooperative_id]
        if mine:
            served = copy.deepcopy(pipeline)
            served.set_params(features__crop_parameters=crop)
            batches.append((served, mine))
    return batches


def farm_locations(fields: Sequence[FieldInfo]) -> dict[str, tuple[float, float] | None]:
    """Farm id -> the mean (latitude, longitude) of its fields that have both registered; None
    for a farm none of whose fields has (a farm's fields lie a few km apart at most, well
    inside one cell of a weather model)."""
    points: dict[str, list[tuple[float, float]]] = {}
    for info in fields:
        known = points.setdefault(info.farm_id, [])
        if info.latitude is not None and info.longitude is not None:
            known.append((info.latitude, info.longitude))
    return {
        farm: (float(np.mean([p[0] for p in known])), float(np.mean([p[1] for p in known])))
        if known
        else None
        for farm, known in points.items()
    }


def farm_forecasts(
    feed: FarmFeed, fields: Sequence[FieldInfo], issued: date, report: ForecastReport
) -> dict[str, WeatherForecast]:
    """Each farm's weather forecast, asked once at ``farm_locations``. A farm without
    coordinates is counted in ``report.no_coordinates``; a forecast that fails, or that was
    issued after ``issued`` (its first day would be a day the forecast job has not reached),
    is logged and counted in ``report.feed_failures``: that farm is forecast without one."""
    out: dict[str, WeatherForecast] = {}
    failed_in_a_row = 0
    for farm_id, where in sorted(farm_locations(fields).items()):
        if where is None:
            report.no_coordinates.append(farm_id)
            continue
        if failed_in_a_row >= FEED_GIVE_UP_AFTER:
            _feed_failed(report, farm_id, f"not asked: it failed for {failed_in_a_row} farms")
            continue
        try:
            forecast = feed.forecast(farm_id, *where)
        except WeatherFeedError as exc:
            failed_in_a_row = failed_in_a_row + 1 if exc.retriable else 0
            _feed_failed(report, farm_id, str(exc))
            continue
        except Exception as exc:  # an optional input must never cost the run its forecasts
            log.exception("weather feed for farm %s failed unexpectedly", farm_id)
            _feed_failed(report, farm_id, repr(exc))
            continue
        failed_in_a_row = 0
        if forecast.issued > issued:
            _feed_failed(
                report,
                farm_id,
                f"its forecast starts {forecast.issued}, after this run's issue day {issued}: "
                "check the feed's timezone and the run's date",
            )
            continue
        out[farm_id] = forecast
    return out


def _feed_failed(report: ForecastReport, farm_id: str, reason: str) -> None:
    report.feed_failures.append(f"{farm_id}: {reason}")
    log.warning("farm %s forecast without a weather forecast: %s", farm_id, reason)


def write_whole(influx: InfluxV1, lines: Sequence[str]) -> None:
    """Write in batches of whole series (``WRITE_BATCH_LINES``); on a failure, raise
    ``ForecastWriteError`` saying how many fields' forecasts were stored before it."""
    batches = list(whole_series_batches(lines, WRITE_BATCH_LINES))
    for number, batch in enumerate(batches):
        try:
            influx.write(batch, precision="ms")
        except InfluxError as exc:
            written, total = _forecast_fields(batches[:number]), _forecast_fields(batches)
            raise ForecastWriteError(
                f"writing the forecasts failed after {written} of {total} fields were written "
                f"({exc}); the other fields still show their previous forecast: run the "
                "forecast again (it overwrites the same points)",
                retriable=exc.retriable,
            ) from exc


def whole_series_batches(lines: Sequence[str], size: int) -> Iterator[list[str]]:
    """Consecutive lines in batches of at most ``size``, never splitting a run of lines of one
    series between two batches (a run longer than ``size`` is a batch of its own)."""
    batch: list[str] = []
    for _, run in itertools.groupby(lines, key=_series_key):
        points = list(run)
        if batch and len(batch) + len(points) > size:
            yield batch
            batch = []
        batch += points
    if batch:
        yield batch


def _series_key(line: str) -> str:
    match = _SERIES_KEY.match(line)
    return match.group(0) if match else line


def _forecast_fields(batches: Sequence[Sequence[str]]) -> int:
    """How many fields' forecasts (``cassava_forecast`` series) the batches hold."""
    prefix = f"{storage.CASSAVA_FORECAST},"
    return len(
        {_series_key(line) for batch in batches for line in batch if line.startswith(prefix)}
    )


def _previous_daily(
    influx: InfluxV1, history: dict[str, History], fields: Mapping[str, str]
) -> dict[str, np.ndarray]:
    """Daily values of each registered field's previous season, planting to harvest, for the
    fields whose harvest record dates it (one query for all of them); ``fields``: field ->
    its farm."""
    spans = {
        key: (entry.planted, days)
        for key, entry in history.items()
        if key in fields and entry.planted is not None and (days := entry.season_days) is not None
    }
    if not spans:
        return {}
    start = min(planted for planted, _ in spans.values())
    end = max(planted + timedelta(days=days) for planted, days in spans.values())
    daily = store.daily_values(
        influx, {key: fields[key] for key in spans}, start, end + timedelta(days=1)
    )
    return {
        key: daily[key][(planted - start).days : (planted - start).days + days + 1]
        for key, (planted, days) in spans.items()
    }


def registered(sessions: Any) -> tuple[list[FieldInfo], list[AnimalInfo]]:
    """The registry's fields and herds (``sessions``: a SQLAlchemy sessionmaker)."""
    from sqlalchemy import select

    from registry import models as tables

    with sessions() as session:
        fields = [
            FieldInfo(
                f.id,
                f.farm_id,
                f.variety,
                f.soil,
                f.planting_date,
                f.area_rai,
                f.cooperative_id,
                f.latitude,
                f.longitude,
            )
            for f in session.scalars(select(tables.Field).order_by(tables.Field.id))
        ]
        targets: dict[str, dict[str, float]] = {}
        for animal in session.scalars(select(tables.Animal)):
            targets.setdefault(animal.herd_id, {})[animal.id] = animal.target_weight_kg
        herds = [
            AnimalInfo(h.id, h.farm_id, targets.get(h.id, {}))
            for h in session.scalars(select(tables.Herd).order_by(tables.Herd.id))
        ]
    return fields, herds


@dataclass(slots=True)
class RecordedSeasons:
    """One cooperative's dated harvest records as seasons (``models.calibration``): each with
    its daily data read back from InfluxDB, its harvest date, and the records left out."""

    records: list[HarvestedSeason] = field(default_factory=list)
    harvested: list[date] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def recorded_seasons(
    influx: InfluxV1, harvests: dict[str, list[History]], fields: Sequence[FieldInfo]
) -> dict[str, RecordedSeasons]:
    """Per cooperative, its registered fields' harvest records with a planting date, each
    season's daily values read from InfluxDB (planting to harvest, one query for all) as the
    forecast job reads a season. A field's records are numbered oldest first, so that
    ``models.training.previous`` finds the season before each."""
    from models.calibration import recorded_season

    by_id = {f.field_id: f for f in fields}
    out: dict[str, RecordedSeasons] = {}
    dated: dict[str, list[tuple[History, date, date]]] = {}
    for field_id, entries in harvests.items():
        info = by_id.get(field_id)
        if info is None:
            out.setdefault("", RecordedSeasons()).skipped.append(
                f"{field_id}: not a registered field: register it or correct the field id"
            )
            continue
        group = out.setdefault(info.cooperative_id, RecordedSeasons())
        for entry in entries:
            if entry.planted is None or entry.harvested is None or entry.season_days is None:
                group.skipped.append(
                    f"{field_id} harvested {entry.harvested}: no planted date, so no season to "
                    "forecast again: add the planted column"
                )
            else:
                dated.setdefault(field_id, []).append((entry, entry.planted, entry.harvested))
    if not dated:
        return out
    start = min(planted for entries in dated.values() for _, planted, _ in entries)
    end = max(harvested for entries in dated.values() for _, _, harvested in entries)
    daily = store.daily_values(
        influx, {key: by_id[key].farm_id for key in dated}, start, end + timedelta(days=1)
    )
    for field_id, spans in dated.items():
        info = by_id[field_id]
        group = out[info.cooperative_id]
        for index, (entry, planted, harvested) in enumerate(spans):
            first = (planted - start).days
            days = (harvested - planted).days
            season = FieldSeason(
                field_id,
                info.farm_id,
                normalise_variety(info.variety),
                normalise_soil(info.soil),
                planted,
                info.area_rai / RAI_PER_HA,
                daily[field_id][first : first + days + 1],
            )
            group.records.append(
                recorded_season(season, index, entry.yield_t_ha, entry.starch_pct, days)
            )
            group.harvested.append(harvested)
    return out
