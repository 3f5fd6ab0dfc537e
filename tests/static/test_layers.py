"""The house plan holds: imports only point down the layers in ``[tool.importlinter]``
(pyproject.toml), production code never imports the simulators or the tooling, and the wire
contract needs nothing beyond the standard library. See docs/architecture.md."""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_every_import_contract_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0, (
        "an import runs against the house plan: run `.venv/bin/lint-imports` to see which"
    )
