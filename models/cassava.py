"""Cassava yield (fresh root t/ha) and starch (%) at a harvest date, with 80% intervals.

The model is a ``Pipeline(SeasonFeatures, YieldStarchRegressor)``: gradient-boosted trees
(scikit-learn's HistGradientBoostingRegressor) for each target, with intervals calibrated by
split conformal prediction on a season the trees did not see (details on the class). Yield is
modelled on a log scale: errors are relative, as is the MAPE cooperatives are scored on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin  # type: ignore[import-untyped]
from sklearn.ensemble import HistGradientBoostingRegressor  # type: ignore[import-untyped]
from sklearn.pipeline import Pipeline  # type: ignore[import-untyped]
from sklearn.utils.validation import check_is_fitted  # type: ignore[import-untyped]

from models.daily import FloatArray
from models.errors import ModelError
from models.features import NUMERIC_FEATURES, Case, SeasonFeatures

#: Output columns of ``predict``.
OUTPUTS = (
    "yield_t_ha",
    "yield_t_ha_p10",
    "yield_t_ha_p90",
    "starch_pct",
    "starch_pct_p10",
    "starch_pct_p90",
)
TARGETS = ("yield_t_ha", "starch_pct")
LEAD_COLUMN = NUMERIC_FEATURES.index("lead_days")
HARVEST_AGE_COLUMN = NUMERIC_FEATURES.index("harvest_age_days")
PREV_YIELD_COLUMN = NUMERIC_FEATURES.index("prev_yield_t_ha")
CROP_YIELD_COLUMN = NUMERIC_FEATURES.index("crop_yield_t_ha")
MANAGEMENT_SD_COLUMN = NUMERIC_FEATURES.index("management_sd")
#: The crop model's yield is the anchor where the field's management factor is known to this
#: standard deviation or better (a previous harvest, or the probes, narrowed it): half the
#: 0.2 of the flat prior, which is what a field with no previous season and no probe data
#: has (``models.cropfeatures.assimilate``).
KNOWN_MANAGEMENT_SD = 0.1
#: Lead-time buckets (days) calibrated separately: up to 1.5, 4.5 months, and beyond.
LEAD_EDGES = (45.0, 137.0)
#: Boosting rounds and learning rate per tree model: 80 at 0.15 scored as 150 at 0.1 on the
#: held-out seasons (bench/RESULTS.md) at half the fitting and prediction time.
BOOSTING_ROUNDS = 80
LEARNING_RATE = 0.15


class YieldStarchRegressor(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """``fit(x, y)`` with y columns (yield t/ha, starch %); ``groups`` (seasons) picks the
    calibration rows: the newest season. Without groups a seeded fifth of the rows is used,
    which overstates coverage when rows of one season are correlated: pass groups.

    Per target: a point model, and a model of the size of its errors fitted on out-of-fold
    residuals (two folds by season); the interval is point +- margin x error size, the margin
    being the conformal quantile of normalised errors on the calibration season, per lead
    bucket (normalised split-conformal regression; Lei et al. 2018). Yield is anchored, because
    trees approximate "the crop model's yield for this field" or "like last season, adjusted for
    this season's weather" poorly from raw values: the trees learn log(yield) minus log(the crop
    model's yield with the field's yield gap) where the gap is known (the previous harvest or
    the season's soil moisture pinned it to ``KNOWN_MANAGEMENT_SD``: ``models.cropfeatures``);
    else minus log(the previous yield) where that is known; else minus log(the crop model's
    yield at the prior's mean factor) and a learned mean gap per harvest age."""

    def __init__(
        self,
        coverage: float = 0.8,
        max_iter: int = BOOSTING_ROUNDS,
        learning_rate: float = LEARNING_RATE,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 40,
        l2_regularization: float = 1.0,
        random_state: int = 0,
    ) -> None:
        self.coverage = coverage
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state

    def fit(
        self, x: FloatArray, y: FloatArray, groups: Sequence[int] | None = None
    ) -> YieldStarchRegressor:
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if y.ndim != 2 or y.shape[1] != len(TARGETS):
            raise ModelError(f"y must have columns {TARGETS}, got shape {y.shape}")
        season = self._seasons(len(x), groups)
        calibrate = season == season.max()
        train = ~calibrate
        # A column with no value in the fitting rows (no previous season yet) cannot be binned.
        self.usable_ = np.isfinite(x[train]).any(axis=0)
        ages = x[:, HARVEST_AGE_COLUMN]
        # The learned gap of fields whose factor is not known (runs at the prior's mean).
        rows = train & ~_known_management(x)
        rows = rows if rows.any() else train
        gap = _log(y[rows, 0]) - _log(x[rows, CROP_YIELD_COLUMN])
        self.age_means_ = self._age_means(ages[rows], gap)
        anchors = {target: self._anchor(target, x) for target in TARGETS}
        x = x[:, self.usable_]
        self.models_: dict[str, tuple[Any, Any]] = {}
        self.margins_: dict[str, FloatArray] = {}
        for k, target in enumerate(TARGETS):
            values = self._scale(target, y[:, k]) - anchors[target]
            point = self._trees().fit(x[train], values[train])
            spread = self._spread(x[train], values[train], season[train])
            self.models_[target] = (point, spread)
            errors = np.abs(values[calibrate] - point.predict(x[calibrate]))
            scores = errors / self._size(spread, x[calibrate])
            self.margins_[target] = self._margins(x[calibrate, LEAD_COLUMN], scores)
        self.n_features_in_ = x.shape[1]
        return self

    def predict(self, x: FloatArray) -> FloatArray:
        check_is_fitted(self, "models_")
        x = np.asarray(x, dtype=float)
        bucket = np.digitize(x[:, LEAD_COLUMN], LEAD_EDGES)
        anchors = {target: self._anchor(target, x) for target in TARGETS}
        x = x[:, self.usable_]
        columns = []
        for target in TARGETS:
            point_model, spread = self.models_[target]
            point = point_model.predict(x) + anchors[target]
            half = self.margins_[target][bucket] * self._size(spread, x)
            point, lo, hi = (self._unscale(target, v) for v in (point, point - half, point + half))
            columns += [point, lo, hi]
        return np.column_stack(columns)

    def _trees(self) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=False,
            random_state=self.random_state,
        )

    def _spread(self, x: FloatArray, values: FloatArray, season: np.ndarray) -> Any:
        """A model of |out-of-fold error|: two folds by season parity, then one fit."""
        residual = np.zeros_like(values)
        fold = season % 2 == 0
        if fold.all() or not fold.any():
            fold = np.arange(len(values)) % 2 == 0
        for part in (fold, ~fold):
            # A fold may lack a column entirely (its seasons have no previous season).
            usable = np.isfinite(x[~part]).any(axis=0)
            model = self._trees().fit(x[~part][:, usable], values[~part])
            residual[part] = values[part] - model.predict(x[part][:, usable])
        return self._trees().fit(x, np.abs(residual))

    @staticmethod
    def _size(spread: Any, x: FloatArray) -> FloatArray:
        return np.asarray(np.maximum(spread.predict(x), 1e-3))

    def _anchor(self, target: str, x: FloatArray) -> FloatArray:
        """Log yield the trees start from (see the class docstring); nothing for starch."""
        if target != "yield_t_ha":
            return np.zeros(len(x))
        crop = _log(x[:, CROP_YIELD_COLUMN])
        calibrated = _known_management(x)
        prev = x[:, PREV_YIELD_COLUMN]
        known = np.isfinite(prev) & (prev > 0)
        fallback = crop + self._lookup_age_mean(x[:, HARVEST_AGE_COLUMN])
        return np.where(calibrated, crop, np.where(known, _log(prev), fallback))

    @staticmethod
    def _age_means(ages: FloatArray, log_yield: FloatArray) -> FloatArray:
        """(age, mean log yield) pairs, for a lookup by nearest age."""
        unique = np.unique(ages)
        return np.array([[a, log_yield[ages == a].mean()] for a in unique])

    def _lookup_age_mean(self, ages: FloatArray) -> FloatArray:
        table = self.age_means_
        return np.asarray(np.interp(ages, table[:, 0], table[:, 1]))

    def _seasons(self, n: int, groups: Sequence[int] | None) -> np.ndarray:
        if groups is not None:
            g = np.asarray(groups, dtype=int)
            if len(np.unique(g)) < 2:
                raise ModelError("need at least two seasons (groups): one to fit, one to calibrate")
            return g
        rng = np.random.default_rng(self.random_state)
        return rng.integers(0, 5, n)

    def _margins(self, lead: FloatArray, scores: FloatArray) -> FloatArray:
        """The conformal quantile of the normalised errors, per lead bucket."""
        bucket = np.digitize(lead, LEAD_EDGES)
        margins = np.zeros(len(LEAD_EDGES) + 1)
        for b in range(len(margins)):
            chosen = scores[bucket == b] if np.any(bucket == b) else scores
            n = len(chosen)
            level = min(1.0, self.coverage * (n + 1) / n) if n else 1.0
            margins[b] = np.quantile(chosen, level) if n else 0.0
        return margins

    @staticmethod
    def _scale(target: str, values: FloatArray) -> FloatArray:
        return np.log(np.maximum(values, 0.1)) if target == "yield_t_ha" else values

    @staticmethod
    def _unscale(target: str, values: FloatArray) -> FloatArray:
        return np.exp(values) if target == "yield_t_ha" else values


def _known_management(x: FloatArray) -> np.ndarray:
    """Rows whose management factor the previous harvest or the probes pinned down."""
    sd = np.nan_to_num(x[:, MANAGEMENT_SD_COLUMN], nan=np.inf)
    return np.asarray(sd <= KNOWN_MANAGEMENT_SD)


def _log(values: FloatArray) -> FloatArray:
    """log of a yield in t/ha, floored at 0.1 t/ha (and NaN-safe: NaN stays NaN)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(np.log(np.maximum(values, 0.1)))


def build_pipeline(
    max_iter: int = BOOSTING_ROUNDS, min_coverage: float = 0.5, random_state: int = 0
) -> Pipeline:
    return Pipeline(
        [
            ("features", SeasonFeatures(min_coverage=min_coverage)),
            ("model", YieldStarchRegressor(max_iter=max_iter, random_state=random_state)),
        ]
    )


def predict_cases(pipeline: Pipeline, cases: Sequence[Case]) -> FloatArray:
    """(n, 6) array in ``OUTPUTS`` order."""
    if not cases:
        return np.empty((0, len(OUTPUTS)))
    return np.asarray(pipeline.predict(list(cases)))
