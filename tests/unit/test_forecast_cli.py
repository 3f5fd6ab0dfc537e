"""``isanfarm forecast --every``: how long the service waits after each kind of run."""

from __future__ import annotations

import argparse
import threading

import pytest

from tooling import cli, model_commands


class CountedStop(threading.Event):
    """A stop event that records each wait instead of sleeping, and stops after ``runs``."""

    def __init__(self, runs: int) -> None:
        super().__init__()
        self.runs = runs
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        if len(self.waits) == self.runs:
            self.set()
        return self.is_set()


def _serve(monkeypatch: pytest.MonkeyPatch, outcomes: list[int | Exception]) -> list[float]:
    stop = CountedStop(len(outcomes))
    results = iter(outcomes)

    def run_once(args: argparse.Namespace) -> int:
        outcome = next(results)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(model_commands, "stop_on_signals", lambda: stop)
    monkeypatch.setattr(model_commands, "_forecast_once", run_once)
    args = argparse.Namespace(every=86_400.0, retry_after=300.0)
    assert model_commands._forecast(args) == 0
    return stop.waits


def test_a_run_failed_on_the_database_is_repeated_after_retry_after_not_a_day(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits = _serve(monkeypatch, [0, model_commands.FORECAST_FAILED, ConnectionError("registry"), 0])

    assert waits == [86_400.0, 300.0, 300.0, 86_400.0]


def test_a_run_refused_for_its_input_waits_the_whole_period(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _serve(monkeypatch, [model_commands.FORECAST_REFUSED]) == [86_400.0]


def test_retry_after_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    args = cli._parser().parse_args(["forecast", "--every", "60", "--retry-after", "0"])

    assert model_commands._forecast(args) == 2
    assert "--retry-after 0.0 must be a positive number" in capsys.readouterr().err
