"""Offline seasons, scenarios, plots and the ``isanfarm simulate`` command line."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from isanfarm import contract
from simulators import offline, scenario
from simulators.driver import SimulatedDriver
from tooling import cli

ROOT = Path(__file__).resolve().parents[2]
START_MS = int(datetime(2025, 6, 1, tzinfo=UTC).timestamp() * 1000)


def season_files(tmp_path: Path, seed: int, name: str) -> dict[str, bytes]:
    plan = scenario.generated(seed, fields=3, barns=1, start=date(2025, 4, 1), days=250)
    out = tmp_path / name
    offline.run(plan, out, progress=None)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_same_seed_gives_byte_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    first = season_files(tmp_path, 8, "a")
    assert set(first) == {"fields_daily.csv", "harvests.csv", "herds_daily.csv"}
    assert first == season_files(tmp_path, 8, "b")
    other = season_files(tmp_path, 9, "c")
    assert all(first[name] != other[name] for name in first)


def test_the_daily_file_has_a_row_per_field_per_day_and_the_harvest_file_the_truth(
    tmp_path: Path,
) -> None:
    plan = scenario.generated(3, fields=4, start=date(2025, 4, 1), days=366)
    stream = io.StringIO()
    summary = offline.run(plan, tmp_path, progress=stream)
    assert "4/4 fields" in stream.getvalue()
    assert stream.getvalue().endswith("\n")
    rows = list(csv.DictReader((tmp_path / "fields_daily.csv").read_text().splitlines()))
    assert len(rows) == summary.field_days == 4 * 367
    harvests = list(csv.DictReader((tmp_path / "harvests.csv").read_text().splitlines()))
    assert sorted({int(h["months"]) for h in harvests}) == [8, 9, 10, 11, 12]
    for h in harvests:  # 1 ha = 6.25 rai (DOMAIN.md)
        t_ha, t_rai = float(h["fresh_yield_t_ha"]), float(h["fresh_yield_t_rai"])
        assert t_rai == pytest.approx(t_ha / 6.25, abs=0.001)


def test_the_demo_scenario_covers_every_sensor_in_the_catalogue() -> None:
    plan = scenario.load(ROOT / "scenarios" / "demo.toml")
    seen: set[str] = set()
    for farm, device in plan.devices():
        driver = SimulatedDriver(**device.driver_options(farm.weather_seed))
        for step in range(144):
            for sample in driver.read(START_MS + step * 600_000):
                seen |= set(sample.values)
    assert seen == set(contract.SENSOR_CATALOGUE)


def test_every_shipped_scenario_loads() -> None:
    for path in sorted((ROOT / "scenarios").glob("*.toml")):
        assert scenario.load(path).devices(), path


def test_a_bad_scenario_names_the_option_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[farms]]\nid = "f"\n[[farms.fields]]\nvariety = "KU99"\n')
    with pytest.raises(ValueError, match="variety 'KU99' is unknown: use one of KU50"):
        scenario.load(path)
    path.write_text('[[farms]]\nid = "f"\n[[farms.fields]]\ncolour = "red"\n')
    with pytest.raises(ValueError, match="option 'colour' is unknown"):
        scenario.load(path)


def test_plot_writes_a_field_season_and_a_herd_png(tmp_path: Path) -> None:
    code = cli.main(["simulate", "plot", "--out", str(tmp_path), "--days", "200"])
    assert code == 0
    for name in ("field_season.png", "herd_weights.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        assert len(data) > 20_000, name


def test_offline_command_writes_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "offline", "--fields", "2", "--days", "30", "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    assert "2 fields" in capsys.readouterr().out
    assert (tmp_path / "harvests.csv").exists()


def test_simulate_without_a_mode_is_live_and_help_explains_the_modes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = cli._parser().parse_args(["simulate", "--fields", "3"])
    assert args.fields == 3
    assert args.mode is None
    with pytest.raises(SystemExit):
        cli.main(["simulate", "--help"])
    text = capsys.readouterr().out
    for mode in ("live", "fleet", "offline", "plot"):
        assert f"  {mode} " in text
