"""``isanfarm grafana push`` against a fake Grafana HTTP API (httpx.MockTransport, no socket).

The fake keeps datasources, folders, dashboards and alert rules by uid and answers as Grafana's
HTTP API documents it: the status codes and the JSON bodies (``{"message": ...}`` on refusal, an
empty 404 for an unknown alert rule), a 400 for a dashboard or rule in a folder that does not
exist, and provenance "api" on a rule saved without ``X-Disable-Provenance``. It is NOT a real
Grafana: it checks that we send the right requests and that pushing twice changes nothing, not
that Grafana accepts every detail.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from dashboards import build, push
from registry.db import make_engine, migrate, session_factory
from registry.models import Cooperative, Farm
from tests.helpers import ROOT
from tooling import cli

TOKEN = "glsa_test_token"
URL = "https://grafana.test"
ENV = {"ISANFARM_INFLUX_URL": "http://influxdb:8086", "ISANFARM_INFLUX_DATABASE": "isanfarm"}
RULES = "/api/v1/provisioning/alert-rules"


class FakeGrafana:
    """The part of Grafana's HTTP API that a push uses, served under ``prefix``."""

    def __init__(self, accepts: str = f"Bearer {TOKEN}", prefix: str = "") -> None:
        self.accepts = accepts
        self.prefix = prefix
        self.state: dict[str, dict[str, Any]] = {
            "datasources": {},
            "folders": {},
            "dashboards": {},
            "rules": {},
        }
        self.provenance: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []
        self.authorizations: set[str | None] = set()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.startswith(f"{self.prefix}/api/"):
            return httpx.Response(404, text="Not found")
        path = request.url.path.removeprefix(self.prefix)
        self.requests.append((request.method, path))
        self.authorizations.add(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != self.accepts:
            body = {"message": "Invalid API key", "messageId": "api-key.invalid", "statusCode": 401}
            return httpx.Response(401, json=body)
        sent = json.loads(request.content) if request.content else None
        route = self._route(request.method, path)
        if route is None:
            return httpx.Response(404, json={"message": "Not found"})
        return route(path.rsplit("/", 1)[-1], sent, request)

    def _route(self, method: str, path: str) -> Callable[..., httpx.Response] | None:
        routes: dict[tuple[str, str], Callable[..., httpx.Response]] = {
            ("GET", "/api/datasources/uid/"): self._get_datasource,
            ("PUT", "/api/datasources/uid/"): self._put_datasource,
            ("POST", "/api/datasources"): self._post_datasource,
            ("GET", "/api/folders/"): self._get_folder,
            ("POST", "/api/folders"): self._post_folder,
            ("POST", "/api/dashboards/db"): self._post_dashboard,
            ("GET", f"{RULES}/"): self._get_rule,
            ("PUT", f"{RULES}/"): self._put_rule,
            ("POST", RULES): self._post_rule,
        }
        for (verb, route), answer in routes.items():
            exact = not route.endswith("/")
            if verb == method and (path == route if exact else path.startswith(route)):
                return answer
        return None

    def _get_datasource(self, uid: str, _: Any, __: httpx.Request) -> httpx.Response:
        if uid not in self.state["datasources"]:
            return httpx.Response(404, json={"message": "Data source not found"})
        return httpx.Response(200, json={"id": 1, "orgId": 1, **self.state["datasources"][uid]})

    def _put_datasource(self, uid: str, sent: Any, _: httpx.Request) -> httpx.Response:
        if uid not in self.state["datasources"]:
            return httpx.Response(404, json={"message": "Data source not found"})
        self.state["datasources"][uid] = sent
        return httpx.Response(200, json=self._datasource_answer(sent, "Datasource updated"))

    def _post_datasource(self, _: str, sent: Any, __: httpx.Request) -> httpx.Response:
        if any(s["name"] == sent["name"] for s in self.state["datasources"].values()):
            message = "data source with the same name already exists"
            return httpx.Response(409, json={"message": message})
        self.state["datasources"][sent["uid"]] = sent
        return httpx.Response(200, json=self._datasource_answer(sent, "Datasource added"))

    @staticmethod
    def _datasource_answer(sent: dict[str, Any], message: str) -> dict[str, Any]:
        return {"datasource": {"id": 1, **sent}, "id": 1, "message": message, "name": sent["name"]}

    def _get_folder(self, uid: str, _: Any, __: httpx.Request) -> httpx.Response:
        if uid not in self.state["folders"]:
            return httpx.Response(404, json={"message": "folder not found", "status": "not-found"})
        return httpx.Response(
            200, json={"id": 1, "url": f"/dashboards/f/{uid}/", **self._folder(uid)}
        )

    def _post_folder(self, _: str, sent: Any, __: httpx.Request) -> httpx.Response:
        if sent["uid"] in self.state["folders"]:
            message = "a folder or dashboard with the same uid already exists"
            return httpx.Response(409, json={"message": message})
        self.state["folders"][sent["uid"]] = sent
        return httpx.Response(200, json={"id": 1, **self._folder(sent["uid"])})

    def _folder(self, uid: str) -> dict[str, Any]:
        return {"uid": uid, "title": self.state["folders"][uid]["title"], "version": 1}

    def _post_dashboard(self, _: str, sent: Any, __: httpx.Request) -> httpx.Response:
        uid = sent["dashboard"]["uid"]
        if sent.get("folderUid") not in self.state["folders"]:
            return httpx.Response(400, json={"message": "folder not found", "status": "not-found"})
        if uid in self.state["dashboards"] and not sent.get("overwrite"):
            message = "The dashboard has been changed by someone else"
            return httpx.Response(412, json={"message": message, "status": "version-mismatch"})
        self.state["dashboards"][uid] = sent
        answer = {"id": 1, "uid": uid, "url": f"/d/{uid}/x", "status": "success", "version": 1}
        return httpx.Response(200, json={**answer, "slug": "x"})

    def _get_rule(self, uid: str, _: Any, __: httpx.Request) -> httpx.Response:
        if uid not in self.state["rules"]:
            return httpx.Response(404)  # Grafana answers an unknown rule with an empty body
        return httpx.Response(200, json=self._rule(uid))

    def _put_rule(self, uid: str, sent: Any, request: httpx.Request) -> httpx.Response:
        if uid not in self.state["rules"]:
            return httpx.Response(404)
        return self._save_rule(200, sent, request)

    def _post_rule(self, _: str, sent: Any, request: httpx.Request) -> httpx.Response:
        if sent["folderUID"] not in self.state["folders"]:
            return httpx.Response(400, json={"message": "folder does not exist"})
        if sent["uid"] in self.state["rules"]:
            return httpx.Response(409, json={"message": "rule with the same uid already exists"})
        return self._save_rule(201, sent, request)

    def _save_rule(self, status: int, sent: Any, request: httpx.Request) -> httpx.Response:
        self.state["rules"][sent["uid"]] = sent
        provenance = "" if request.headers.get("X-Disable-Provenance") else "api"
        self.provenance[sent["uid"]] = provenance
        return httpx.Response(status, json=self._rule(sent["uid"]))

    def _rule(self, uid: str) -> dict[str, Any]:
        return {"id": 1, **self.state["rules"][uid], "provenance": self.provenance[uid]}


@pytest.fixture
def grafana() -> FakeGrafana:
    return FakeGrafana()


@pytest.fixture
def cli_grafana(grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch) -> FakeGrafana:
    """The CLI's own ``connect(url, token)``, its requests answered by the fake."""
    real = push.connect

    def connect(url: str, token: str | None) -> push.Grafana:
        return real(url, token, transport=grafana.transport())

    monkeypatch.setattr(push, "connect", connect)
    return grafana


def test_push_uploads_datasource_dashboards_and_rules_by_uid(grafana: FakeGrafana) -> None:
    report = push.push(push.connect(URL, TOKEN, grafana.transport()), ROOT / "grafana", ENV)

    assert grafana.authorizations == {f"Bearer {TOKEN}"}
    source = grafana.state["datasources"]["isanfarm-influxdb"]
    assert source["url"] == "http://influxdb:8086"
    assert source["jsonData"]["dbName"] == "isanfarm"
    assert not {"orgId", "version", "editable"} & set(source)
    committed = build.load_dashboards(ROOT / "grafana")
    assert set(grafana.state["dashboards"]) == {d["uid"] for d in committed.values()}
    for stored in grafana.state["dashboards"].values():
        assert stored["overwrite"] is True
        assert stored["folderUid"] == "isanfarm"
    assert report.dashboards == list(committed)
    assert set(grafana.state["rules"]) == set(report.alert_rules)
    assert len(report.alert_rules) >= 1
    assert all(rule["folderUID"] == "isanfarm" for rule in grafana.state["rules"].values())
    assert sorted(report.created) == sorted(
        ["datasource isanfarm-influxdb", "folder isanfarm"]
        + [f"alert rule {uid}" for uid in report.alert_rules]
    )


def test_pushed_rules_are_provisioned_like_file_provisioned_ones(grafana: FakeGrafana) -> None:
    """No ``X-Disable-Provenance``: Grafana keeps them read-only in its UI (docs/grafana.md)."""
    report = push.push(push.connect(URL, TOKEN, grafana.transport()), ROOT / "grafana", ENV)

    assert grafana.provenance == dict.fromkeys(report.alert_rules, "api")


def test_a_second_push_overwrites_and_creates_nothing(grafana: FakeGrafana) -> None:
    api = push.connect(URL, TOKEN, grafana.transport())
    push.push(api, ROOT / "grafana", ENV)
    first = json.dumps(grafana.state, sort_keys=True)
    grafana.requests.clear()

    report = push.push(api, ROOT / "grafana", ENV)

    assert report.created == []
    assert json.dumps(grafana.state, sort_keys=True) == first
    assert not [r for r in grafana.requests if r[0] == "POST" and "dashboards" not in r[1]]
    assert ("PUT", "/api/datasources/uid/isanfarm-influxdb") in grafana.requests
    assert {("PUT", f"{RULES}/{uid}") for uid in report.alert_rules} <= set(grafana.requests)


def test_a_refused_token_is_one_clear_error(grafana: FakeGrafana) -> None:
    with pytest.raises(push.PushError, match=r"401 .*Invalid API key.*--token"):
        push.push(push.connect(URL, "wrong", grafana.transport()), ROOT / "grafana", ENV)


def test_a_refusal_names_the_request_and_grafanas_reason() -> None:
    body = {"title": "Access denied", "message": "You'll need additional permissions"}
    transport = httpx.MockTransport(lambda _: httpx.Response(403, json=body))

    with pytest.raises(push.PushError) as refused:
        push.push(push.connect(URL, TOKEN, transport), ROOT / "grafana", ENV)

    assert str(refused.value) == (
        "Grafana answered 403 to GET /api/datasources/uid/isanfarm-influxdb: "
        "You'll need additional permissions "
        f"({push.HINTS[403]})"
    )


def test_an_unreachable_grafana_is_one_clear_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(
        push.PushError, match=r"cannot reach Grafana at https://grafana.test.*refused"
    ):
        push.push(push.connect(URL, TOKEN, httpx.MockTransport(refuse)), ROOT / "grafana", ENV)


def test_without_a_token_the_user_and_password_in_the_url_are_used_under_its_path() -> None:
    basic = "Basic " + base64.b64encode(b"admin:s3cret").decode()
    fake = FakeGrafana(accepts=basic, prefix="/grafana")
    url = "https://admin:s3cret@grafana.test/grafana"

    report = push.push(push.connect(url, None, fake.transport()), ROOT / "grafana", ENV)

    assert fake.authorizations == {basic}
    assert report.created, "every request reached the fake's routes under /grafana"
    assert all(path.startswith("/api/") for _, path in fake.requests)


@pytest.mark.parametrize("url", ["grafana.example.org", "ftp://grafana.example.org", "http://"])
def test_a_url_without_http_and_a_host_is_refused_before_any_request(url: str) -> None:
    with pytest.raises(push.PushError, match="http:// or https://"):
        push.connect(url, TOKEN)


def test_a_missing_datasource_variable_is_named() -> None:
    with pytest.raises(push.PushError, match="ISANFARM_INFLUX_URL"):
        push.datasources(ROOT / "grafana", {})


def registry_with_members(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/registry.sqlite3"
    engine = make_engine(url)
    migrate(engine)
    with session_factory(engine)() as session, session.begin():
        session.add_all(
            [
                Cooperative(
                    id="korat-coop", name="Korat Tapioca Co-op", province="Nakhon Ratchasima"
                ),
                Cooperative(id="surin-coop", name="Surin Wagyu", province="Surin"),
                Farm(id="korat-002", cooperative_id="korat-coop", name="B", district=None),
                Farm(id="korat-001", cooperative_id="korat-coop", name="A", district=None),
            ]
        )
    engine.dispose()
    return url


def test_push_with_the_registry_lists_its_cooperatives_in_every_dashboard(
    cli_grafana: FakeGrafana, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    registry = registry_with_members(tmp_path)
    argv = ["grafana", "--root", str(ROOT / "grafana"), "push", "--url", URL, "--token", TOKEN]

    assert cli.main([*argv, "--registry", registry]) == 0

    assert cli_grafana.authorizations == {f"Bearer {TOKEN}"}
    assert cli_grafana.state["dashboards"], "the CLI pushed nothing"
    for stored in cli_grafana.state["dashboards"].values():
        variables = {v["name"]: v for v in stored["dashboard"]["templating"]["list"]}
        assert [(o["text"], o["value"]) for o in variables["cooperative"]["options"]] == [
            ("ทุกฟาร์ม / all farms", ".*"),
            ("Korat Tapioca Co-op", "^(korat-001|korat-002)$"),
            ("Surin Wagyu", "^$"),
        ]


def test_a_refusal_through_the_cli_is_one_line_on_stderr_and_exit_1(
    cli_grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    argv = ["grafana", "--root", str(ROOT / "grafana"), "push", "--url", URL, "--token", "wrong"]

    assert cli.main(argv) == 1

    err = capsys.readouterr().err
    assert err.startswith("isanfarm grafana push: Grafana answered 401")
    assert err.count("\n") == 1


def test_a_registry_that_cannot_be_read_is_one_clear_error_and_nothing_is_pushed(
    cli_grafana: FakeGrafana, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = f"sqlite:///{tmp_path}/never-migrated.sqlite3"
    argv = ["grafana", "--root", str(ROOT / "grafana"), "push", "--url", URL, "--token", TOKEN]

    assert cli.main([*argv, "--registry", empty]) == 1

    assert "isanfarm registry migrate" in capsys.readouterr().err
    assert cli_grafana.requests == []


def test_export_writes_every_dashboard_with_the_cooperatives_for_a_file_provisioned_grafana(
    tmp_path: Path,
) -> None:
    registry = registry_with_members(tmp_path)
    out = tmp_path / "dashboards"
    argv = ["grafana", "--root", str(ROOT / "grafana"), "export", "--registry", registry]

    assert cli.main([*argv, "--out", str(out)]) == 0

    committed = build.load_dashboards(ROOT / "grafana")
    exported = {
        path.stem: json.loads(path.read_text(encoding="utf-8")) for path in out.glob("*.json")
    }
    assert set(exported) == set(committed)
    for name, dashboard in exported.items():
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        if "cooperative" in variables:
            texts = [o["text"] for o in variables["cooperative"]["options"]]
            assert texts == ["ทุกฟาร์ม / all farms", "Korat Tapioca Co-op", "Surin Wagyu"], name
    assert build.stale(ROOT / "grafana") == [], "the committed files are left as they were"
