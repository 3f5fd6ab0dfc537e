"""Fixtures every layer of tests may use. Nothing here starts a server or imports one's client:
a unit run needs neither (the servers' fixtures are in tests/integration/conftest.py)."""

from __future__ import annotations

import itertools

import pytest

_counter = itertools.count(1)


@pytest.fixture
def unique_id(request: pytest.FixtureRequest) -> str:
    """A contract-valid id no other test uses: isolates topics, sessions and databases."""
    name = request.node.name.lower()
    cleaned = "".join(c if c.isalnum() else "-" for c in name)[:40].strip("-")
    return f"t{next(_counter)}-{cleaned}"
