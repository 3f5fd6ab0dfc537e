"""Simulated devices: deterministic under a seed, every reading inside the contract, and a
climate a Korat farmer would recognise."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agronomy.weather import KoratWeather, local_day
from isanfarm import contract
from simulators.cattle_barn import thi
from simulators.driver import SimulatedDriver

START_MS = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000)
TEN_MIN_MS = 600_000


def run(kind: str, seed: int, days: int) -> list[tuple[int, dict[str, float], str | None]]:
    driver = SimulatedDriver(kind, seed=seed)
    out = []
    for step in range(days * 144):
        ts = START_MS + step * TEN_MIN_MS
        out += [(ts, dict(s.values), s.animal_id) for s in driver.read(ts)]
    return out


@pytest.mark.parametrize("kind", ["cassava_field", "cattle_barn"])
def test_same_seed_same_readings_other_seed_other_readings(kind: str) -> None:
    assert run(kind, seed=3, days=3) == run(kind, seed=3, days=3)
    assert run(kind, seed=3, days=3) != run(kind, seed=4, days=3)


@pytest.mark.parametrize("kind", ["cassava_field", "cattle_barn"])
def test_sixty_days_of_readings_all_pass_the_contract(kind: str) -> None:
    device = "node-1"
    for seq, (ts, values, animal) in enumerate(run(kind, seed=1, days=60)):
        message = contract.Telemetry("farm-1", device, seq, ts, values, "site-1", animal)
        decoded = contract.decode_telemetry(message.topic, contract.encode_telemetry(message))
        assert decoded == message
        for name in values:
            assert kind in contract.SENSOR_CATALOGUE[name].device_kinds


def test_a_field_node_reports_every_field_sensor() -> None:
    _, values, _ = run("cassava_field", seed=1, days=1)[0]
    expected = {
        name
        for name, spec in contract.SENSOR_CATALOGUE.items()
        if contract.DeviceKind.CASSAVA_FIELD in spec.device_kinds
    }
    assert set(values) == expected


def test_a_barn_reports_climate_water_and_walk_over_passes_of_identified_animals() -> None:
    readings = run("cattle_barn", seed=1, days=4)
    passes = [(animal, values["animal_weight"]) for _, values, animal in readings if animal]
    meters = [values["water_meter"] for _, values, animal in readings if animal is None]
    assert 12 * 4 * 1.5 < len(passes) < 12 * 4 * 3.5  # about 2.5 passes per animal per day
    assert all(300 * 0.55 < weight < 800 * 1.1 for _, weight in passes)
    assert meters == sorted(meters), "a water meter only counts up"
    daily_litres = (meters[-1] - meters[0]) / 4 / 12
    assert 30 <= daily_litres <= 90


def test_korat_weather_has_a_dry_cool_season_and_a_wet_rainy_season() -> None:
    first = local_day(int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000))
    for seed in range(5):
        weather = KoratWeather(seed, first)
        year = [weather.day(first + d) for d in range(365)]
        january, september = year[0:31], year[243:273]
        annual = sum(d.rain_mm for d in year)
        assert 600 < annual < 1_700, f"seed {seed}: {annual:.0f} mm in a year"
        assert sum(d.rain_mm for d in september) > 3 * sum(d.rain_mm for d in january)
        april_max = max(d.tmax_c for d in year[90:120])
        assert 33 < april_max < 42
        assert min(d.tmin_c for d in january) < 20


def test_thi_matches_the_published_formula_and_categories() -> None:
    assert thi(25.0, 50.0) == pytest.approx(0.8 * 25 + 0.5 * (25 - 14.4) + 46.4)
    assert thi(24.0, 40.0) < 75 <= thi(32.0, 70.0)
