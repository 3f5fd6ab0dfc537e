"""The ``cooperative`` variable of every dashboard, filled with the registry's cooperatives.

The committed dashboards offer only "all farms": cooperatives live in the API's relational
registry, not in InfluxDB, and the committed JSON must not depend on one deployment's members.
``isanfarm grafana push --registry URL`` fills the variable at push time, one entry per
cooperative whose value is a regex over its farm ids (the farm variable filters on it).

Grafana reads a custom variable's entries from its query, ``text : value`` separated by commas,
a comma inside a text escaped as ``\\,``; the ``options`` are what a dashboard opens with before
Grafana recomputes them, so both are written.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from isanfarm.contract import check_id

VARIABLE = "cooperative"
ALL_FARMS_TEXT = "ทุกฟาร์ม / all farms"
ALL_FARMS_REGEX = ".*"
#: The value of a cooperative with no farm yet: matches no farm id (ids are never empty).
NO_FARM_REGEX = "^$"
ESCAPED_COMMA = "\\,"


@dataclass(frozen=True, slots=True)
class CooperativeFarms:
    name: str
    farm_ids: tuple[str, ...]

    @property
    def regex(self) -> str:
        """``^(farm-a|farm-b)$``. Contract ids hold only ``a-z``, ``0-9``, ``-`` and ``_``,
        none of them special in a regex; they are checked, not escaped, so the value stays
        readable in Grafana's URL and variable editor."""
        if not self.farm_ids:
            return NO_FARM_REGEX
        what = f"farm id of cooperative {self.name!r}"
        ids = sorted(check_id(farm_id, what) for farm_id in self.farm_ids)
        return f"^({'|'.join(ids)})$"


def options(cooperatives: Iterable[CooperativeFarms]) -> list[tuple[str, str]]:
    """``(text, value)`` of each entry: all farms first (what a dashboard opens with), then
    the cooperatives by name."""
    entries = [(ALL_FARMS_TEXT, ALL_FARMS_REGEX)]
    entries += [(c.name, c.regex) for c in sorted(cooperatives, key=lambda c: c.name)]
    return entries


def custom_query(entries: Sequence[tuple[str, str]]) -> str:
    """Grafana splits the query at commas not escaped as ``\\,``, trims each entry and splits it
    at its last ``" : "`` (values never hold one, so a name may)."""
    return ", ".join(
        _display(text).replace(",", ESCAPED_COMMA) + f" : {value}" for text, value in entries
    )


def _display(name: str) -> str:
    """One line, single spaces: a name from a CSV import may carry a line break."""
    return " ".join(name.split())


def with_cooperatives(
    dashboard: dict[str, Any], cooperatives: Iterable[CooperativeFarms]
) -> dict[str, Any]:
    """A copy of ``dashboard`` whose cooperative variable (if it has one) lists
    ``cooperatives``; "all farms" stays selected."""
    filled = copy.deepcopy(dashboard)
    entries = options(cooperatives)
    for variable in filled.get("templating", {}).get("list", []):
        if variable.get("name") != VARIABLE:
            continue
        variable["query"] = custom_query(entries)
        variable["options"] = [
            {"selected": value == ALL_FARMS_REGEX, "text": _display(text), "value": value}
            for text, value in entries
        ]
        variable["current"] = {"selected": True, "text": ALL_FARMS_TEXT, "value": ALL_FARMS_REGEX}
    return filled
