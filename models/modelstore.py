"""Saved models: ``<version>.joblib`` plus ``<version>.json`` metadata in one directory.

Metadata: version, kind, created, training data range, features, feature-schema version,
held-out metrics, whether the model is ``good`` (its held-out checks passed), scikit-learn and
Python versions. ``load`` serves the pinned version if there is one (file ``PINNED``), else the
newest good one; a model of another feature-schema version is refused, never served.

Calibrations (``isanfarm calibrate``, docs/calibration.md): ``calibrations/<cooperative>.json``
beside the models, each naming the model version it was fitted on. A calibration fits one
model's errors, so it is refused for any other version, never applied to it.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import sklearn  # type: ignore[import-untyped]

from isanfarm.contract import ID_PATTERN
from models.errors import ModelError, NoModelError, SchemaMismatchError
from models.features import FEATURE_SCHEMA_VERSION

PIN_FILE = "PINNED"
CALIBRATION_DIR = "calibrations"


class CalibrationMismatchError(ModelError):
    """A cooperative's stored calibration was fitted on another model version."""


@dataclass(frozen=True, slots=True)
class Loaded:
    model: Any
    metadata: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.metadata["version"])


class ModelStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def save(self, model: Any, metadata: dict[str, Any], kind: str = "cassava") -> str:
        """Store a model; returns its new version (``<kind>-<UTC time to the microsecond>``)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        version = f"{kind}-{now:%Y%m%dT%H%M%S%f}"
        full = {
            "version": version,
            "kind": kind,
            "created": now.isoformat(timespec="microseconds"),
            "feature_schema_version": FEATURE_SCHEMA_VERSION,
            "sklearn_version": sklearn.__version__,
            "python_version": platform.python_version(),
            "good": True,
            **metadata,
        }
        joblib.dump(model, self.directory / f"{version}.joblib", compress=3)
        # Metadata last: a version without its JSON is an interrupted save, never listed.
        (self.directory / f"{version}.json").write_text(json.dumps(full, indent=2, default=str))
        return version

    def versions(self, kind: str = "cassava") -> list[dict[str, Any]]:
        """Metadata of every saved model of ``kind``, oldest first."""
        out = []
        for path in sorted(self.directory.glob(f"{kind}-*.json")):
            if path.with_suffix(".joblib").exists():
                out.append(json.loads(path.read_text()))
        return sorted(out, key=lambda m: (m["created"], m["version"]))

    def pin(self, version: str | None) -> None:
        """Serve ``version`` from now on; None unpins (back to the newest good model)."""
        path = self.directory / PIN_FILE
        if version is None:
            path.unlink(missing_ok=True)
            return
        if not (self.directory / f"{version}.json").exists():
            raise NoModelError(
                f"no model {version!r} in {self.directory}: see `isanfarm train --list`"
            )
        path.write_text(version + "\n")

    def pinned(self) -> str | None:
        path = self.directory / PIN_FILE
        return path.read_text().strip() or None if path.exists() else None

    def load(self, version: str | None = None, kind: str = "cassava") -> Loaded:
        """The given version, else the pinned one, else the newest good one."""
        version = version or self.pinned()
        if version is None:
            good = [m for m in self.versions(kind) if m.get("good")]
            if not good:
                raise NoModelError(
                    f"no good {kind} model in {self.directory}: run `isanfarm train` first"
                )
            version = str(good[-1]["version"])
        meta_path = self.directory / f"{version}.json"
        if not meta_path.exists():
            raise NoModelError(f"no model {version!r} in {self.directory}")
        metadata = json.loads(meta_path.read_text())
        schema = metadata.get("feature_schema_version")
        if schema != FEATURE_SCHEMA_VERSION:
            raise SchemaMismatchError(
                f"model {version} was trained on feature schema {schema}, this code builds "
                f"schema {FEATURE_SCHEMA_VERSION}: retrain (`isanfarm train`) or run the code "
                "version it was trained with"
            )
        return Loaded(joblib.load(self.directory / f"{version}.joblib"), metadata)

    def save_calibration(self, cooperative: str, calibration: dict[str, Any]) -> Path:
        """Store a cooperative's calibration (``models.calibration.Calibration.to_json``),
        replacing its previous one; written to a temporary file first, so that a reader never
        sees half of it."""
        path = self._calibration_path(cooperative)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(calibration, indent=2, default=str))
        partial.replace(path)
        return path

    def calibration(self, cooperative: str, version: str) -> dict[str, Any] | None:
        """The cooperative's calibration for model ``version``; None if it has none; raises
        ``CalibrationMismatchError`` if it has one fitted on another version."""
        path = self._calibration_path(cooperative)
        if not path.exists():
            return None
        stored: dict[str, Any] = json.loads(path.read_text())
        if stored.get("model_version") != version:
            raise CalibrationMismatchError(
                f"the calibration of cooperative {cooperative} was fitted on model "
                f"{stored.get('model_version')}, the model served is {version}: not applied; "
                f"run `isanfarm calibrate --harvests FILE --cooperative {cooperative}` again"
            )
        return stored

    def calibrated_cooperatives(self) -> list[str]:
        """Cooperatives with a stored calibration (of whatever model version)."""
        return sorted(p.stem for p in (self.directory / CALIBRATION_DIR).glob("*.json"))

    def _calibration_path(self, cooperative: str) -> Path:
        if not ID_PATTERN.fullmatch(cooperative):
            raise ValueError(
                f"cooperative {cooperative!r} is not a registry id (lowercase letters, digits, "
                "'-' and '_')"
            )
        return self.directory / CALIBRATION_DIR / f"{cooperative}.json"
