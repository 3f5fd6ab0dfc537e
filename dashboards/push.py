"""``isanfarm grafana push``: the datasource, dashboards and alert rules into a running Grafana.

For a Grafana that is not provisioned from files (a hosted one, or one a cooperative already
runs). It speaks Grafana's documented HTTP API with httpx: a client library for it
(grafana-client) brought niquests, which installs urllib3-future over urllib3 in the same
environment and broke every other user of urllib3. Everything is addressed by uid and
overwritten, so pushing twice leaves the same state as pushing once.

Alert rules go through the alerting provisioning API without ``X-Disable-Provenance``: Grafana
marks them provisioned (read-only in its UI), like the file-provisioned ones.

Tested against a fake Grafana only (tests/unit/test_dashboards_push.py): no real Grafana runs
where this was built.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from dashboards import alerts, build
from dashboards.cooperatives import CooperativeFarms, with_cooperatives

DATASOURCE_FILE = Path("provisioning/datasources/isanfarm.yaml")
TIMEOUT_S = 5.0
HINTS = {
    401: "check the service-account token (--token or ISANFARM_GRAFANA_TOKEN)",
    403: "the service account needs the Admin role (datasources, folders and alert rules)",
}


class PushError(RuntimeError):
    """Grafana refused something; the message says what and why."""


@dataclass
class PushReport:
    datasources: list[str] = field(default_factory=list)
    dashboards: list[str] = field(default_factory=list)
    alert_rules: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)


class Grafana:
    """Grafana's HTTP API: JSON in, and every refusal or unreachable server a PushError."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def exists(self, path: str) -> bool:
        response = self._request("GET", path)
        if response.status_code == 404:
            return False
        _check(response)
        return True

    def send(self, method: str, path: str, body: Mapping[str, Any]) -> None:
        _check(self._request(method, path, body))

    def _request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        try:
            return self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise PushError(
                f"cannot reach Grafana at {self._client.base_url}: {str(exc) or type(exc).__name__}"
            ) from None


def _check(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        message = response.json().get("message") or response.text
    except (ValueError, AttributeError):
        message = response.text or response.reason_phrase
    request = response.request
    hint = f" ({HINTS[response.status_code]})" if response.status_code in HINTS else ""
    raise PushError(
        f"Grafana answered {response.status_code} to {request.method} {request.url.path}: "
        f"{message}{hint}"
    )


def datasources(root: Path, environ: Mapping[str, str]) -> list[dict[str, Any]]:
    """The provisioned datasources, with ``${VAR}`` filled from ``environ`` as Grafana does."""
    text = (root / DATASOURCE_FILE).read_text(encoding="utf-8")

    # Grafana fills an unset variable with nothing; so do we, but refuse a source without a URL.
    filled = re.sub(r"\$\{(\w+)\}", lambda m: environ.get(m.group(1), ""), text)
    sources: list[dict[str, Any]] = yaml.safe_load(filled)["datasources"]
    for source in sources:
        if not source.get("url"):
            raise PushError(
                f"datasource {source['uid']!r} has no URL: set ISANFARM_INFLUX_URL "
                f"(and the other variables {DATASOURCE_FILE} uses)"
            )
    return sources


def push(
    api: Grafana,
    root: Path,
    environ: Mapping[str, str] | None = None,
    cooperatives: Sequence[CooperativeFarms] | None = None,
) -> PushReport:
    """``cooperatives`` (from the registry): the entries of every dashboard's cooperative
    variable; None leaves the committed "all farms" only."""
    report = PushReport()
    for source in datasources(root, os.environ if environ is None else environ):
        _upsert_datasource(api, source, report)
    _ensure_folder(api, report)
    for name, committed in build.load_dashboards(root).items():
        dashboard = (
            committed if cooperatives is None else with_cooperatives(committed, cooperatives)
        )
        dashboard.pop("id", None)
        body = {
            "dashboard": dashboard,
            "folderUid": alerts.FOLDER,
            "overwrite": True,
            "message": "isanfarm grafana push",
        }
        api.send("POST", "/api/dashboards/db", body)
        report.dashboards.append(name)
    for spec in alerts.specs():
        _upsert_rule(api, alerts.rule_json(alerts.build_rule(spec)), report)
    return report


def _upsert_datasource(api: Grafana, source: dict[str, Any], report: PushReport) -> None:
    body = {k: v for k, v in source.items() if k not in ("orgId", "version", "editable")}
    path = f"/api/datasources/uid/{source['uid']}"
    if api.exists(path):
        api.send("PUT", path, body)
    else:
        api.send("POST", "/api/datasources", body)
        report.created.append(f"datasource {source['uid']}")
    report.datasources.append(source["uid"])


def _ensure_folder(api: Grafana, report: PushReport) -> None:
    if not api.exists(f"/api/folders/{alerts.FOLDER}"):
        api.send("POST", "/api/folders", {"title": alerts.FOLDER, "uid": alerts.FOLDER})
        report.created.append(f"folder {alerts.FOLDER}")


def _upsert_rule(api: Grafana, rule: dict[str, Any], report: PushReport) -> None:
    uid = rule["uid"]
    path = f"/api/v1/provisioning/alert-rules/{uid}"
    if api.exists(path):
        api.send("PUT", path, rule)
    else:
        api.send("POST", "/api/v1/provisioning/alert-rules", rule)
        report.created.append(f"alert rule {uid}")
    report.alert_rules.append(uid)


def connect(url: str, token: str | None, transport: httpx.BaseTransport | None = None) -> Grafana:
    """A token (service account) or, without one, the user and password in the URL.

    ``url`` may carry a path (a Grafana served under ``/grafana``); ``transport`` is for tests."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise PushError(f"--url {url!r} is not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise PushError(f"--url {url!r} needs http:// or https:// and a host")
    auth: httpx.Auth | None = None
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif parsed.username or parsed.password:
        auth = httpx.BasicAuth(parsed.username, parsed.password)
    client = httpx.Client(
        base_url=parsed.copy_with(username=None, password=None),
        auth=auth,
        headers=headers,
        timeout=TIMEOUT_S,
        transport=transport,
    )
    return Grafana(client)
