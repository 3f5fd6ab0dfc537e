"""InfluxQL panel targets for grafana-foundation-sdk, and Grafana's macro expansion for tests.

The SDK ships typed queries for Prometheus, Loki and others but none for InfluxDB, so this is
the InfluxDB datasource's raw-InfluxQL target (``rawQuery``) as an SDK ``Dataquery``. It is
registered with the SDK's runtime, so ``Dashboard.from_json`` decodes our targets back into
this class instead of an untyped bag, and a target with a key Grafana's InfluxDB plugin does
not know is lost on the round trip (the schema check in the tests relies on that).

``expand`` does what Grafana does to a query before sending it to InfluxDB: it fills in the
template variables and the macros ``$timeFilter`` and ``$__interval``. The query tests and
``isanfarm grafana preview`` use it to run every panel's query against a real InfluxDB.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

#: The datasource every panel and alert reads: grafana/provisioning/datasources/isanfarm.yaml.
DATASOURCE_UID = "isanfarm-influxdb"
DATASOURCE_TYPE = "influxdb"
RESULT_FORMATS = ("time_series", "table")


def datasource() -> DataSourceRef:
    return DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)


class InfluxQLQuery(cogvariants.Dataquery):
    """One raw InfluxQL target of a panel, as Grafana's InfluxDB datasource stores it."""

    def __init__(
        self,
        ref_id: str = "A",
        query: str = "",
        result_format: str = "time_series",
        alias: str | None = None,
        hide: bool | None = None,
    ) -> None:
        if result_format not in RESULT_FORMATS:
            raise ValueError(f"result format {result_format!r} is not one of {RESULT_FORMATS}")
        self.ref_id = ref_id
        self.query = query
        self.result_format = result_format
        self.alias = alias
        self.hide = hide

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "datasource": datasource(),
            "query": self.query,
            "rawQuery": True,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            payload["alias"] = self.alias
        if self.hide is not None:
            payload["hide"] = self.hide
        return payload

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        known = {"refId", "datasource", "query", "rawQuery", "resultFormat", "alias", "hide"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"InfluxQL target has keys the datasource does not know: {unknown}")
        if data.get("rawQuery") is not True:
            raise ValueError("InfluxQL target must be a raw query (rawQuery: true)")
        return cls(
            ref_id=data["refId"],
            query=data["query"],
            result_format=data["resultFormat"],
            alias=data.get("alias"),
            hide=data.get("hide"),
        )


@dataclass(slots=True)
class Target(cogbuilder.Builder[cogvariants.Dataquery]):
    """Builder for ``InfluxQLQuery`` so it fits the SDK's ``with_target``."""

    query: str
    ref_id: str = "A"
    result_format: str = "time_series"
    alias: str | None = None

    def build(self) -> cogvariants.Dataquery:
        return InfluxQLQuery(self.ref_id, self.query, self.result_format, self.alias)


def register() -> None:
    """Make the SDK decode InfluxDB targets into ``InfluxQLQuery`` (idempotent)."""
    cogruntime.register_dataquery_variant(
        cogruntime.DataqueryConfig(
            identifier=DATASOURCE_TYPE, from_json_hook=InfluxQLQuery.from_json
        )
    )


# Grafana's variable syntaxes: $name, ${name} and [[name]] (no format suffixes are used here).
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]")


class UnknownVariableError(ValueError):
    """A query names a variable or macro that is neither a template variable nor expanded."""


def expand(
    query: str,
    variables: Mapping[str, str],
    start_ms: int,
    end_ms: int,
    interval: str,
) -> str:
    """The query as Grafana would send it: variables filled, ``$timeFilter``, ``$__interval``,
    ``$__interval_ms``, ``$__from`` and ``$__to`` expanded. ``variables`` values go in as they
    are: regex escaping is the caller's business (ids never need any)."""
    macros = {
        "timeFilter": f"time >= {start_ms}ms and time <= {end_ms}ms",
        "__interval": interval,
        "__interval_ms": str(_interval_ms(interval)),
        "__from": str(start_ms),
        "__to": str(end_ms),
    }

    def substitute(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name in macros:
            return macros[name]
        if name in variables:
            return variables[name]
        raise UnknownVariableError(f"query uses ${name}, which is neither a variable nor a macro")

    return _VARIABLE.sub(substitute, query)


_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def _interval_ms(interval: str) -> int:
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)", interval)
    if not match:
        raise ValueError(f"interval {interval!r} is not like 10m, 1h or 500ms")
    return int(match.group(1)) * _UNITS_MS[match.group(2)]


def auto_interval(start_ms: int, end_ms: int, max_points: int = 300) -> str:
    """A round interval giving at most about ``max_points`` buckets, as Grafana picks one."""
    steps = ["1m", "5m", "10m", "30m", "1h", "3h", "6h", "12h", "1d", "7d"]
    for step in steps:
        if (end_ms - start_ms) / _interval_ms(step) <= max_points:
            return step
    return steps[-1]


def query_variables(query: str) -> set[str]:
    """Names of the template variables a query uses (macros excluded)."""
    names = {next(g for g in m.groups() if g) for m in _VARIABLE.finditer(query)}
    return {n for n in names if n != "timeFilter" and not n.startswith("__")}
