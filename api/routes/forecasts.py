"""Forecasts: per field, the cooperative's weekly deliveries, harvest windows, herds, CSV."""

from __future__ import annotations

import csv
import io
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import Response
from sqlalchemy import select

from agronomy.units import RAI_PER_HA, thai_date
from api.cache import TimedCache
from api.deps import ForecastCacheDep, InfluxDep, PrincipalDep, SessionDep
from api.schemas import (
    AnimalForecast,
    CassavaForecast,
    CooperativeSummary,
    FieldForecast,
    HarvestWindow,
    WeekSummary,
)
from api.scope import NOT_FOUND, get_visible
from api.timeseries import (
    cattle_forecasts,
    local_today,
    ms_to_datetime,
    newest_cassava_forecasts,
)
from isanfarm import storage
from isanfarm.contract import ID_PATTERN
from registry import models
from registry.keys import Principal

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["forecasts"])
PathId = Annotated[str, Path(pattern=f"^{ID_PATTERN.pattern}$", examples=["korat-001-f1"])]
#: Candidates within this share of the best revenue make up the harvest window.
WINDOW_SHARE = 0.95


@dataclass(frozen=True, slots=True)
class _Run:
    """A field's newest forecast run, and which of its candidates the forecast job marked as
    the recommended harvest (``storage.BEST_HARVEST``): the API reads that choice, it does not
    make it again. None for a run written before the job wrote the mark."""

    forecast: FieldForecast
    best: int | None


@router.get("/fields/{field_id}/forecast", response_model=FieldForecast, responses=NOT_FOUND)
def field_forecast(
    field_id: PathId,
    principal: PrincipalDep,
    session: SessionDep,
    influx: InfluxDep,
    cache: ForecastCacheDep,
) -> FieldForecast:
    """Yield and starch at each candidate harvest date, with 80% intervals (p10..p90)."""
    field = get_visible(session, models.Field, field_id, principal)
    run = _forecasts(influx, cache, [field.id]).get(field.id)
    if run is None:
        raise HTTPException(404, f"no forecast issued for field {field_id!r} yet")
    return run.forecast


@router.get(
    "/cooperatives/{cooperative_id}/summary",
    response_model=CooperativeSummary,
    responses=NOT_FOUND,
)
def cooperative_summary(
    cooperative_id: PathId,
    principal: PrincipalDep,
    session: SessionDep,
    influx: InfluxDep,
    cache: ForecastCacheDep,
) -> CooperativeSummary:
    """Expected deliveries per week if every field is harvested on its recommended date."""
    plan = _plan(session, influx, cache, cooperative_id, principal)
    weeks: dict[date, list[HarvestWindow]] = defaultdict(list)
    for window in plan:
        day = window.recommended_date
        weeks[day - timedelta(days=day.weekday())].append(window)
    return CooperativeSummary(
        cooperative_id=cooperative_id,
        weeks=[_week(start, windows) for start, windows in sorted(weeks.items())],
    )


@router.get(
    "/cooperatives/{cooperative_id}/harvest-plan",
    response_model=list[HarvestWindow],
    responses=NOT_FOUND,
)
def harvest_plan(
    cooperative_id: PathId,
    principal: PrincipalDep,
    session: SessionDep,
    influx: InfluxDep,
    cache: ForecastCacheDep,
) -> list[HarvestWindow]:
    """Per field: the best harvest date by expected revenue, and the window around it."""
    return _plan(session, influx, cache, cooperative_id, principal)


@router.get("/herds/{herd_id}/forecast", response_model=list[AnimalForecast], responses=NOT_FOUND)
def herd_forecast(
    herd_id: PathId, principal: PrincipalDep, session: SessionDep, influx: InfluxDep
) -> list[AnimalForecast]:
    """Days to target weight per animal, from the newest forecast of each."""
    herd = get_visible(session, models.Herd, herd_id, principal)
    return [
        AnimalForecast(
            animal_id=tags["animal"],
            weight_kg=row["weight_kg"],
            target_weight_kg=row["target_weight_kg"],
            daily_gain_kg=row["daily_gain_kg"],
            days_to_target=row["days_to_target"],
            days_to_target_p10=row["days_to_target_p10"],
            days_to_target_p90=row["days_to_target_p90"],
            market_date=thai_date(int(row["market_date_ms"])),
            heat_stress_risk=row["heat_stress_risk"],
            model_version=tags["model_version"],
            issued_at=ms_to_datetime(row["time"]),
        )
        for tags, row in cattle_forecasts(influx, herd.id)
    ]


@router.get(
    "/forecasts.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "one row per field and date"}},
)
def forecasts_csv(
    principal: PrincipalDep, session: SessionDep, influx: InfluxDep, cache: ForecastCacheDep
) -> Response:
    """The newest forecast of every field the key can see, for a spreadsheet."""
    query = select(models.Field)
    if not principal.is_operator:
        query = query.where(models.Field.cooperative_id == principal.cooperative_id)
    fields = {f.id: f for f in session.scalars(query)}
    out = io.StringIO()
    writer = csv.writer(out)
    columns = list(CassavaForecast.model_fields)
    writer.writerow(["field_id", "farm_id", "model_version", "issued_at", *columns])
    for field_id, run in sorted(_forecasts(influx, cache, list(fields)).items()):
        forecast = run.forecast
        for candidate in forecast.candidates:
            values = candidate.model_dump()
            writer.writerow(
                [
                    field_id,
                    fields[field_id].farm_id,
                    forecast.model_version,
                    forecast.issued_at.isoformat(),
                    *(values[c] for c in columns),
                ]
            )
    return Response(out.getvalue(), media_type="text/csv")


def _forecasts(
    influx: InfluxDep, cache: TimedCache[Any, Any], field_ids: list[str]
) -> dict[str, _Run]:
    """The newest forecast run of each field, remembered for a while (``TimedCache``): the
    key holds the Thai day, since which runs count as newest depends on it."""
    key = (tuple(sorted(field_ids)), local_today())
    forecasts: dict[str, _Run] = cache.get(key, lambda: _read(influx, field_ids))
    return forecasts


def _read(influx: InfluxDep, field_ids: list[str]) -> dict[str, _Run]:
    out = {}
    for field_id, rows in newest_cassava_forecasts(influx, field_ids).items():
        if rows:
            forecast = FieldForecast(
                field_id=field_id,
                model_version=rows[-1][0]["model_version"],
                issued_at=ms_to_datetime(int(rows[-1][1]["issued_at_ms"])),
                candidates=[_candidate(row) for _, row in rows],
            )
            marked = [i for i, (_, row) in enumerate(rows) if row.get(storage.BEST_HARVEST)]
            out[field_id] = _Run(forecast, marked[0] if marked else None)
    return out


def _candidate(row: dict[str, Any]) -> CassavaForecast:
    return CassavaForecast(
        harvest_date=thai_date(row["time"]),
        horizon_days=int(row["horizon_days"]),
        yield_t_ha=row["yield_t_ha"],
        yield_t_ha_p10=row["yield_t_ha_p10"],
        yield_t_ha_p90=row["yield_t_ha_p90"],
        yield_t_rai=round(row["yield_t_ha"] / RAI_PER_HA, 3),
        starch_pct=row["starch_pct"],
        starch_pct_p10=row["starch_pct_p10"],
        starch_pct_p90=row["starch_pct_p90"],
        tonnes=row["tonnes"],
        revenue_thb=row["revenue_thb"],
    )


def _plan(
    session: SessionDep,
    influx: InfluxDep,
    cache: TimedCache[Any, Any],
    cooperative_id: str,
    principal: Principal,
) -> list[HarvestWindow]:
    get_visible(session, models.Cooperative, cooperative_id, principal)
    query = select(models.Field).where(models.Field.cooperative_id == cooperative_id)
    fields = {f.id: f for f in session.scalars(query)}
    plan = []
    for field_id, run in sorted(_forecasts(influx, cache, list(fields)).items()):
        forecast = run.forecast
        if run.best is None:
            log.warning(
                "field %s: its forecast run marks no best harvest (%s); run the forecast job "
                "again to have it in the harvest plan",
                field_id,
                storage.BEST_HARVEST,
            )
            continue
        best = forecast.candidates[run.best]
        good = [
            c.harvest_date
            for c in forecast.candidates
            if c.revenue_thb >= WINDOW_SHARE * best.revenue_thb
        ]
        plan.append(
            HarvestWindow(
                field_id=field_id,
                farm_id=fields[field_id].farm_id,
                recommended_date=best.harvest_date,
                window_start=min(good),
                window_end=max(good),
                tonnes=best.tonnes,
                starch_pct=best.starch_pct,
                revenue_thb=best.revenue_thb,
            )
        )
    return plan


def _week(start: date, windows: list[HarvestWindow]) -> WeekSummary:
    tonnes = sum(w.tonnes for w in windows)
    starch = sum(w.starch_pct * w.tonnes for w in windows) / tonnes if tonnes else 0.0
    return WeekSummary(
        week_start=start,
        tonnes=round(tonnes, 2),
        mean_starch_pct=round(starch, 2),
        revenue_thb=round(sum(w.revenue_thb for w in windows), 0),
        fields=len(windows),
    )
