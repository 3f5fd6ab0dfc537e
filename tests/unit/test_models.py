"""The models package without I/O: features and their gaps, the schema-version guard, the price
rule, harvest candidates, the cattle estimate and the registry, on exact or simulated values."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agronomy.units import DAY_MS
from models.cassava import OUTPUTS, build_pipeline, predict_cases
from models.cattle import daily_weights, forecast_animal, heat_stress_risk
from models.daily import DAILY_VARIABLES, SM30, FieldSeason, unique_rows
from models.errors import FeatureError, NoModelError, SchemaMismatchError
from models.features import NUMERIC_FEATURES, Case, SeasonFeatures
from models.forecast import (
    FieldInfo,
    History,
    load_harvests,
    plausible_plantings,
    whole_series_batches,
)
from models.modelstore import ModelStore
from models.price import HarvestCalendar, PriceRule
from models.training import split, training_cases
from simulators.seasons import simulate


def _season(days: int, rain: list[float] | None = None, soil: str = "loam") -> FieldSeason:
    values = np.tile([0.0, 27.0, 70.0, 18.0, 20.0, 22.0, 25.0], (days, 1))
    if rain is not None:
        values[: len(rain), 0] = rain
    return FieldSeason("f1", "farm1", "KU50", soil, date(2025, 4, 1), 1.6, values)


def _fitted(seasons: list[FieldSeason]) -> SeasonFeatures:
    return SeasonFeatures().fit([Case(s, s.days, 300) for s in seasons])


def _feature(features: SeasonFeatures, case: Case, name: str) -> float:
    return float(features.transform([case])[0, NUMERIC_FEATURES.index(name)])


def test_rain_and_dry_spells_are_exact() -> None:
    rain = [5.0, 0, 0, 0, 12.0, 0, 0, 0, 0, 0, 3.0, 0]
    season = _season(12, rain)
    features = _fitted([season])
    case = Case(season, 12, 300)
    assert _feature(features, case, "rain_season_mm") == 20.0
    assert _feature(features, case, "dry_spell_max_days") == 5
    assert _feature(features, case, "dry_spell_now_days") == 1
    assert _feature(features, case, "wet_days_season") == 3
    assert _feature(features, case, "gdd_season") == pytest.approx(12 * 12.0)
    assert _feature(features, case, "lead_days") == 288


def test_a_dead_probe_is_refused_with_a_clear_error() -> None:
    healthy = _season(120)
    features = _fitted([healthy])
    dead = _season(120)
    dead.values[20:, SM30] = np.nan
    with pytest.raises(FeatureError, match=r"f1.*soil_moisture_30cm observed on 17%.*needs 50%"):
        features.transform([Case(dead, 120, 300)])


def test_short_gaps_are_filled_from_the_climatology_and_counted() -> None:
    features = _fitted([_season(120)])
    gappy = _season(120)
    gappy.values[50:60, :] = np.nan
    row = features.transform([Case(gappy, 120, 300)])[0]
    assert row[NUMERIC_FEATURES.index("coverage_min")] == pytest.approx(110 / 120)
    assert row[NUMERIC_FEATURES.index("sm30_season")] == pytest.approx(22.0)


def test_unknown_variety_and_wrong_shape_are_refused() -> None:
    features = _fitted([_season(30)])
    other = FieldSeason("f2", "farm1", "Cassava X", "loam", date(2025, 4, 1), 1.0, np.ones((30, 7)))
    with pytest.raises(FeatureError, match="variety 'Cassava X' is not one the model"):
        features.transform([Case(other, 30, 300)])
    narrow = FieldSeason("f3", "farm1", "KU50", "loam", date(2025, 4, 1), 1.0, np.ones((30, 3)))
    with pytest.raises(FeatureError, match=f"need \\(days, {len(DAILY_VARIABLES)}\\)"):
        features.transform([Case(narrow, 30, 300)])


def test_a_field_not_yet_planted_still_gets_features() -> None:
    features = _fitted([_season(30)])
    row = features.transform([Case(_season(0), 0, 250)])[0]
    assert row[NUMERIC_FEATURES.index("age_days")] == 0
    assert np.isnan(row[NUMERIC_FEATURES.index("sm10_season")])


def test_transformer_follows_the_estimator_rules() -> None:
    features = SeasonFeatures(min_coverage=0.3)
    assert features.get_params()["min_coverage"] == 0.3
    assert not hasattr(features, "climatology_")
    assert features.fit([Case(_season(10), 10, 300)]) is features


def test_price_rule_and_harvest_candidates() -> None:
    rule = PriceRule(base_thb_per_kg=2.5, thb_per_point=0.06)
    assert rule.thb_per_kg(25.0) == 2.5
    assert rule.thb_per_kg(28.0) == pytest.approx(2.68)
    assert rule.revenue_thb(10.0, 24.0) == pytest.approx(24_400.0)
    with pytest.raises(ValueError, match="must be positive"):
        PriceRule(base_thb_per_kg=0)
    calendar = HarvestCalendar()
    young = calendar.candidates(date(2026, 4, 15), date(2026, 6, 1))
    assert young[0] == date(2026, 12, 15)
    assert len(young) == 18
    assert all(
        d >= date(2026, 11, 1) for d in calendar.candidates(date(2026, 1, 1), date(2026, 11, 1))
    )
    late = calendar.candidates(date(2025, 1, 1), date(2026, 11, 26))
    assert late[0] == date(2026, 11, 26)
    assert len(late) == 4


def test_scale_passes_robust_daily_weight_and_days_to_target() -> None:
    rng = random.Random(3)
    now = 1_780_000_000_000
    passes = []
    for day in range(40):
        weight = 600 + 0.8 * day
        for _ in range(3):
            reading = weight * (1 + rng.gauss(0, 0.015))
            draw = rng.random()
            if draw < 0.1:
                reading *= 0.7  # a hoof off the platform
            elif draw < 0.13:
                reading += 650  # two animals
            passes.append((now - (39 - day) * DAY_MS, reading))
    daily = daily_weights(passes, 0.08)
    first = min(daily)
    for day, weight in daily.items():  # no partial or doubled pass survives
        assert weight == pytest.approx(600 + 0.8 * (day - first), rel=0.03)
    result = forecast_animal("cow", passes, 750.0, now)
    assert result is not None
    assert result.daily_gain_kg == pytest.approx(0.8, abs=0.2)
    assert result.weight_kg == pytest.approx(631.2, abs=6)
    assert result.days_to_target_p10 < result.days_to_target < result.days_to_target_p90
    assert forecast_animal("cow", passes[:6], 750.0, now) is None


def test_heat_stress_risk_scores_thi_levels() -> None:
    assert heat_stress_risk([(20.0, 60.0)]) == 0.0
    assert heat_stress_risk([(36.0, 70.0)]) == 1.0  # THI about 90: emergency
    assert heat_stress_risk([(20.0, 60.0), (36.0, 70.0)]) == 0.5


@pytest.fixture(scope="module")
def tiny_model() -> tuple[Any, list[Case]]:
    seasons = simulate(20, 3, seed=5, progress=None)
    parts = split(seasons, seed=5)
    cases, targets, groups = training_cases(parts.train, parts.history, seed=5)
    pipeline = build_pipeline(max_iter=20)
    pipeline.fit(cases, targets, model__groups=groups)
    return pipeline, cases[:30]


def test_tiny_model_predicts_ordered_intervals(tiny_model: tuple[Any, list[Case]]) -> None:
    pipeline, cases = tiny_model
    predicted = predict_cases(pipeline, cases)
    assert predicted.shape == (30, len(OUTPUTS))
    assert np.all(predicted[:, 1] <= predicted[:, 0])
    assert np.all(predicted[:, 0] <= predicted[:, 2])
    assert np.all(predicted[:, 4] <= predicted[:, 3])
    assert np.all(predicted[:, 3] <= predicted[:, 5])
    assert 3 < predicted[:, 0].mean() < 80
    assert 15 < predicted[:, 3].mean() < 35


def test_registry_serves_newest_good_pins_and_refuses_other_schema(
    tmp_path: Path, tiny_model: tuple[Any, list[Case]]
) -> None:
    pipeline, _ = tiny_model
    registry = ModelStore(tmp_path)
    with pytest.raises(NoModelError, match="run `isanfarm train` first"):
        registry.load()
    first = registry.save(pipeline, {"held_out_metrics": {}})
    second = registry.save(pipeline, {"held_out_metrics": {}})
    bad = registry.save(pipeline, {"good": False})
    assert registry.load().version == second
    registry.pin(first)
    assert registry.load().version == first
    registry.pin(None)
    assert registry.load().version == second
    assert registry.load(bad).version == bad
    meta_path = tmp_path / f"{second}.json"
    meta = json.loads(meta_path.read_text())
    assert {"version", "created", "sklearn_version", "feature_schema_version"} <= set(meta)
    meta["feature_schema_version"] = 0
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(SchemaMismatchError, match="trained on feature schema 0"):
        registry.load(second)


def test_features_fitted_on_another_schema_are_refused(
    tiny_model: tuple[Any, list[Case]],
) -> None:
    import copy

    pipeline, cases = tiny_model
    stale = copy.deepcopy(pipeline)
    stale.named_steps["features"].schema_version_ = 0
    with pytest.raises(SchemaMismatchError, match="retrain"):
        stale.predict(cases[:2])


def test_one_dead_probe_drops_its_field_and_the_others_are_featurised_in_the_same_batch() -> None:
    features = _fitted([_season(120)])
    dead = _season(120)
    dead.values[20:, SM30] = np.nan
    good = FieldSeason("f2", "farm1", "KU50", "loam", date(2025, 4, 1), 1.0, _season(120).values)
    cases = [Case(dead, 120, 300), Case(good, 120, 300), Case(good, 120, 310)]
    kept, matrix, refused = features.transform_accepted(cases)
    assert kept == [1, 2]
    assert matrix.shape == (2, len(features.get_feature_names_out()))
    assert list(refused) == ["f1"]
    assert "soil_moisture_30cm observed on 17%" in refused["f1"][0]
    assert np.array_equal(matrix, features.transform(cases[1:]), equal_nan=True)


def test_no_cases_make_an_empty_matrix() -> None:
    features = _fitted([_season(30)])
    assert features.transform([]).shape == (0, len(features.get_feature_names_out()))
    kept, matrix, refused = features.transform_accepted([])
    assert (kept, matrix.shape, refused) == ([], (0, len(features.get_feature_names_out())), {})


def test_a_previous_season_mostly_unobserved_does_not_calibrate_the_yield_gap() -> None:
    features = _fitted([_season(200)])
    column = NUMERIC_FEATURES.index("management_est")
    observed = _season(200)
    sparse = _season(200)
    sparse.values[40:, :] = np.nan  # the probes and the station died 40 days in
    now = FieldSeason("f1", "farm1", "KU50", "loam", date(2026, 4, 1), 1.6, _season(100).values)
    rows = features.transform(
        [Case(now, 100, 300, 20.0, 27.0, before, 190) for before in (observed, sparse)]
        + [Case(now, 100, 300, 20.0, 27.0)]
    )
    # The sparse season is ignored: its field's prior is flat, as with no season at all.
    assert rows[1, column] == pytest.approx(rows[2, column], abs=1e-12)
    assert rows[0, column] != rows[2, column]


def test_a_field_of_an_unknown_variety_is_refused_and_the_others_still_featurised() -> None:
    features = _fitted([_season(120)])
    other = FieldSeason(
        "f9", "farm1", "Cassava X", "loam", date(2025, 4, 1), 1.0, _season(120).values
    )
    kept, matrix, refused = features.transform_accepted(
        [Case(other, 120, 300), Case(_season(120), 120, 300)]
    )
    assert kept == [1]
    assert "variety 'Cassava X' is not one the model was trained on" in refused["f9"][0]
    assert np.isfinite(matrix[0, NUMERIC_FEATURES.index("crop_yield_t_ha")])


def test_unique_rows_is_numpys_unique_of_rows() -> None:
    rng = np.random.default_rng(3)
    columns = (rng.integers(-5, 40, 500), rng.integers(0, 400, 500), rng.integers(0, 3, 500))
    rows, inverse = unique_rows(*columns)
    expected, expected_inverse = np.unique(np.column_stack(columns), axis=0, return_inverse=True)
    assert np.array_equal(rows, expected)
    assert np.array_equal(inverse, expected_inverse.ravel())
    assert unique_rows(np.array([], dtype=int))[0].shape == (0, 1)


def test_a_typo_in_a_planting_date_skips_its_field_with_the_reason() -> None:
    today = date(2026, 11, 26)
    plantings = {
        "f-good": date(2026, 4, 15),
        "f-old-but-real": date(2024, 5, 1),
        "f-next-season": date(2027, 5, 1),
        "f-typo-year": date(202, 5, 1),
        "f-far-future": date(2062, 5, 1),
    }
    fields = [FieldInfo(key, "farm1", "KU50", "loam", day, 10.0) for key, day in plantings.items()]

    kept, reasons = plausible_plantings(fields, today)

    assert [f.field_id for f in kept] == ["f-good", "f-old-but-real", "f-next-season"]
    assert reasons == [
        "f-typo-year: planting date 0202-05-01 is before 2000-01-01: correct the field's "
        "planting_date in the registry",
        "f-far-future: planting date 2062-05-01 is more than a year after today (2026-11-26): "
        "correct the field's planting_date in the registry",
    ]


HARVEST_HEADER = "field,harvested,fresh_yield_t_ha,starch_pct,planted\n"
GOOD_HARVEST = "f-good1,2025-03-01,28.5,27.1,2024-04-20\n"


def test_a_harvest_csv_saved_by_excel_with_a_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "harvests.csv"
    path.write_text("\ufeff" + HARVEST_HEADER + GOOD_HARVEST, encoding="utf-8")

    harvests = load_harvests(path)

    assert harvests == {"f-good1": [History(28.5, 27.1, date(2024, 4, 20), date(2025, 3, 1))]}


def test_spaces_around_values_and_blank_lines_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "harvests.csv"
    path.write_text(HARVEST_HEADER + "\n f-good2 , 2025-02-10 , 30 , 26 , \n")

    harvests = load_harvests(path)

    assert harvests == {"f-good2": [History(30.0, 26.0, None, date(2025, 2, 10))]}


def test_a_harvest_csv_with_bad_rows_is_refused_whole_naming_each_line_column_and_rule(
    tmp_path: Path,
) -> None:
    path = tmp_path / "harvests.csv"
    path.write_text(
        HARVEST_HEADER
        + GOOD_HARVEST
        + "f-short,2025-02-10,30.1\n"
        + "f-nan,2025-02-10,nan,26.0,2024-04-01\n"
        + "f-inf,2025-02-10,1e999,26.0,2024-04-01\n"
        + "f-sign,2025-02-10,-30,126.0,2024-04-01\n"
        + "f-dates,2025-02-10,30,26,2025-03-01\n"
        + "F 7,2025-01-10,30,26,,KU50\n"
    )

    with pytest.raises(FeatureError) as refused:
        load_harvests(path)

    assert str(refused.value).splitlines() == [
        "harvests.csv: nothing imported; fix these and run again (docs/forecasts.md):",
        "harvests.csv line 3, column starch_pct: empty; a number is required",
        "harvests.csv line 4, column fresh_yield_t_ha: 'nan' is not a finite number",
        "harvests.csv line 5, column fresh_yield_t_ha: '1e999' is not a finite number",
        "harvests.csv line 6, column fresh_yield_t_ha: -30 t/ha is outside 1..80",
        "harvests.csv line 6, column starch_pct: 126 % of fresh weight is outside 10..40",
        "harvests.csv line 7, column planted: 2025-03-01 is not before harvested (2025-02-10)",
        "harvests.csv line 8, 1 value(s) more than the header has columns",
        "harvests.csv line 8, column field: 'F 7' is not a registry field id (lowercase "
        "letters, digits, '-' and '_')",
    ]


def test_a_harvest_dated_in_the_future_or_before_2000_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "harvests.csv"
    path.write_text(HARVEST_HEADER + "f-a,2027-01-10,30,26,\nf-b,2025-01-10,30,26,0202-04-01\n")

    with pytest.raises(FeatureError) as refused:
        load_harvests(path, today=date(2026, 11, 26))

    assert str(refused.value).splitlines()[1:] == [
        "harvests.csv line 2, column harvested: 2027-01-10 is outside 2000-01-01..2026-11-26",
        "harvests.csv line 3, column planted: 0202-04-01 is outside 2000-01-01..2026-11-26",
    ]


def test_a_harvest_csv_without_a_required_column_names_it(tmp_path: Path) -> None:
    path = tmp_path / "harvests.csv"
    path.write_text("field,harvested,yield\nf-good1,2025-03-01,28.5\n")

    with pytest.raises(FeatureError, match="line 1: the header lacks fresh_yield_t_ha, starch_pct"):
        load_harvests(path)


def test_write_batches_never_split_a_series_and_keep_the_line_order() -> None:
    lines = [f"cassava_forecast,field=f{field},note=a\\ b yield_t_ha=1 {day}" for field in range(3)
             for day in range(4)] + ["cattle_forecast,animal=c1 weight_kg=600 1"]  # fmt: skip

    batches = list(whole_series_batches(lines, size=9))

    assert [len(batch) for batch in batches] == [8, 5]
    assert [line for batch in batches for line in batch] == lines
    assert list(whole_series_batches(lines[:4], size=2)) == [lines[:4]]  # too long: alone


def test_a_calibrated_crop_changes_the_crop_features_and_the_standard_one_changes_nothing() -> None:
    """A cooperative's records may calibrate the crop (models.calibration): the features'
    crop runs use it; left unset, they are the standard crop's, bit for bit."""
    from dataclasses import replace

    from agronomy.crop import STANDARD_CROP

    rain = [8.0 if day % 9 == 0 else 0.0 for day in range(200)]
    season = _season(200, rain)
    features = _fitted([season])
    case = Case(season, 150, 300)
    standard = features.transform([case])
    features.set_params(crop_parameters=STANDARD_CROP)
    assert np.array_equal(features.transform([case]), standard, equal_nan=True)
    features.set_params(crop_parameters=replace(STANDARD_CROP, dmc_wet_drop=0.12))
    changed = features.transform([case])
    starch = NUMERIC_FEATURES.index("crop_starch_pct")
    assert changed[0, starch] != pytest.approx(standard[0, starch], abs=0.01)
