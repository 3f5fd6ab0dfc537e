"""The one definition of each shared fact (agronomy.units, agronomy.thi, agronomy.soilwater)
says what the literature and the Thai clock say, and its users agree with it."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from agronomy.soil import SOILS
from agronomy.soilwater import COMMONEST_SOIL, dry_below_pct, dry_below_pct_for
from agronomy.thi import HeatStress, heat_stress, thi, thi_formula
from agronomy.units import RAI_PER_HA, thai_date, thai_day, thai_midnight_ms
from dashboards.common import SOIL


def test_a_rai_is_1600_square_metres() -> None:
    assert RAI_PER_HA * 1600 == 10_000


def test_a_thai_day_starts_at_17_utc_the_day_before() -> None:
    new_year = int(datetime(2025, 12, 31, 17, tzinfo=UTC).timestamp() * 1000)
    assert thai_midnight_ms(date(2026, 1, 1)) == new_year
    assert thai_date(new_year - 1) == date(2025, 12, 31)
    assert thai_date(new_year) == date(2026, 1, 1)
    assert thai_day(new_year) == (date(2026, 1, 1) - date(1970, 1, 1)).days


def test_thi_at_14_4_degrees_does_not_depend_on_humidity() -> None:
    assert thi(14.4, 20.0) == pytest.approx(thi(14.4, 95.0)) == pytest.approx(57.92)
    assert thi(30.0, 0.0) == pytest.approx(0.8 * 30 + 46.4)


def test_thi_formula_written_out_computes_what_thi_computes() -> None:
    for temperature, humidity in ((25.0, 50.0), (35.0, 70.0), (12.0, 90.0)):
        written = eval(thi_formula("t", "rh"), {"t": temperature, "rh": humidity})
        assert written == pytest.approx(thi(temperature, humidity))


@pytest.mark.parametrize(
    ("index", "category"),
    [
        (74.9, HeatStress.NORMAL),
        (75.0, HeatStress.ALERT),
        (78.9, HeatStress.ALERT),
        (79.0, HeatStress.DANGER),
        (83.9, HeatStress.DANGER),
        (84.0, HeatStress.EMERGENCY),
    ],
)
def test_livestock_weather_safety_index_categories(index: float, category: HeatStress) -> None:
    assert heat_stress(index) is category


@pytest.mark.parametrize("name", sorted(SOILS))
def test_dry_soil_is_above_wilting_point_and_well_below_field_capacity(name: str) -> None:
    soil = SOILS[name]
    available = (soil.field_capacity - soil.wilting_point) * 100
    dry = dry_below_pct_for(name)
    assert soil.wilting_point * 100 < dry < soil.wilting_point * 100 + available / 2


def test_an_unknown_soil_is_dry_where_the_commonest_soil_is() -> None:
    assert dry_below_pct_for("laterite") == dry_below_pct(SOILS[COMMONEST_SOIL])


def test_dashboards_and_api_agree_on_dry_for_the_soil_the_dashboards_assume() -> None:
    assert SOIL.dry_below == dry_below_pct_for(COMMONEST_SOIL)
