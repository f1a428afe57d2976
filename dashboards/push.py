"""`boomerang dashboards push`: the folder, the InfluxDB data source and every dashboard of
dashboards/json created or updated in a running Grafana through its HTTP API
(grafana-client), comparing first so that a second push changes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import requests
import yaml
from grafana_client.api import GrafanaApi
from grafana_client.client import (
    GrafanaClientError,
    GrafanaException,
    GrafanaUnauthorizedError,
)

from dashboards.generate import JSON_DIR
from dashboards.model import DATASOURCE_UID

FOLDER_UID = "boomerang"
FOLDER_TITLE = "Boomerang"
PROVISIONED_DATASOURCES = Path(__file__).parent / "provisioning" / "datasources" / "influxdb.yaml"
# What Grafana sets on a dashboard it stores: not ours to compare.
GRAFANA_OWNED = frozenset({"id", "version"})
PUSH_MESSAGE = "boomerang dashboards push"

Action = Literal["created", "updated", "unchanged"]
Kind = Literal["folder", "datasource", "dashboard"]


class PushError(Exception):
    """Why a push stopped, in one line a person can act on; `done` is what it did before."""

    def __init__(self, message: str, done: list[PushedItem] | None = None) -> None:
        super().__init__(message)
        self.done = done or []


@dataclass(frozen=True)
class PushedItem:
    kind: Kind
    uid: str
    title: str
    action: Action
    note: str = ""

    def line(self) -> str:
        note = f"  ({self.note})" if self.note else ""
        return f"{self.action:<9}  {self.kind:<10}  {self.uid:<22}  {self.title}{note}"


@dataclass(frozen=True)
class PushResult:
    grafana_url: str
    grafana_version: str
    items: list[PushedItem]

    def summary(self) -> str:
        counts = [f"{sum(item.action == action for item in self.items)} {action}"
                  for action in ("created", "updated", "unchanged")]
        return f"Grafana {self.grafana_version} at {self.grafana_url}: {', '.join(counts)}"


@dataclass(frozen=True)
class InfluxTarget:
    """The InfluxDB the data source points at, as Grafana reaches it. None means the value
    of dashboards/provisioning/datasources/influxdb.yaml. An InfluxDB 2/3 token goes in the
    header `Authorization: Token ...`; a v1 user and password replace it."""

    url: str | None = None
    database: str | None = None
    token: str | None = None
    user: str | None = None
    password: str | None = None

    def __post_init__(self) -> None:
        if self.token is not None and self.user is not None:
            raise PushError("give an InfluxDB token or a v1 user and password, not both")
        if (self.user is None) != (self.password is None):
            raise PushError("a v1 InfluxDB user needs its password, and a password its user")


def provisioned_datasource() -> dict[str, Any]:
    """The data source entry of the provisioning file Grafana loads in compose.yaml."""
    document = yaml.safe_load(PROVISIONED_DATASOURCES.read_text(encoding="utf-8"))
    for entry in document.get("datasources") or []:
        if entry.get("uid") == DATASOURCE_UID:
            return dict(entry)
    raise PushError(f"{PROVISIONED_DATASOURCES}: no data source with uid {DATASOURCE_UID}")


def datasource_payload(influx: InfluxTarget) -> dict[str, Any]:
    """The data source as the HTTP API takes it: the provisioning file's entry, with the
    URL, database and secret overridden. `editable` is a provisioning-only setting, and
    `isDefault` is left to whoever runs the Grafana (see `_keep_default`)."""
    entry = provisioned_datasource()
    json_data = dict(entry.get("jsonData") or {})
    if influx.database is not None:
        json_data["dbName"] = influx.database
    payload: dict[str, Any] = {
        "uid": entry["uid"], "name": entry["name"], "type": entry["type"],
        "access": entry.get("access", "proxy"), "url": influx.url or entry["url"],
        "user": "", "basicAuth": False, "jsonData": json_data,
    }
    if influx.user is not None:
        # InfluxDB 1.x refuses `Authorization: Token user:pass`; v1 credentials go as
        # Grafana's user and password, and the token header goes away.
        for key in [k for k in json_data if k.startswith("httpHeaderName")]:
            del json_data[key]
        payload["user"] = influx.user
        payload["secureJsonData"] = {"password": influx.password}
    else:
        secure = dict(entry.get("secureJsonData") or {})
        if influx.token is not None:
            secure["httpHeaderValue1"] = f"Token {influx.token}"
        payload["secureJsonData"] = secure
    return payload


def dashboard_files(directory: Path = JSON_DIR) -> list[tuple[Path, dict[str, Any]]]:
    boards = []
    for path in sorted(directory.glob("*.json")):
        try:
            board = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise PushError(f"{path}: not JSON ({exc})") from None
        if not isinstance(board, dict) or not board.get("uid") or not board.get("title"):
            raise PushError(f"{path}: a dashboard needs a uid and a title")
        boards.append((path, board))
    if not boards:
        raise PushError(f"{directory}: no dashboards (run `boomerang dashboards generate`)")
    return boards


def push(
    grafana_url: str,
    token: str,
    influx: InfluxTarget | None = None,
    *,
    resend_secret: bool = False,
    dashboards_dir: Path = JSON_DIR,
    timeout_s: float = 10.0,
) -> PushResult:
    """Create or update the data source, the folder and every dashboard, in that order: a
    data source uid taken by something else stops the push before it writes anything, and
    a dashboard needs its folder. Grafana never gives a data source's secret back, so it is
    sent only when the data source is created or changed otherwise, or with `resend_secret`.
    Raises PushError at the first thing that fails."""
    payload = datasource_payload(influx or InfluxTarget())
    boards = dashboard_files(dashboards_dir)
    url = _normalised(grafana_url)
    grafana, version = _connect(url, token, timeout_s)
    items: list[PushedItem] = []
    try:
        items.append(_push_datasource(grafana, payload, resend_secret))
        items.append(_push_folder(grafana))
        for _, board in boards:
            items.append(_push_dashboard(grafana, board))
    except PushError as exc:
        raise PushError(str(exc), items) from None
    return PushResult(url, version, items)


def _normalised(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PushError(f"--grafana-url {url!r}: expected http(s)://host:port, and a "
                        "sub-path if any")
    # grafana-client appends "api" to the path as given: "/grafana" would become
    # "/grafanaapi", so a sub-path needs its trailing slash.
    path = parts.path if parts.path in ("", "/") or parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _connect(url: str, token: str, timeout_s: float) -> tuple[Any, str]:
    """A GrafanaApi that has answered an authenticated request, and Grafana's version.
    grafana-client's health check reads /api/frontend/settings, which needs the token
    (unlike /api/health); it is read here directly to tell "not Grafana" apart."""
    grafana = GrafanaApi.from_url(url, credential=token, timeout=timeout_s)
    try:
        settings = grafana.client.GET("/frontend/settings")
    except GrafanaException as exc:
        raise PushError(_explain(exc, f"reaching Grafana at {url}")) from None
    except requests.RequestException as exc:
        raise PushError(f"cannot reach Grafana at {url}: {_root_cause(exc)}") from None
    build = settings.get("buildInfo") if isinstance(settings, dict) else None
    if not isinstance(build, dict):
        raise PushError(f"{url} answered, but not like Grafana (no buildInfo in "
                        "/api/frontend/settings): is it Grafana's root URL?")
    return grafana, str(build.get("version", "?"))


def _root_cause(exc: BaseException) -> str:
    """The innermost error (say "Connection refused"), not urllib3's retry wrapper."""
    while (inner := exc.__cause__ or exc.__context__) is not None:
        exc = inner
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _explain(exc: GrafanaException, doing: str) -> str:
    if isinstance(exc, GrafanaUnauthorizedError):
        return (f"authentication failed {doing}: Grafana answered 401 "
                f"({_message(exc)}); check the service-account token "
                "(--token or BOOMERANG_GRAFANA_TOKEN)")
    if exc.status_code == 403:
        return (f"{doing}: Grafana answered 403 ({_message(exc)}); the token's service "
                "account needs the Admin role (Editors cannot create data sources)")
    if exc.status_code:
        return f"{doing}: Grafana answered {exc.status_code} ({_message(exc)})"
    return f"{doing}: {exc.message}"


def _message(exc: GrafanaException) -> str:
    if isinstance(exc.response, dict) and exc.response.get("message"):
        return str(exc.response["message"])
    return str(exc.response or exc.message).strip()[:200]


def _get(call: Callable[[], Any], doing: str) -> Any:
    """The answer, or None on 404."""
    try:
        return call()
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            return None
        raise PushError(_explain(exc, doing)) from None
    except GrafanaException as exc:
        raise PushError(_explain(exc, doing)) from None
    except requests.RequestException as exc:
        raise PushError(f"{doing}: {_root_cause(exc)}") from None


def _send(call: Callable[[], Any], doing: str) -> Any:
    try:
        return call()
    except GrafanaException as exc:
        raise PushError(_explain(exc, doing)) from None
    except requests.RequestException as exc:
        raise PushError(f"{doing}: {_root_cause(exc)}") from None


def _push_folder(grafana: Any) -> PushedItem:
    folder = _get(lambda: grafana.folder.get_folder(FOLDER_UID), f"reading folder {FOLDER_UID}")
    if folder is None:
        _send(lambda: grafana.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID),
              f"creating folder {FOLDER_UID}")
        return PushedItem("folder", FOLDER_UID, FOLDER_TITLE, "created")
    if folder.get("title") == FOLDER_TITLE:
        return PushedItem("folder", FOLDER_UID, FOLDER_TITLE, "unchanged")
    _send(lambda: grafana.folder.update_folder(FOLDER_UID, title=FOLDER_TITLE, overwrite=True),
          f"renaming folder {FOLDER_UID}")
    return PushedItem("folder", FOLDER_UID, FOLDER_TITLE, "updated",
                      f"title was {folder.get('title')!r}")


def _push_datasource(grafana: Any, payload: dict[str, Any], resend_secret: bool) -> PushedItem:
    uid, name = payload["uid"], payload["name"]
    existing = _get(lambda: grafana.datasource.get_datasource_by_uid(uid),
                    f"reading data source {uid}")
    if existing is None:
        _send(lambda: grafana.datasource.create_datasource(payload), f"creating data source {uid}")
        return PushedItem("datasource", uid, name, "created")
    if existing.get("type") != payload["type"]:
        raise PushError(
            f"data source uid {uid} is taken by a {existing.get('type')} data source named "
            f"{existing.get('name')!r}; the dashboards need an {payload['type']} data source "
            "with that uid: delete or re-uid that one in Grafana, then push again")
    changed = [key for key, value in payload.items()
               if key != "secureJsonData" and existing.get(key) != value]
    stored = existing.get("secureJsonFields") or {}
    changed += [f"secureJsonData.{key}" for key in payload["secureJsonData"]
                if not stored.get(key)]
    if not changed and not resend_secret:
        return PushedItem("datasource", uid, name, "unchanged",
                          "secret not compared, Grafana never returns it; --resend-secret sends it")
    update = _keep_default(payload, existing)
    _send(lambda: grafana.datasource.update_datasource_by_uid(uid, update),
          f"updating data source {uid}")
    return PushedItem("datasource", uid, name, "updated",
                      ", ".join(changed) if changed else "secret resent")


def _keep_default(payload: dict[str, Any], existing: dict[str, Any]) -> dict[str, Any]:
    """An update replaces every field: keep whether the data source is the organisation's
    default as the Grafana's owner set it. A push never makes it the default: in a shared
    Grafana that would move every panel that uses the default onto our InfluxDB."""
    return payload | {"isDefault": bool(existing.get("isDefault"))}


def _push_dashboard(grafana: Any, board: dict[str, Any]) -> PushedItem:
    uid, title = board["uid"], board["title"]
    existing = _get(lambda: grafana.dashboard.get_dashboard(uid), f"reading dashboard {uid}")
    if existing is not None:
        stored = existing.get("dashboard") or {}
        folder = (existing.get("meta") or {}).get("folderUid")
        same = _comparable(stored) == _comparable(board)
        if same and folder == FOLDER_UID:
            return PushedItem("dashboard", uid, title, "unchanged")
    body = {"dashboard": board, "folderUid": FOLDER_UID, "overwrite": True,
            "message": PUSH_MESSAGE}
    _send(lambda: grafana.dashboard.update_dashboard(body), f"saving dashboard {uid}")
    if existing is None:
        return PushedItem("dashboard", uid, title, "created")
    note = "content" if not same else ""
    if folder != FOLDER_UID:
        note = ", ".join(filter(None, [note, f"moved from folder {folder or 'General'!r}"]))
    return PushedItem("dashboard", uid, title, "updated", note)


def _comparable(board: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in board.items() if key not in GRAFANA_OWNED}
