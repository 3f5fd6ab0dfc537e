"""The agent's state files (outbox, sequence mark, a rain gauge's pending tips): written so
that a power cut leaves the old content or the new, never half; set aside, never deleted, when
damaged, under a name that says when, so an operator can recover from them later."""

from __future__ import annotations

import os
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path


def write_durably(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file, fsync it, rename it over ``path`` and fsync the
    directory; OSError (a full disk, say) leaves ``path`` as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="ascii") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError:
        with suppress(OSError):  # a half-written file would only take more space
            tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """A rename is durable only once its directory is: without this a power cut may bring
    back the old file. Platforms that cannot open a directory (Windows) have nothing to sync."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def aside_path(path: Path) -> Path:
    """``<name>.corrupt-<UTC time>``, numbered if two files are set aside in one second."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    number = 1
    while aside.exists():
        number += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}.{number}")
    return aside
