"""A small client for InfluxDB's v1 HTTP API, the one all InfluxDB generations serve.

Why not influxdb-client's own transport: it speaks the v2 API (/api/v2/write), which Debian's
InfluxDB 1.6 does not have, and 3.x serves v1 /write and /query for InfluxQL anyway. Line
protocol is our own (``isanfarm.lineprotocol``) and is sent with httpx.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

from isanfarm.contract import ID_PATTERN
from isanfarm.settings import InfluxSettings

#: What InfluxDB answers when it refuses the points themselves (bad line protocol, a field
#: type conflict, a body over its size limit). Anything else a write meets (401/403 after a
#: password change, 404 for a database not created yet, 5xx, overload) is about the server,
#: and the same points go in once it is fixed.
REFUSED_DATA = frozenset({400, 413})


class InfluxError(Exception):
    """A write or query failed. ``retriable`` is False when resending the same data cannot help
    (the database rejected the points themselves), True for outages, overload, and a server
    that is misconfigured (credentials, a missing database) until someone fixes it."""

    def __init__(self, message: str, retriable: bool) -> None:
        super().__init__(message)
        self.retriable = retriable


class InfluxV1:
    def __init__(self, settings: InfluxSettings) -> None:
        self.settings = settings
        headers = {}
        params: dict[str, str] = {}
        if settings.token is not None:
            headers["Authorization"] = f"Token {settings.token.get_secret_value()}"
        if settings.username:
            params["u"] = settings.username
            params["p"] = settings.password.get_secret_value() if settings.password else ""
        self._auth_params = params
        self._http = httpx.Client(
            base_url=settings.url, headers=headers, timeout=settings.timeout_s
        )

    def close(self) -> None:
        self._http.close()

    def ping(self) -> bool:
        try:
            return self._http.get("/ping").status_code == 204
        except httpx.HTTPError:
            return False

    def create_database(self) -> None:
        """Idempotent: InfluxDB 1.x answers success for an existing database."""
        self.execute(f'CREATE DATABASE "{self.settings.database}"')

    def write(self, lines: Sequence[str], precision: str = "ns") -> None:
        if not lines:
            return
        params = {"db": self.settings.database, "precision": precision, **self._auth_params}
        try:
            response = self._http.post("/write", params=params, content="\n".join(lines).encode())
        except httpx.HTTPError as exc:
            raise InfluxError(
                f"write to {self.settings.url} failed: {exc}", retriable=True
            ) from None
        if response.status_code != 204:
            raise InfluxError(
                f"write rejected ({response.status_code}): {_error_text(response)}",
                retriable=response.status_code not in REFUSED_DATA,
            )

    def query(
        self, statement: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run InfluxQL; returns one result per statement. Values go in ``params``, bound as
        ``$name`` by the server, never formatted into the statement.

        The statement travels in a form-encoded POST body, not the URL: a regex of a few
        thousand ids (``ids_regex``) is longer than httpx accepts in a query string."""
        form = self._query_form(statement, params)
        try:
            response = self._http.post("/query", params=self._auth_params, data=form)
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            # InvalidURL (and httpx's ValueErrors) are not HTTPErrors: convert them too, so a
            # caller never sees a crash from the transport.
            raise InfluxError(
                f"query to {self.settings.url} failed: {type(exc).__name__}: {exc}",
                retriable=True,
            ) from None
        return _results(response)

    def _query_form(self, statement: str, params: Mapping[str, Any] | None) -> dict[str, str]:
        """``q``, ``db``, ``epoch`` and bound ``params`` as InfluxDB 1.x reads them from a form
        body; the credentials stay in the URL, the only place 1.x looks for ``u`` and ``p``."""
        form = {"db": self.settings.database, "q": statement, "epoch": "ms"}
        if params:
            form["params"] = json.dumps(dict(params))
        return form

    def execute(self, statement: str) -> None:
        """Run InfluxQL that changes something (SELECT INTO, CREATE, ALTER): POST, as the
        v1 API requires for anything but reads."""
        params = {"q": statement, "db": self.settings.database, **self._auth_params}
        try:
            response = self._http.post("/query", params=params)
        except httpx.HTTPError as exc:
            raise InfluxError(
                f"query to {self.settings.url} failed: {exc}", retriable=True
            ) from None
        _results(response)


def series_rows(result: Mapping[str, Any]) -> Iterable[tuple[dict[str, str], dict[str, Any]]]:
    """Flatten one statement's result into (tags, row-as-dict) pairs."""
    for series in result.get("series", []):
        columns = series["columns"]
        for values in series["values"]:
            yield series.get("tags", {}), dict(zip(columns, values, strict=True))


def _results(response: httpx.Response) -> list[dict[str, Any]]:
    if response.status_code != 200:
        raise InfluxError(
            f"query failed ({response.status_code}): {_error_text(response)}",
            retriable=response.status_code >= 500,
        )
    try:
        results: list[dict[str, Any]] = response.json().get("results", [])
    except ValueError:  # a proxy's error page, say
        raise InfluxError(
            f"query answer is not InfluxDB's JSON: {response.text[:200]!r}", retriable=True
        ) from None
    for result in results:
        if "error" in result:
            raise InfluxError(f"query failed: {result['error']}", retriable=False)
    return results


def _error_text(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.text))
    except ValueError:
        return response.text[:500]


def ids_regex(ids: Sequence[str]) -> str:
    """An InfluxQL regex matching exactly these ids; only valid ids (``ID_PATTERN``: nothing
    a regex or a query could misread) are accepted."""
    for item in ids:
        if not ID_PATTERN.fullmatch(item):
            raise ValueError(f"{item!r} is not an id")
    return "/^(" + "|".join(ids) + ")$/"
