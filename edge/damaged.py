"""Naming a damaged state file that is set aside (outbox, sequence mark): kept, never deleted,
under a name that says when, so an operator can recover from it later."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path


def aside_path(path: Path) -> Path:
    """``<name>.corrupt-<UTC time>``, numbered if two files are set aside in one second."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    number = 1
    while aside.exists():
        number += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}.{number}")
    return aside
