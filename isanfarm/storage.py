"""What lives in InfluxDB, by name: the storage contract between ingest, models, API and Grafana.

The wire contract (isanfarm.contract) says what devices send; this module says where it ends up
and where forecasts go, so the writer and every reader use the same names. Standard library
only. Each measurement's tags and fields are described here, next to its name, and nowhere
else.
"""

from __future__ import annotations

#: Readings at device time (tags farm, device, site, animal; fields: one per sensor, seq,
#: received_ms). In the database's default retention policy ``raw``.
TELEMETRY = "telemetry"
#: Hourly and daily rollups of TELEMETRY, in retention policy ROLLUP_POLICY: fields
#: ``<sensor>_mean``, ``_min``, ``_max`` (``rollup_field``), ``rain_sum``, ``readings``.
TELEMETRY_HOURLY = "telemetry_1h"
TELEMETRY_DAILY = "telemetry_1d"
ROLLUP_POLICY = "rollups"
#: Readings whose device time is not trusted, at receive time (tag reason, field device_ts).
QUARANTINE = "telemetry_quarantine"
#: Device status and health heartbeats, at receive time (tags farm, device).
DEVICE_STATUS = "device_status"
#: Dead letters (tags rule, worker; fields field, detail, topic, payload, payload_bytes).
INGEST_REJECTS = "ingest_rejects"

#: Cassava forecasts: one point per field, candidate harvest date and issue, **at the candidate
#: harvest date** (local midnight), so a panel plots forecast yield against harvest date and,
#: later, against the actual harvest. Tags: farm, field, variety, model_version, issued (the
#: issue's date, YYYY-MM-DD: one forecast run a day keeps the history and the tag count small).
#: Fields: issued_at_ms, horizon_days, yield_t_ha, yield_t_ha_p10, yield_t_ha_p90, starch_pct,
#: starch_pct_p10, starch_pct_p90, area_ha, tonnes, revenue_thb, BEST_HARVEST.
CASSAVA_FORECAST = "cassava_forecast"
#: Field of CASSAVA_FORECAST: true on the one candidate of a field's run that the forecast job
#: recommends (``models.store.best_candidate``: the highest expected revenue), false on the
#: others. The API's harvest plan and the dashboards read this mark instead of choosing again,
#: so "best" has one definition. A field, not a tag: a rerun that moves the best date must
#: overwrite the previous mark on the same points.
BEST_HARVEST = "best_harvest"
#: Actual cassava harvests, from a cooperative's harvest records (``isanfarm forecast
#: --harvests``): one point per field and harvest, at the harvest date (local midnight), so a
#: panel draws them on the forecasts' axis. Tags: farm, field. Fields: yield_t_ha, starch_pct,
#: season_days (when the record has the planting date).
CASSAVA_HARVEST = "cassava_harvest"
#: Cattle forecasts: one point per animal and issue, at the issue time. Tags: farm, herd,
#: animal, model_version. Fields: weight_kg, target_weight_kg, daily_gain_kg, days_to_target,
#: days_to_target_p10, days_to_target_p90, market_date_ms, heat_stress_risk (0..1).
CATTLE_FORECAST = "cattle_forecast"


def rollup_field(sensor: str, aggregate: str) -> str:
    """The rollups' field for one sensor and one InfluxQL aggregate (``mean``, ``min``, ``max``,
    ``sum``): ``rollup_field("rain", "sum")`` is ``rain_sum``. The rollup statement writes
    these names and every reader of the rollups asks for them."""
    return f"{sensor}_{aggregate}"
