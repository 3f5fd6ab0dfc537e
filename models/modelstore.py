"""Saved models: ``<version>.joblib`` plus ``<version>.json`` metadata in one directory.

Metadata: version, kind, created, training data range, features, feature-schema version,
held-out metrics, whether the model is ``good`` (its held-out checks passed), scikit-learn and
Python versions. ``load`` serves the pinned version if there is one (file ``PINNED``), else the
newest good one; a model of another feature-schema version is refused, never served.
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

from models.errors import NoModelError, SchemaMismatchError
from models.features import FEATURE_SCHEMA_VERSION

PIN_FILE = "PINNED"


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
