"""``isanfarm train``, ``forecast``, ``calibrate`` and ``evaluate`` (docs/forecasts.md,
docs/calibration.md).

They live in tooling, not in ``models/``: training and evaluation run on simulated seasons, and the
forecast job reads the registry and writes InfluxDB (``tooling.jobs`` wires them). Only argparse at
import time: numpy and scikit-learn load once a command is chosen.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from isanfarm.processes import stop_on_signals

#: ``_forecast_once`` exit codes: the run failed on a database (worth repeating soon), or was
#: refused for its input (a person must fix it first).
FORECAST_FAILED, FORECAST_REFUSED = 1, 2


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    train = commands.add_parser(
        "train", help="train the cassava model on simulated seasons, into ISANFARM_MODEL_DIR"
    )
    train.add_argument("--fields", type=int, default=300, help="simulated fields")
    train.add_argument("--seasons", type=int, default=8, help="seasons per field (>= 3)")
    train.add_argument("--seed", type=int, default=1)
    train.add_argument(
        "--max-iter", type=int, help="boosting rounds per tree model (default: the model's)"
    )
    train.add_argument("--list", action="store_true", help="list saved models and exit")
    train.add_argument("--pin", metavar="VERSION", help="serve this version from now on, and exit")
    train.add_argument("--unpin", action="store_true", help="serve the newest good model again")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_train)
    _register_forecast(commands)
    _register_calibrate(commands)
    evaluate = commands.add_parser(
        "evaluate", help="score a saved model on unseen simulated seasons: Markdown + PNG report"
    )
    evaluate.add_argument("--model", metavar="VERSION", help="default: the served model")
    evaluate.add_argument("--out", type=Path, default=Path("state/evaluation"))
    evaluate.add_argument("--fields", type=int, default=200)
    evaluate.add_argument("--seasons", type=int, default=4)
    evaluate.add_argument("--seed", type=int, default=2, help="not the training seed")
    evaluate.set_defaults(func=_evaluate)


def _register_forecast(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    forecast = commands.add_parser(
        "forecast",
        help="forecast every registered field and herd; write points to InfluxDB (ISANFARM_*)",
    )
    forecast.add_argument("--model", metavar="VERSION", help="this model, not the served one")
    forecast.add_argument("--harvests", type=Path, help="CSV of past harvests (docs/forecasts.md)")
    forecast.add_argument(
        "--every",
        type=float,
        metavar="SECONDS",
        help="keep running: forecast again every SECONDS (a service; a failed run is reported "
        "and tried again after --retry-after)",
    )
    forecast.add_argument(
        "--retry-after",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="with --every: repeat a run that failed on a database after SECONDS, not a whole "
        "period (default 300); a run refused for its input (no model, a bad CSV) waits the period",
    )
    forecast.set_defaults(func=_forecast)


def _register_calibrate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    calibrate = commands.add_parser(
        "calibrate",
        help="fit each cooperative's recalibration and crop parameters on its recorded harvests "
        "(docs/calibration.md)",
    )
    calibrate.add_argument(
        "--harvests", type=Path, required=True, help="CSV of past harvests, with planted dates"
    )
    calibrate.add_argument("--cooperative", metavar="ID", help="only this cooperative")
    calibrate.add_argument("--model", metavar="VERSION", help="this model, not the served one")
    calibrate.set_defaults(func=_calibrate)


def _calibrate(args: argparse.Namespace) -> int:
    from isanfarm.influx import InfluxError
    from models.errors import ModelError
    from models.settings import ModelSettings
    from tooling.jobs import calibrate

    try:
        result = calibrate(ModelSettings(), args.harvests, args.cooperative, args.model)
    except (ModelError, ValueError, InfluxError) as exc:
        print(f"isanfarm calibrate: {exc}", file=sys.stderr, flush=True)
        return 2
    for reason in result.skipped:
        print(f"skipped {reason}", file=sys.stderr)
    for calibration, path in zip(result.calibrations, result.stored, strict=True):
        print("\n".join(calibration.describe()))
        print(f"stored {path}")
    for line in result.alerts:
        print(line)
    return 0


def _train(args: argparse.Namespace) -> int:
    from models.errors import ModelError
    from models.modelstore import ModelStore
    from models.settings import ModelSettings
    from tooling.jobs import TrainOptions, train

    registry = ModelStore(ModelSettings().model_dir)
    try:
        if args.list or args.pin or args.unpin:
            if args.pin or args.unpin:
                registry.pin(None if args.unpin else args.pin)
            pinned = registry.pinned()
            for meta in registry.versions():
                mark = "pinned" if meta["version"] == pinned else ("good" if meta["good"] else "-")
                print(f"{meta['version']}  {mark:<6}  {meta.get('headline', '')}")
            return 0
        options = TrainOptions(args.fields, args.seasons, args.seed, args.max_iter)
        version, meta = train(registry, options, None if args.quiet else sys.stderr)
    except (ModelError, ValueError) as exc:
        print(f"isanfarm train: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(meta["held_out_metrics"]["3m"], indent=2))
    print(f"saved {version} ({'good' if meta['good'] else 'NOT good: not served'})")
    print(meta["headline"])
    return 0


def _forecast(args: argparse.Namespace) -> int:
    if args.every is None:
        return _forecast_once(args)
    for name in ("every", "retry_after"):
        if getattr(args, name) <= 0:
            flag = "--" + name.replace("_", "-")
            print(
                f"isanfarm forecast: {flag} {getattr(args, name)} must be a positive number",
                file=sys.stderr,
            )
            return 2
    stop = stop_on_signals()
    while not stop.is_set():
        try:
            code = _forecast_once(args)
        except Exception as exc:  # a database away for a while: report, try again soon
            print(f"isanfarm forecast: this run failed: {exc!r}", file=sys.stderr, flush=True)
            code = FORECAST_FAILED
        stop.wait(_wait_after(code, args.every, args.retry_after))
    return 0


def _wait_after(code: int, every: float, retry_after: float) -> float:
    """A run that failed on a database is repeated after ``retry_after`` (a partial run must not
    stand for a whole period); any other waits the period."""
    return min(retry_after, every) if code == FORECAST_FAILED else every


def _forecast_once(args: argparse.Namespace) -> int:
    from isanfarm.influx import InfluxError
    from models.errors import ModelError
    from models.settings import ModelSettings
    from tooling.jobs import forecast

    try:
        report = forecast(ModelSettings(), args.model, args.harvests)
    except ModelError as exc:
        print(f"isanfarm forecast: {exc}", file=sys.stderr, flush=True)
        return FORECAST_REFUSED
    except InfluxError as exc:  # models.forecast.ForecastWriteError says what was written
        print(f"isanfarm forecast: {exc}", file=sys.stderr, flush=True)
        return FORECAST_FAILED
    for reason in report.skipped:
        print(f"skipped {reason}", file=sys.stderr)
    for note in report.notes:
        print(f"not recalibrated: {note}", file=sys.stderr)
    for line in report.coverage:
        print(line)
    for reason in report.feed_failures:
        print(f"no weather forecast for farm {reason}", file=sys.stderr)
    if report.weather_fields or report.no_coordinates or report.feed_failures:
        print(
            f"weather feed: {report.weather_fields} fields forecast with their farm's weather "
            f"forecast; {len(report.no_coordinates)} farms without coordinates and "
            f"{len(report.feed_failures)} whose feed failed forecast without one"
        )
    print(
        f"forecast {report.fields} fields ({report.points} points; {report.calibrated} "
        f"calibrated from their last season; {report.recalibrated} recalibrated and "
        f"{report.crop_calibrated} run with the crop calibrated for their cooperative) and "
        f"{report.animals} animals in "
        f"{report.seconds:.1f} s; skipped {len(report.skipped)}; {report.harvests} harvest "
        "records written as actuals",
        flush=True,
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from models.errors import ModelError
    from models.modelstore import ModelStore
    from models.settings import ModelSettings
    from tooling.jobs import evaluate

    registry = ModelStore(ModelSettings().model_dir)
    try:
        path = evaluate(registry, args.out, args.model, args.fields, args.seasons, args.seed)
    except (ModelError, ValueError) as exc:
        print(f"isanfarm evaluate: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0
