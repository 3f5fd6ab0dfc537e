"""``isanfarm grafana push``: the datasource, dashboards and alert rules into a running Grafana.

For a Grafana that is not provisioned from files (a hosted one, or one a cooperative already
runs). grafana-client (the maintained fork of grafana-api) speaks the HTTP API. Everything is
addressed by uid and overwritten, so pushing twice leaves the same state as pushing once.

Tested against a fake Grafana HTTP server only (tests/unit/test_dashboards_push.py): no real
Grafana runs where this was built.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from dashboards import alerts, build
from dashboards.cooperatives import CooperativeFarms, with_cooperatives

DATASOURCE_FILE = Path("provisioning/datasources/isanfarm.yaml")


class PushError(RuntimeError):
    """Grafana refused something; the message says what and why."""


@dataclass
class PushReport:
    datasources: list[str] = field(default_factory=list)
    dashboards: list[str] = field(default_factory=list)
    alert_rules: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)


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
    api: GrafanaApi,
    root: Path,
    environ: Mapping[str, str] | None = None,
    cooperatives: Sequence[CooperativeFarms] | None = None,
) -> PushReport:
    """``cooperatives`` (from the registry): the entries of every dashboard's cooperative
    variable; None leaves the committed "all farms" only."""
    report = PushReport()
    try:
        for source in datasources(root, os.environ if environ is None else environ):
            _upsert_datasource(api, source, report)
        _ensure_folder(api, report)
        for name, committed in build.load_dashboards(root).items():
            dashboard = (
                committed if cooperatives is None else with_cooperatives(committed, cooperatives)
            )
            dashboard.pop("id", None)
            api.dashboard.update_dashboard(
                {
                    "dashboard": dashboard,
                    "folderUid": alerts.FOLDER,
                    "overwrite": True,
                    "message": "isanfarm grafana push",
                }
            )
            report.dashboards.append(name)
        for spec in alerts.specs():
            _upsert_rule(api, alerts.rule_json(alerts.build_rule(spec)), report)
    except GrafanaException as exc:
        raise PushError(f"Grafana answered {exc.status_code}: {exc.message}") from None
    return report


def _upsert_datasource(api: GrafanaApi, source: dict[str, Any], report: PushReport) -> None:
    body = {k: v for k, v in source.items() if k not in ("orgId", "version", "editable")}
    if _exists(lambda: api.datasource.get_datasource_by_uid(source["uid"])):
        api.datasource.update_datasource_by_uid(source["uid"], body)
    else:
        api.datasource.create_datasource(body)
        report.created.append(f"datasource {source['uid']}")
    report.datasources.append(source["uid"])


def _ensure_folder(api: GrafanaApi, report: PushReport) -> None:
    if not _exists(lambda: api.folder.get_folder(alerts.FOLDER)):
        api.folder.create_folder(alerts.FOLDER, uid=alerts.FOLDER)
        report.created.append(f"folder {alerts.FOLDER}")


def _upsert_rule(api: GrafanaApi, rule: dict[str, Any], report: PushReport) -> None:
    uid = rule["uid"]
    if _exists(lambda: api.alertingprovisioning.get_alertrule(uid)):
        api.alertingprovisioning.update_alertrule(uid, rule)
    else:
        api.alertingprovisioning.create_alertrule(rule)
        report.created.append(f"alert rule {uid}")
    report.alert_rules.append(uid)


def _exists(get: Any) -> bool:
    try:
        get()
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            return False
        raise
    return True


def connect(url: str, token: str | None) -> GrafanaApi:
    """A token (service account) or, without one, the user and password in the URL."""
    api: GrafanaApi = GrafanaApi.from_url(url, credential=token)
    return api
