"""``isanfarm train``, ``forecast`` and ``evaluate``: the jobs behind the commands, so the CLI
stays a thin argument parser and the demo can run them in-process."""

from __future__ import annotations

import json
import logging
import sys
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from models.modelstore import ModelStore
from models.settings import ModelSettings


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


def forecast(
    settings: ModelSettings,
    version: str | None = None,
    harvests: Path | None = None,
    today: date | None = None,
) -> Any:
    from isanfarm.influx import InfluxV1
    from models import forecast as job
    from registry.db import make_engine, session_factory

    loaded = ModelStore(settings.model_dir).load(version)
    # How sparse the data may be is serving policy, not part of the trained model.
    loaded.model.set_params(
        features__min_coverage=settings.min_coverage,
        features__min_recent_coverage=settings.min_recent_coverage,
    )
    engine = make_engine(settings.database_url)
    influx = InfluxV1(settings.influx)
    try:
        return job.run(
            influx,
            session_factory(engine),
            loaded.model,
            loaded.version,
            settings.price_rule(),
            settings.calendar(),
            settings.default_target_weight_kg,
            job.load_harvests(harvests),
            today,
        )
    finally:
        influx.close()
        engine.dispose()


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
