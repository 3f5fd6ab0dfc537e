"""``isanfarm grafana push`` against a fake Grafana HTTP API on loopback.

The fake keeps datasources, folders, dashboards and alert rules by uid and answers 404 for what
it does not have, as Grafana does. It is NOT a real Grafana: it checks that we send the right
requests and that pushing twice changes nothing, not that Grafana accepts every detail.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dashboards import build, push
from registry.db import make_engine, migrate, session_factory
from registry.models import Cooperative, Farm
from tests.helpers import ROOT
from tooling import cli

TOKEN = "glsa_test_token"
ENV = {"ISANFARM_INFLUX_URL": "http://influxdb:8086", "ISANFARM_INFLUX_DATABASE": "isanfarm"}


class FakeGrafana:
    def __init__(self) -> None:
        self.state: dict[str, dict[str, Any]] = {
            "datasources": {},
            "folders": {},
            "dashboards": {},
            "rules": {},
        }
        self.requests: list[tuple[str, str]] = []
        self.authorizations: set[str | None] = set()


def _handler(fake: FakeGrafana) -> type[BaseHTTPRequestHandler]:
    routes = {
        "/api/datasources/uid/": "datasources",
        "/api/folders/": "folders",
        "/api/v1/provisioning/alert-rules/": "rules",
    }

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length)) if length else None

        def _answer(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            fake.requests.append((self.command, self.path))
            fake.authorizations.add(self.headers.get("Authorization"))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._answer(401, {"message": "invalid API key"})
                return
            body = self._body()
            for prefix, kind in routes.items():
                if self.path.startswith(prefix):
                    uid = self.path[len(prefix) :]
                    store = fake.state[kind]
                    if self.command == "GET":
                        found = uid in store
                        self._answer(200 if found else 404, store.get(uid, {"message": "nf"}))
                    elif uid not in store:
                        self._answer(404, {"message": "not found"})
                    else:
                        store[uid] = body
                        self._answer(200, body)
                    return
            creates = {
                "/api/datasources": ("datasources", "uid"),
                "/api/folders": ("folders", "uid"),
                "/api/v1/provisioning/alert-rules": ("rules", "uid"),
            }
            if self.command == "POST" and self.path in creates:
                kind, key = creates[self.path]
                if body[key] in fake.state[kind]:
                    self._answer(409, {"message": "already exists"})
                    return
                fake.state[kind][body[key]] = body
                self._answer(200, body)
            elif self.command == "POST" and self.path == "/api/dashboards/db":
                uid = body["dashboard"]["uid"]
                if uid in fake.state["dashboards"] and not body.get("overwrite"):
                    self._answer(412, {"message": "version-mismatch"})
                    return
                fake.state["dashboards"][uid] = body
                self._answer(200, {"status": "success", "uid": uid})
            else:
                self._answer(404, {"message": f"no route {self.path}"})

        do_GET = do_POST = do_PUT = _handle  # noqa: N815 (http.server names)

    return Handler


@pytest.fixture
def grafana() -> Iterator[tuple[FakeGrafana, str]]:
    fake = FakeGrafana()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_push_uploads_datasource_dashboards_and_rules_by_uid(
    grafana: tuple[FakeGrafana, str],
) -> None:
    fake, url = grafana
    report = push.push(push.connect(url, TOKEN), ROOT / "grafana", ENV)

    assert fake.authorizations == {f"Bearer {TOKEN}"}
    source = fake.state["datasources"]["isanfarm-influxdb"]
    assert source["url"] == "http://influxdb:8086"
    assert source["jsonData"]["dbName"] == "isanfarm"
    committed = build.load_dashboards(ROOT / "grafana")
    assert set(fake.state["dashboards"]) == {d["uid"] for d in committed.values()}
    for stored in fake.state["dashboards"].values():
        assert stored["overwrite"] is True
        assert stored["folderUid"] == "isanfarm"
    assert set(fake.state["rules"]) == set(report.alert_rules)
    assert all(rule["folderUID"] == "isanfarm" for rule in fake.state["rules"].values())
    assert "folder isanfarm" in report.created


def test_a_second_push_overwrites_and_creates_nothing(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    api = push.connect(url, TOKEN)
    push.push(api, ROOT / "grafana", ENV)
    first = json.dumps(fake.state, sort_keys=True)
    fake.requests.clear()

    report = push.push(api, ROOT / "grafana", ENV)

    assert report.created == []
    assert json.dumps(fake.state, sort_keys=True) == first
    assert not [r for r in fake.requests if r[0] == "POST" and "dashboards" not in r[1]]


def test_a_refused_token_is_one_clear_error(grafana: tuple[FakeGrafana, str]) -> None:
    _, url = grafana
    with pytest.raises(push.PushError, match="401"):
        push.push(push.connect(url, "wrong"), ROOT / "grafana", ENV)


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
    grafana: tuple[FakeGrafana, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = grafana
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    registry = registry_with_members(tmp_path)
    argv = ["grafana", "--root", str(ROOT / "grafana"), "push", "--url", url, "--token", TOKEN]

    assert cli.main([*argv, "--registry", registry]) == 0

    for stored in fake.state["dashboards"].values():
        variables = {v["name"]: v for v in stored["dashboard"]["templating"]["list"]}
        assert [(o["text"], o["value"]) for o in variables["cooperative"]["options"]] == [
            ("ทุกฟาร์ม / all farms", ".*"),
            ("Korat Tapioca Co-op", "^(korat-001|korat-002)$"),
            ("Surin Wagyu", "^$"),
        ]


def test_a_registry_that_cannot_be_read_is_one_clear_error_and_nothing_is_pushed(
    grafana: tuple[FakeGrafana, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, url = grafana
    empty = f"sqlite:///{tmp_path}/never-migrated.sqlite3"
    argv = ["grafana", "--root", str(ROOT / "grafana"), "push", "--url", url, "--token", TOKEN]

    assert cli.main([*argv, "--registry", empty]) == 1

    assert "isanfarm registry migrate" in capsys.readouterr().err
    assert fake.requests == []


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
