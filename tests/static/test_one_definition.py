"""Each domain fact is written once: rai per hectare and Thailand's UTC offset in
``agronomy/units.py``, the THI formula in ``agronomy/thi.py``. Everywhere else imports them.

A second copy drifts (the API and Grafana once disagreed on when soil is dry), so this reads
the production packages' syntax trees and names the file and line of any copy."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "isanfarm",
    "agronomy",
    "edge",
    "ingest",
    "registry",
    "models",
    "simulators",
    "api",
    "dashboards",
    "notify",
    "tooling",
)
RAI = "rai per hectare"
OFFSET = "Thai UTC offset"
THI = "THI formula"
#: Where each fact lives, relative to the repository root.
HOMES = {RAI: "agronomy/units.py", OFFSET: "agronomy/units.py", THI: "agronomy/thi.py"}

_HOUR_MS = 3_600_000
_OFFSET_MS = 7 * _HOUR_MS
_THI_COEFFICIENTS = {0.8, 14.4, 46.4}
#: UTC+7 in InfluxQL (``time(1d, -7h)``) or ISO 8601 (``+07:00``).
_OFFSET_TEXT = re.compile(r"-7h\b|[+-]07:?00\b")
_SCOPES = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def facts(source: str) -> Iterator[tuple[str, int]]:
    """(fact, line) for every place ``source`` writes one of the facts itself."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        yield from _names(node)
        yield from _offset(node)
        if isinstance(node, ast.Constant) and id(node) not in docstrings:
            yield from _literal(node)
        if isinstance(node, _SCOPES):
            numbers = {
                c.value
                for c in _own_nodes(node)
                if isinstance(c, ast.Constant) and isinstance(c.value, float)
            }
            if _THI_COEFFICIENTS.issubset(numbers):
                yield THI, getattr(node, "lineno", 1)


def _names(node: ast.AST) -> Iterator[tuple[str, int]]:
    if isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if any(isinstance(t, ast.Name) and t.id == "RAI_PER_HA" for t in targets):
            yield RAI, node.lineno
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "thi":
        yield THI, node.lineno


def _offset(node: ast.AST) -> Iterator[tuple[str, int]]:
    """``timedelta(hours=7)``, ``7 * 3_600_000`` or ``7 * HOUR_MS``."""
    if isinstance(node, ast.Call) and any(
        k.arg == "hours" and _is(k.value, 7) for k in node.keywords
    ):
        yield OFFSET, node.lineno
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        for seven, hour in ((node.left, node.right), (node.right, node.left)):
            named_hour = isinstance(hour, ast.Name | ast.Attribute) and _name(hour) == "HOUR_MS"
            if _is(seven, 7) and (named_hour or _is(hour, _HOUR_MS)):
                yield OFFSET, node.lineno


def _literal(node: ast.Constant) -> Iterator[tuple[str, int]]:
    value = node.value
    if isinstance(value, float) and value == 6.25:
        yield RAI, node.lineno
    if isinstance(value, int) and not isinstance(value, bool) and value == _OFFSET_MS:
        yield OFFSET, node.lineno
    if isinstance(value, str):
        if _OFFSET_TEXT.search(value) or value == "Asia/Bangkok":
            yield OFFSET, node.lineno
        if "14.4" in value and "46.4" in value:
            yield THI, node.lineno


def _is(node: ast.expr, number: int) -> bool:
    return isinstance(node, ast.Constant) and node.value == number


def _name(node: ast.Name | ast.Attribute) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr


def _own_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """The nodes of ``scope`` outside the functions and classes nested in it."""
    for child in ast.iter_child_nodes(scope):
        yield child
        if not isinstance(child, _SCOPES):
            yield from _own_nodes(child)


def _docstrings(tree: ast.Module) -> set[int]:
    """Prose about a fact (a docstring citing the formula) is not a copy of it."""
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, _SCOPES) and isinstance(body, list) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def production_files() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def test_each_fact_is_defined_only_in_its_home() -> None:
    copies = set()
    for path in production_files():
        relative = path.relative_to(ROOT).as_posix()
        for fact, line in facts(path.read_text(encoding="utf-8")):
            if HOMES[fact] != relative:
                copies.add(f"{relative}:{line}: {fact}: import it from {HOMES[fact]}")
    assert not copies, "a fact is written again outside its home:\n" + "\n".join(sorted(copies))


@pytest.mark.parametrize(
    ("source", "fact"),
    [
        ("RAI_PER_HA = 6.25", RAI),
        ("area_ha = area_rai / 6.25", RAI),
        ("ICT = timedelta(hours=7)", OFFSET),
        ("BANGKOK = timezone(timedelta(hours=7))", OFFSET),
        ("ICT_MS = 7 * 3_600_000", OFFSET),
        ("LOCAL_OFFSET_MS = 7 * HOUR_MS", OFFSET),
        ("midnight = day * DAY_MS - units.HOUR_MS * 7", OFFSET),
        ("OFFSET = -25_200_000", OFFSET),
        ("q = f'SELECT 1 GROUP BY time(1d, -7h), {x}'", OFFSET),
        ("stamp = '2026-01-01T00:00:00+07:00'", OFFSET),
        ("def thi(t, rh):\n    return t", THI),
        ("def index(t, rh):\n    return 0.8 * t + rh / 100 * (t - 14.4) + 46.4", THI),
        ("heat = lambda t, rh: 0.8 * t + rh / 100 * (t - 14.4) + 46.4", THI),
        ('EXPR = \'0.8 * "T" + "RH" / 100 * ("T" - 14.4) + 46.4\'', THI),
    ],
)
def test_a_copy_of_a_fact_is_found(source: str, fact: str) -> None:
    assert {found for found, _ in facts(source)} == {fact}


@pytest.mark.parametrize(
    "source",
    [
        "from agronomy.units import RAI_PER_HA\nt_rai = t_ha / RAI_PER_HA",
        "THAI_UTC_OFFSET = timedelta(hours=THAI_UTC_OFFSET_HOURS)",
        "window = timedelta(hours=6)",
        "storm_end = storm_start + 6 * HOUR_MS",
        "q = f'GROUP BY time(1d, -{THAI_UTC_OFFSET_HOURS}h)'",
        "charge = 0.8 * radiation_w_m2 / 1000",
        'def thi_expression():\n    """THI = 0.8 T + (RH/100)(T - 14.4) + 46.4."""',
    ],
)
def test_an_import_a_use_or_a_citation_is_not_a_copy(source: str) -> None:
    assert list(facts(source)) == []
