"""``isanfarm train``, ``forecast``, ``calibrate`` and ``evaluate``: the jobs behind the
commands, so the CLI stays a thin argument parser and the demo can run them in-process."""

from __future__ import annotations

import json
import logging
import sys
import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from models.modelstore import CalibrationMismatchError, Loaded, ModelStore
from models.settings import ModelSettings

if TYPE_CHECKING:
    from agronomy.crop import CropParameters
    from models.calibration import Calibration
    from models.forecast import RecordedSeasons
    from models.recalibration import Recalibration
    from models.weatherfeed import OpenMeteoFeed


@dataclass(frozen=True, slots=True)
class TrainOptions:
    fields: int = 300
    seasons: int = 8
    seed: int = 1
    #: Boosting rounds per tree model; None: the model's default (models.cassava).
    max_iter: int | None = None


def train(
    registry: ModelStore, options: TrainOptions, progress: TextIO | None = sys.stderr
) -> tuple[str, dict[str, Any]]:
    """Simulate, fit, score on held-out seasons and fields, save; returns (version, metadata)."""
    from models.cassava import BOOSTING_ROUNDS
    from models.training import headline
    from models.training import train as fit
    from simulators.seasons import simulate

    seasons = simulate(options.fields, options.seasons, options.seed, progress=progress)
    if progress is not None:
        progress.write("fitting ...\n")
    result = fit(seasons, max_iter=options.max_iter or BOOSTING_ROUNDS, seed=options.seed)
    metrics = result.evaluation.metrics
    m = metrics["3m"]
    skill = min(m["yield_skill"], m["starch_skill"])
    coverage = (m["yield_coverage80"] + m["starch_coverage80"]) / 2
    metadata = {
        "training_data": {
            "source": "simulated seasons (simulators.seasons)",
            "fields": options.fields,
            "seasons": options.seasons,
            "seed": options.seed,
            "planting_years": list(result.seasons),
            "rows": result.n_train_rows,
        },
        "features": list(result.pipeline.named_steps["features"].get_feature_names_out()),
        "held_out_metrics": metrics,
        "headline": headline(metrics),
        "train_seconds": round(result.train_seconds, 2),
        # Served only if it beats the better baseline at 3 months and its intervals are sane.
        "good": bool(skill > 0 and 0.6 <= coverage <= 0.95),
    }
    version = registry.save(result.pipeline, metadata)
    return version, metadata


def _served(settings: ModelSettings, version: str | None) -> Loaded:
    loaded = ModelStore(settings.model_dir).load(version)
    # How sparse the data may be is serving policy, not part of the trained model.
    loaded.model.set_params(
        features__min_coverage=settings.min_coverage,
        features__min_recent_coverage=settings.min_recent_coverage,
    )
    return loaded


def forecast(
    settings: ModelSettings,
    version: str | None = None,
    harvests: Path | None = None,
    today: date | None = None,
) -> Any:
    """The forecast job, with each cooperative's stored recalibration for the served model
    applied to its fields; with ``harvests``, also the coverage check of the served intervals
    on the records (``coverage``), recorded as the cooperatives' ``forecast_coverage`` alerts."""
    from isanfarm.influx import InfluxV1
    from models import forecast as job
    from registry.db import make_engine, session_factory

    loaded = _served(settings, version)
    records = job.load_harvests(harvests)
    recalibrations, crops, notes = stored_calibrations(
        ModelStore(settings.model_dir), loaded.version
    )
    engine = make_engine(settings.database_url)
    influx = InfluxV1(settings.influx)
    feed = weather_feed(settings)
    try:
        sessions = session_factory(engine)
        report = job.run(
            influx,
            sessions,
            loaded.model,
            loaded.version,
            settings.price_rule(),
            settings.calendar(),
            settings.default_target_weight_kg,
            records,
            today,
            recalibrations,
            feed,
            crops,
        )
        report.notes = notes
        if records:
            report.coverage = _check_coverage(influx, sessions, loaded, records, recalibrations)
        return report
    finally:
        if feed is not None:
            feed.close()
        influx.close()
        engine.dispose()


def weather_feed(settings: ModelSettings) -> OpenMeteoFeed | None:
    """The forecast job's weather-forecast feed, when ``weather_feed_url`` is set."""
    if settings.weather_feed_url is None:
        return None
    from models.weatherfeed import OpenMeteoFeed

    return OpenMeteoFeed(settings.weather_feed_url, timeout_s=settings.weather_feed_timeout_s)


def stored_recalibrations(
    registry: ModelStore, version: str
) -> tuple[dict[str, Recalibration], list[str]]:
    """Cooperative id -> its stored recalibration fitted on model ``version``; and one note
    per cooperative whose calibration was fitted on another version (not applied)."""
    recalibrations, _, notes = stored_calibrations(registry, version)
    return recalibrations, notes


def stored_calibrations(
    registry: ModelStore, version: str
) -> tuple[dict[str, Recalibration], dict[str, CropParameters], list[str]]:
    """``stored_recalibrations``, and cooperative id -> the crop its records calibrated, where
    the fit moved it from the standard one."""
    from models.calibration import crop_from_json, recalibration_from_json

    out, crops, notes = {}, {}, []
    for cooperative in registry.calibrated_cooperatives():
        try:
            stored = registry.calibration(cooperative, version)
        except CalibrationMismatchError as exc:
            notes.append(str(exc))
            continue
        if stored is not None:
            out[cooperative] = recalibration_from_json(stored["recalibration"])
            crop = crop_from_json(stored.get("crop", {}))
            if crop is not None:
                crops[cooperative] = crop
    return out, crops, notes


def _check_coverage(
    influx: Any,
    sessions: Any,
    loaded: Loaded,
    harvests: Any,
    recalibrations: dict[str, Recalibration],
) -> list[str]:
    """The served intervals (recalibrated where a recalibration is stored) on each
    cooperative's most recent records, at the alert's lead only; the alert raised or closed."""
    from models import forecast as job
    from models.calibration import ALERT_LEAD, coverage_checks, hindcast, history_of
    from models.training import EVAL_LEADS

    fields, _ = job.registered(sessions)
    out = []
    for cooperative, seasons in job.recorded_seasons(influx, harvests, fields).items():
        if not cooperative or not seasons.records:
            continue
        casts = hindcast(
            loaded.model,
            seasons.records,
            history_of(seasons.records),
            {ALERT_LEAD: EVAL_LEADS[ALERT_LEAD]},
        )
        served = casts.predicted
        if cooperative in recalibrations:
            served = recalibrations[cooperative].apply(served, casts.lead_days)
        checks = coverage_checks(casts, served, seasons.harvested)
        out.append(_record_alert(sessions, cooperative, checks))
    return out


def _record_alert(sessions: Any, cooperative: str, checks: Any) -> str:
    from api.alerts import record_forecast_coverage

    with sessions() as session, session.begin():
        state = record_forecast_coverage(session, cooperative, checks)
    covered = ", ".join(f"{c.target} {c.covered} of {c.n}" for c in checks)
    return f"{cooperative}: coverage alert {state} ({covered} recent harvests covered)"


@dataclass(slots=True)
class CalibrateResult:
    """What ``isanfarm calibrate`` did: per cooperative its calibration, where it was stored
    and the coverage alert's state; records it could not use."""

    calibrations: list[Calibration] = field(default_factory=list)
    stored: list[Path] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def calibrate(
    settings: ModelSettings,
    harvests: Path,
    cooperative: str | None = None,
    version: str | None = None,
) -> CalibrateResult:
    """Read the harvest CSV, the registry and those seasons' data in InfluxDB; fit and store
    each cooperative's calibration for the served model (``models.calibration``), and record
    its coverage alert."""
    from isanfarm.influx import InfluxV1
    from models import forecast as job
    from registry.db import make_engine, session_factory

    loaded = _served(settings, version)
    registry = ModelStore(settings.model_dir)
    records = job.load_harvests(harvests)
    engine = make_engine(settings.database_url)
    influx = InfluxV1(settings.influx)
    result = CalibrateResult()
    try:
        sessions = session_factory(engine)
        fields, _ = job.registered(sessions)
        groups = job.recorded_seasons(influx, records, fields)
        for name, seasons in sorted(groups.items()):
            result.skipped += seasons.skipped
            if not name or (cooperative is not None and name != cooperative):
                continue
            _calibrate_one(loaded, registry, sessions, name, seasons, result)
    finally:
        influx.close()
        engine.dispose()
    if cooperative is not None and not any(
        c.cooperative == cooperative for c in result.calibrations
    ):
        raise ValueError(
            f"--cooperative {cooperative}: none of its registered fields has a dated record in "
            f"{harvests.name}: check the field ids and the planted column"
        )
    return result


def _calibrate_one(
    loaded: Loaded,
    registry: ModelStore,
    sessions: Any,
    cooperative: str,
    seasons: RecordedSeasons,
    result: CalibrateResult,
) -> None:
    from models.calibration import calibrate as fit

    calibration = fit(loaded.model, loaded.version, cooperative, seasons.records, seasons.harvested)
    result.calibrations.append(calibration)
    result.stored.append(registry.save_calibration(cooperative, calibration.to_json()))
    result.alerts.append(_record_alert(sessions, cooperative, calibration.checks))


def evaluate(
    registry: ModelStore,
    out_dir: Path,
    version: str | None,
    fields: int,
    seasons: int,
    seed: int,
    progress: TextIO | None = sys.stderr,
) -> Path:
    """Score a saved model on freshly simulated seasons (another seed than training's, so
    other fields and weather), and write the report."""
    from models import report
    from models.training import evaluate as score
    from models.training import split
    from simulators.seasons import simulate

    loaded = registry.load(version)
    trained_seed = loaded.metadata.get("training_data", {}).get("seed")
    if trained_seed == seed:
        raise ValueError(f"--seed {seed} is the training seed: pick another to score unseen data")
    parts = split(simulate(fields, seasons, seed, progress=progress), seed)
    evaluation = score(loaded.model, parts)
    meta = {
        "version": loaded.version,
        "training": json.dumps(loaded.metadata.get("training_data", {})),
        "held_out": f"{fields} new fields (seed {seed}) over {seasons} seasons; scored on the "
        "held-out fields of the newest seasons",
    }
    return report.write(out_dir, evaluation.rows, evaluation.metrics, meta)


class ScheduledForecasts:
    """The demo's forecast job: in a thread, train a small model once if the registry has
    none (cached in ``settings.model_dir``, a few seconds), then forecast every ``every_s``."""

    def __init__(self, settings: ModelSettings, every_s: float = 60.0) -> None:
        self.settings = settings
        self.every_s = every_s
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="forecasts", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        log = logging.getLogger(__name__)
        registry = ModelStore(self.settings.model_dir)
        try:
            if registry.pinned() is None and not any(m.get("good") for m in registry.versions()):
                version, _ = train(registry, TrainOptions(40, 4, 1, 60), progress=None)
                registry.pin(version)  # small and maybe not "good": the demo serves it anyway
                print(f"forecasts: trained demo model {version}", flush=True)
        except Exception:
            log.exception("forecasts: training the demo model failed")
            return
        while not self._stop.is_set():
            try:
                report = forecast(self.settings)
                self.runs += 1
                print(
                    f"forecasts: {report.fields} fields, {report.animals} animals, "
                    f"{len(report.skipped)} skipped",
                    flush=True,
                )
            except Exception:
                log.exception("forecasts: the forecast run failed; retrying next period")
            self._stop.wait(self.every_s)
