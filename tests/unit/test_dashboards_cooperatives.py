"""The cooperative variable, filled from the registry: what Grafana will list and filter by."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboards import build
from dashboards.cooperatives import (
    ALL_FARMS_REGEX,
    ALL_FARMS_TEXT,
    CooperativeFarms,
    custom_query,
    options,
    with_cooperatives,
)
from isanfarm.contract import ContractError
from tests.paths import ROOT

KORAT = CooperativeFarms("สหกรณ์การเกษตรโนนสูง, Korat", ("korat-002", "korat-001"))
SURIN = CooperativeFarms("Surin Wagyu : beef", ("surin-001",))
NEW = CooperativeFarms("Buriram (no farm yet)", ())


def grafana_entries(query: str) -> list[tuple[str, str]]:
    """How Grafana reads a custom variable's query (its scenes CustomVariable, read at
    github.com/grafana/scenes): split at commas not escaped as ``\\,``, unescape them, then
    ``text : value`` at the last ``" : "``, both trimmed; an entry without one is its own
    value."""
    entries = []
    for part in re.findall(r"(?:\\,|[^,])+", query):
        text = part.replace("\\,", ",")
        pair = re.match(r"^\s*(.+)\s:\s(.+)$", text)
        entries.append((pair[1].strip(), pair[2].strip()) if pair else (text.strip(),) * 2)
    return entries


def test_each_cooperative_filters_the_farm_variable_on_exactly_its_farms() -> None:
    assert grafana_entries(custom_query(options([SURIN, KORAT, NEW]))) == [
        (ALL_FARMS_TEXT, ALL_FARMS_REGEX),
        ("Buriram (no farm yet)", "^$"),
        ("Surin Wagyu : beef", "^(surin-001)$"),
        ("สหกรณ์การเกษตรโนนสูง, Korat", "^(korat-001|korat-002)$"),
    ]
    korat = re.compile(KORAT.regex)
    assert [
        f for f in ("korat-001", "korat-002", "korat-0011", "surin-001") if korat.search(f)
    ] == [
        "korat-001",
        "korat-002",
    ]
    assert not re.search(NEW.regex, "korat-001")


@given(st.text(min_size=1, max_size=40).filter(lambda name: name.strip()))
def test_any_cooperative_name_reads_back_as_one_entry(name: str) -> None:
    [everyone, entry] = grafana_entries(custom_query(options([CooperativeFarms(name, ("a-1",))])))
    assert everyone == (ALL_FARMS_TEXT, ALL_FARMS_REGEX)
    assert entry == (" ".join(name.split()), "^(a-1)$")


def test_a_farm_id_that_is_not_a_contract_id_is_refused_by_name() -> None:
    with pytest.raises(ContractError, match="farm id of cooperative 'Korat'"):
        _ = CooperativeFarms("Korat", ("korat.*",)).regex


def test_every_dashboard_gets_the_cooperatives_and_still_opens_on_all_farms() -> None:
    for dashboard in build.load_dashboards(ROOT / "grafana").values():
        filled = with_cooperatives(dashboard, [KORAT])
        variables = {v["name"]: v for v in filled["templating"]["list"]}
        if "cooperative" not in variables:
            continue
        cooperative = variables["cooperative"]
        assert [o["text"] for o in cooperative["options"]] == [ALL_FARMS_TEXT, KORAT.name]
        assert [o["selected"] for o in cooperative["options"]] == [True, False]
        assert cooperative["current"]["value"] == ALL_FARMS_REGEX
        unfilled = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert {n: v for n, v in variables.items() if n != "cooperative"} == {
            n: v for n, v in unfilled.items() if n != "cooperative"
        }
        assert len(unfilled["cooperative"]["options"]) == 1, "the committed file is not changed"
