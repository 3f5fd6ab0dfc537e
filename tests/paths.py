"""Where the checkout is: for tests that read its committed files, without importing the
helpers that need the server extras (paho)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
