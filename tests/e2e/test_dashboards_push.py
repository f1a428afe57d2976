"""`boomerang dashboards push` against a Grafana HTTP API on a real socket.

The server here is a stand-in, not Grafana: Grafana cannot run on this machine (NOTES.md:
no Docker engine runs, and no Grafana package is reachable). It implements only the
endpoints grafana-client calls for a push (frontend settings, which is its health check;
folders, data sources and dashboards by uid; POST /api/dashboards/db), answering with the
status codes, error messages and JSON shapes of Grafana 11's HTTP API docs and handlers
(pkg/api/datasources.go, the dashboard and folder APIs), keeps its state in memory, and
answers 401 "Invalid API key" to any other Bearer token, as Grafana does. A request it
does not implement is recorded and fails the test, so a client call this file does not
know about cannot pass unnoticed. The CLI runs as a subprocess, as a user runs it."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
import yaml
from support import processes
from support.common import ROOT, free_port
from support.servers import serve_http

from dashboards.model import DATASOURCE_UID

# What this module tests does not touch the state database (tests/e2e/conftest.py).
STATE_ENGINES = ("sqlite",)

TOKEN = "glsa_test_service_account_token"
GRAFANA_VERSION = "11.6.0"
SUB_PATH = "/grafana"
JSON_DIR = ROOT / "dashboards" / "json"
PROVISIONING = ROOT / "dashboards" / "provisioning" / "datasources" / "influxdb.yaml"
BOARDS = {board["uid"]: board for board in (json.loads(path.read_text(encoding="utf-8"))
                                             for path in sorted(JSON_DIR.glob("*.json")))}


@dataclass
class GrafanaStandIn:
    """State of one organisation, and every request that changed it."""

    url: str
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)  # with "secure"
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)  # data, folderUid
    writes: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    next_id: int = 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def datasource_dto(self, ds: dict[str, Any]) -> dict[str, Any]:
        """What GET /api/datasources/uid/:uid shows (convertModelToDtos): never a secret,
        only which secure fields are set."""
        dto = {key: value for key, value in ds.items() if key != "secure"}
        dto["secureJsonFields"] = {key: True for key, value in ds["secure"].items() if value}
        return dto

    def folder_dto(self, folder: dict[str, Any]) -> dict[str, Any]:
        slug = re.sub(r"[^a-z0-9]+", "-", folder["title"].lower()).strip("-")
        return {**folder, "url": f"/dashboards/f/{folder['uid']}/{slug}", "hasAcl": False,
                "canSave": True, "canEdit": True, "canAdmin": True, "canDelete": True,
                "createdBy": "sa-boomerang", "created": "2026-11-02T10:00:00Z",
                "updatedBy": "sa-boomerang", "updated": "2026-11-02T10:00:00Z"}


DATASOURCE_FIELDS = {  # UpdateDataSourceCommand: a field not sent becomes its zero value
    "name": "", "type": "", "access": "", "url": "", "user": "", "database": "",
    "basicAuth": False, "basicAuthUser": "", "withCredentials": False, "isDefault": False,
    "jsonData": {},
}


def _route(state: GrafanaStandIn, method: str, path: str,
           body: Any) -> tuple[int, Any]:
    if method == "GET" and path == "/api/frontend/settings":
        return 200, {"buildInfo": {"version": GRAFANA_VERSION, "commit": "0000000",
                                   "edition": "Open Source", "env": "production"},
                     "defaultDatasource": "-- Grafana --", "datasources": {}}

    if match := re.fullmatch(r"/api/folders/([^/]+)", path):
        uid = match[1]
        folder = state.folders.get(uid)
        if folder is None:
            return 404, {"message": "folder not found", "status": "not-found"}
        if method == "GET":
            return 200, state.folder_dto(folder)
        if method == "PUT":
            if not body.get("overwrite") and body.get("version") != folder["version"]:
                return 412, {"message": "The folder has been changed by someone else",
                             "status": "version-mismatch"}
            folder.update(title=body.get("title") or folder["title"],
                          version=folder["version"] + 1)
            return 200, state.folder_dto(folder)
    if method == "POST" and path == "/api/folders":
        uid = body.get("uid") or f"f{state.next_id}"
        if uid in state.folders:
            return 409, {"message": "a folder with the same uid already exists"}
        if not body.get("title"):
            return 400, {"message": "folder title cannot be empty"}
        state.folders[uid] = {"id": state.new_id(), "uid": uid, "title": body["title"],
                              "version": 1}
        return 200, state.folder_dto(state.folders[uid])

    if match := re.fullmatch(r"/api/datasources/uid/([^/]+)", path):
        ds = state.datasources.get(match[1])
        if ds is None:
            return 404, {"message": "Data source not found"}
        if method == "GET":
            return 200, state.datasource_dto(ds)
        if method == "PUT":
            if ds["readOnly"]:
                return 403, {"message": "Cannot update read-only data source"}
            if any(other["name"] == body.get("name") and other is not ds
                   for other in state.datasources.values()):
                return 409, {"message": "Failed to update datasource: data source with the "
                             "same name already exists"}
            # Secrets not sent are kept (fillWithSecureJSONData); everything else replaced.
            secure = {**ds["secure"], **(body.get("secureJsonData") or {})}
            ds.update({key: body.get(key, zero) for key, zero in DATASOURCE_FIELDS.items()})
            ds.update(secure=secure, version=ds["version"] + 1)
            return 200, {"datasource": state.datasource_dto(ds), "id": ds["id"],
                         "message": "Datasource updated", "name": ds["name"]}
    if method == "POST" and path == "/api/datasources":
        uid = body.get("uid") or f"ds{state.next_id}"
        if any(ds["name"] == body.get("name") for ds in state.datasources.values()):
            return 409, {"message": "data source with the same name already exists"}
        if uid in state.datasources:
            return 409, {"message": "data source with the same uid already exists"}
        ds = {key: body.get(key, zero) for key, zero in DATASOURCE_FIELDS.items()}
        ds.update(id=state.new_id(), uid=uid, orgId=1, typeLogoUrl="", version=1,
                  readOnly=False, secure=dict(body.get("secureJsonData") or {}))
        state.datasources[uid] = ds
        return 200, {"datasource": state.datasource_dto(ds), "id": ds["id"],
                     "message": "Datasource added", "name": ds["name"]}

    if method == "GET" and (match := re.fullmatch(r"/api/dashboards/uid/([^/]+)", path)):
        stored = state.dashboards.get(match[1])
        if stored is None:
            return 404, {"message": "Dashboard not found"}
        folder = state.folders.get(stored["folderUid"] or "", {})
        return 200, {"dashboard": copy.deepcopy(stored["data"]),
                     "meta": {"type": "db", "canSave": True, "canEdit": True,
                              "slug": "d", "url": f"/d/{match[1]}/d", "version":
                              stored["data"]["version"], "provisioned": False,
                              "folderId": folder.get("id", 0),
                              "folderUid": stored["folderUid"],
                              "folderTitle": folder.get("title", "Dashboards")}}
    if method == "POST" and path == "/api/dashboards/db":
        data = copy.deepcopy(body["dashboard"])
        folder_uid = body.get("folderUid") or ""
        if folder_uid and folder_uid not in state.folders:
            return 400, {"message": "folder not found"}
        uid = data.get("uid")
        stored = state.dashboards.get(uid)
        if stored is not None and not body.get("overwrite"):
            return 412, {"message": "A dashboard with the same uid already exists",
                         "status": "name-exists"}
        if any(other["data"]["title"] == data.get("title") and other["folderUid"] == folder_uid
               and other_uid != uid for other_uid, other in state.dashboards.items()):
            return 412, {"message": "A dashboard with the same name in the folder already "
                         "exists", "status": "name-exists"}
        dashboard_id = stored["data"]["id"] if stored else state.new_id()
        version = stored["data"]["version"] + 1 if stored else 1
        data.update(id=dashboard_id, version=version)
        state.dashboards[uid] = {"data": data, "folderUid": folder_uid}
        return 200, {"id": dashboard_id, "uid": uid, "url": f"/d/{uid}/d", "status": "success",
                     "version": version, "slug": "d", "folderUid": folder_uid}

    state.unknown.append(f"{method} {path}")
    return 404, {"message": "Not found"}


@pytest.fixture
def grafana() -> Iterator[GrafanaStandIn]:
    port = free_port()
    state = GrafanaStandIn(url=f"http://127.0.0.1:{port}")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def handle_any(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.split("?")[0]
            if path.startswith(SUB_PATH + "/"):  # as behind serve_from_sub_path
                path = path.removeprefix(SUB_PATH)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                status, answer = 401, {"message": "Invalid API key",
                                       "messageId": "api-key.invalid", "statusCode": 401,
                                       "traceID": ""}
            else:
                with lock:
                    if self.command != "GET":
                        state.writes.append(f"{self.command} {path}")
                    status, answer = _route(state, self.command, path,
                                            json.loads(raw) if raw else None)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = handle_any

        def log_message(self, *args: Any) -> None:
            pass

    with serve_http(port, Handler):
        yield state
    assert not state.unknown, f"requests the stand-in does not implement: {state.unknown}"


def run_push(url: str, *args: str, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    """`boomerang dashboards push`, the token from the environment as a CI job passes it."""
    return processes.run(
        [sys.executable, "-m", "gateway", "dashboards", "push", "--grafana-url", url, *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={"PATH": "", "BOOMERANG_GRAFANA_TOKEN": token, "COLUMNS": "200"})


def report(result: subprocess.CompletedProcess[str]) -> dict[tuple[str, str], str]:
    """(kind, uid) -> created / updated / unchanged, from the printed report."""
    actions = {}
    for line in result.stdout.splitlines():
        words = line.split()
        if words and words[0] in ("created", "updated", "unchanged"):
            actions[(words[1], words[2])] = words[0]
    return actions


def succeeded(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def everything(action: str) -> dict[tuple[str, str], str]:
    return {("folder", "boomerang"): action, ("datasource", DATASOURCE_UID): action,
            **{("dashboard", uid): action for uid in BOARDS}}


def without_grafana_fields(board: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in board.items() if key not in ("id", "version")}


def provisioned() -> dict[str, Any]:
    document = yaml.safe_load(PROVISIONING.read_text(encoding="utf-8"))
    (entry,) = [ds for ds in document["datasources"] if ds["uid"] == DATASOURCE_UID]
    return dict(entry)


def test_first_push_creates_the_folder_the_data_source_and_every_dashboard_in_it(
    grafana: GrafanaStandIn,
) -> None:
    result = succeeded(run_push(grafana.url, "--influx-url", "http://influx.internal:8086",
                                "--influx-db", "fleet", "--influx-token", "read-only-tok"))

    assert report(result) == everything("created")
    assert len(BOARDS) == 6
    assert [(f["uid"], f["title"]) for f in grafana.folders.values()] == [("boomerang",
                                                                            "Boomerang")]
    assert list(grafana.datasources) == [DATASOURCE_UID]
    ds = grafana.datasources[DATASOURCE_UID]
    entry = provisioned()
    assert (ds["name"], ds["type"], ds["access"]) == ("Boomerang InfluxDB", "influxdb", "proxy")
    assert (ds["name"], ds["type"], ds["access"]) == (entry["name"], entry["type"],
                                                     entry["access"])
    assert ds["url"] == "http://influx.internal:8086"
    assert ds["jsonData"] == {**entry["jsonData"], "dbName": "fleet"}
    assert ds["jsonData"]["version"] == "InfluxQL" and ds["jsonData"]["httpMode"] == "POST"
    assert ds["jsonData"]["httpHeaderName1"] == "Authorization"
    assert ds["secure"] == {"httpHeaderValue1": "Token read-only-tok"}
    assert ds["user"] == "" and ds["isDefault"] is False
    assert set(grafana.dashboards) == set(BOARDS)
    for uid, stored in grafana.dashboards.items():
        assert stored["folderUid"] == "boomerang", uid
        assert without_grafana_fields(stored["data"]) == without_grafana_fields(BOARDS[uid])
    assert result.stdout.splitlines()[-1] == (
        f"Grafana {GRAFANA_VERSION} at {grafana.url}: 8 created, 0 updated, 0 unchanged")


def test_without_influx_options_the_data_source_is_the_provisioning_files(
    grafana: GrafanaStandIn,
) -> None:
    succeeded(run_push(grafana.url))

    ds, entry = grafana.datasources[DATASOURCE_UID], provisioned()
    assert ds["url"] == entry["url"] == "http://influxdb:8086"
    assert ds["jsonData"] == entry["jsonData"]
    assert ds["secure"] == entry["secureJsonData"]


def test_second_push_writes_nothing_and_reports_everything_unchanged(
    grafana: GrafanaStandIn,
) -> None:
    args = ("--influx-url", "http://influx.internal:8086", "--influx-token", "tok")
    succeeded(run_push(grafana.url, *args))
    writes = len(grafana.writes)
    before = copy.deepcopy((grafana.folders, grafana.datasources, grafana.dashboards))

    result = succeeded(run_push(grafana.url, *args))

    assert report(result) == everything("unchanged")
    assert grafana.writes[writes:] == []
    assert (grafana.folders, grafana.datasources, grafana.dashboards) == before
    assert (len(grafana.folders), len(grafana.datasources), len(grafana.dashboards)) == (1, 1, 6)


def test_a_dashboard_changed_in_grafana_is_reported_updated_and_restored(
    grafana: GrafanaStandIn,
) -> None:
    succeeded(run_push(grafana.url))
    edited = grafana.dashboards["boomerang-gateway"]["data"]
    edited["panels"] = edited["panels"][:1]
    edited["title"] = "Gateway (edited by hand)"

    result = succeeded(run_push(grafana.url))

    assert report(result) == everything("unchanged") | {("dashboard", "boomerang-gateway"):
                                                        "updated"}
    restored = grafana.dashboards["boomerang-gateway"]
    assert without_grafana_fields(restored["data"]) == without_grafana_fields(
        BOARDS["boomerang-gateway"])
    assert restored["data"]["version"] == 2
    assert grafana.writes[-1] == "POST /api/dashboards/db"
    # Restored for good: its version is now Grafana's 2, not the file's 1, and that is no
    # difference.
    assert report(succeeded(run_push(grafana.url))) == everything("unchanged")


def test_a_dashboard_moved_out_of_the_folder_is_moved_back(grafana: GrafanaStandIn) -> None:
    succeeded(run_push(grafana.url))
    grafana.dashboards["boomerang-returns"]["folderUid"] = ""

    result = succeeded(run_push(grafana.url))

    assert report(result)[("dashboard", "boomerang-returns")] == "updated"
    assert "moved from folder 'General'" in result.stdout
    assert grafana.dashboards["boomerang-returns"]["folderUid"] == "boomerang"


def test_a_renamed_folder_gets_its_title_back(grafana: GrafanaStandIn) -> None:
    succeeded(run_push(grafana.url))
    grafana.folders["boomerang"]["title"] = "Old dashboards"

    result = succeeded(run_push(grafana.url))

    assert report(result)[("folder", "boomerang")] == "updated"
    assert grafana.folders["boomerang"]["title"] == "Boomerang"


def test_a_bad_token_exits_1_naming_authentication(grafana: GrafanaStandIn) -> None:
    result = run_push(grafana.url, token="glsa_revoked")

    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "authentication failed" in line and "401" in line and "Invalid API key" in line
    assert "BOOMERANG_GRAFANA_TOKEN" in line
    assert grafana.writes == [] and not grafana.datasources


def test_an_unreachable_grafana_exits_1_with_a_clear_message() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    result = run_push(url)

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line == f"dashboards push: cannot reach Grafana at {url}: Connection refused"


def test_a_data_source_uid_taken_by_another_type_stops_before_any_write(
    grafana: GrafanaStandIn,
) -> None:
    grafana.datasources[DATASOURCE_UID] = {
        **DATASOURCE_FIELDS, "id": 7, "uid": DATASOURCE_UID, "orgId": 1, "name": "Metrics",
        "type": "prometheus", "url": "http://prometheus:9090", "typeLogoUrl": "",
        "version": 3, "readOnly": False, "secure": {}}
    before = copy.deepcopy(grafana.datasources)

    result = run_push(grafana.url)

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert f"data source uid {DATASOURCE_UID} is taken by a prometheus data source" in line
    assert "'Metrics'" in line
    assert grafana.writes == [] and grafana.datasources == before and not grafana.dashboards


def test_v1_credentials_replace_the_token_header(grafana: GrafanaStandIn) -> None:
    succeeded(run_push(grafana.url))

    result = succeeded(run_push(grafana.url, "--influx-url", "http://influx1:8086",
                                "--influx-user", "grafana", "--influx-password", "s3cret"))

    assert report(result)[("datasource", DATASOURCE_UID)] == "updated"
    ds = grafana.datasources[DATASOURCE_UID]
    assert ds["user"] == "grafana" and ds["secure"]["password"] == "s3cret"
    assert "httpHeaderName1" not in ds["jsonData"]
    assert ds["jsonData"]["version"] == "InfluxQL"


def test_a_new_secret_alone_is_sent_only_with_resend_secret(grafana: GrafanaStandIn) -> None:
    succeeded(run_push(grafana.url, "--influx-token", "first"))

    unchanged = succeeded(run_push(grafana.url, "--influx-token", "second"))
    assert report(unchanged)[("datasource", DATASOURCE_UID)] == "unchanged"
    assert "--resend-secret" in unchanged.stdout
    assert grafana.datasources[DATASOURCE_UID]["secure"]["httpHeaderValue1"] == "Token first"

    resent = succeeded(run_push(grafana.url, "--influx-token", "second", "--resend-secret"))
    assert report(resent)[("datasource", DATASOURCE_UID)] == "updated"
    assert grafana.datasources[DATASOURCE_UID]["secure"]["httpHeaderValue1"] == "Token second"


def test_an_update_keeps_the_data_source_default_as_grafanas_owner_set_it(
    grafana: GrafanaStandIn,
) -> None:
    succeeded(run_push(grafana.url))
    grafana.datasources[DATASOURCE_UID].update(isDefault=True, url="http://elsewhere:8086")


    result = succeeded(run_push(grafana.url))

    assert report(result)[("datasource", DATASOURCE_UID)] == "updated"
    ds = grafana.datasources[DATASOURCE_UID]
    assert ds["url"] == "http://influxdb:8086" and ds["isDefault"] is True


def test_a_grafana_served_from_a_sub_path_is_reached(grafana: GrafanaStandIn) -> None:
    """grafana-client appends "api" to the URL's path as given: without the trailing slash
    that push adds, http://host/grafana would be asked for /grafanaapi/..."""
    result = succeeded(run_push(grafana.url + SUB_PATH))

    assert report(result) == everything("created")


def test_without_a_token_it_exits_2_before_calling_grafana(grafana: GrafanaStandIn) -> None:
    result = run_push(grafana.url, token="")

    assert result.returncode == 2
    assert "--token (or BOOMERANG_GRAFANA_TOKEN) is needed" in result.stderr
    assert grafana.writes == []


def test_the_help_renders() -> None:
    """Typer renders help as rich markup: a "[...]" in a help text breaks it."""
    result = processes.run([sys.executable, "-m", "gateway", "dashboards", "push", "--help"],
                           capture_output=True, text=True, timeout=60, cwd=ROOT,
                           env={"PATH": "", "COLUMNS": "200"})

    assert result.returncode == 0, result.stderr
    assert "--resend-secret" in result.stdout and "BOOMERANG_GRAFANA_TOKEN" in result.stdout
