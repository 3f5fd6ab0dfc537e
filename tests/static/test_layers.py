"""The house plan holds: imports only point down the layers in ``[tool.importlinter]``
(pyproject.toml), production code never imports the simulators or the tooling, and the wire
contract needs nothing beyond the standard library. See docs/architecture.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: In a process of its own: import-linter configures logging as it starts, which disabled the
#: loggers of every module already imported into the test session.
LINT = (
    "import sys; from importlinter.cli import lint_imports; "
    "sys.exit(lint_imports(config_filename='pyproject.toml'))"
)


def test_every_import_contract_is_kept() -> None:
    result = subprocess.run(
        [sys.executable, "-c", LINT], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, (
        "an import runs against the house plan (`.venv/bin/lint-imports` shows the same):\n"
        + result.stdout[-3000:]
    )
