"""Upload the folder, the data sources (InfluxDB, and the service's API through the Infinity
plugin) and the dashboards to Grafana over its HTTP API, through grafana-api
(`grafana_api.grafana_face.GrafanaFace`), idempotently.

Each object is read first and written only when it differs from what this build makes: a second
push of the same registry sends no change; a changed registry updates the dashboards it touches.
A dashboard is saved with the version read (Grafana's optimistic lock, ``overwrite: false``): when
someone saved it in between, Grafana answers 412 ``version-mismatch`` and the push reads it again
and retries once. A data source's secret (InfluxDB token or password, the API's viewer token) is
sent only when the data source is created, or when ``update_secret`` is set: Grafana never
returns it, so it cannot be compared.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from grafana_api.grafana_api import GrafanaClientError, GrafanaException
from grafana_api.grafana_face import GrafanaFace

from repoclimate.dashboards.build import (
    API_DATASOURCE_TYPE,
    API_DATASOURCE_UID,
    DATASOURCE_TYPE,
    DATASOURCE_UID,
)

FOLDER_UID = "repoclimate"
FOLDER_TITLE = "repoclimate"
DATASOURCE_NAME = "repoclimate InfluxDB"
API_DATASOURCE_NAME = "repoclimate API"

Change = Literal["created", "updated", "unchanged"]


class PushError(RuntimeError):
    """Grafana refused a request: names the object, the status and Grafana's message."""


@dataclass(frozen=True, slots=True)
class InfluxSource:
    """The InfluxDB data source as Grafana should reach it (InfluxQL in both flavours).

    ``flavour`` ``v2`` authenticates with ``Authorization: Token <secret>`` (InfluxDB 2.x/3.x
    through a DBRP mapping); ``v1`` with ``user`` and the password ``secret``.
    """

    url: str
    database: str
    flavour: Literal["v1", "v2"] = "v2"
    user: str | None = None
    secret: str | None = field(default=None, repr=False)

    name = DATASOURCE_NAME

    def body(self, *, with_secret: bool) -> dict[str, Any]:
        """The data source as ``POST /api/datasources`` takes it."""
        json_data: dict[str, Any] = {
            "dbName": self.database,
            "httpMode": "GET",
            "version": "InfluxQL",
        }
        body: dict[str, Any] = {
            "name": DATASOURCE_NAME,
            "uid": DATASOURCE_UID,
            "type": DATASOURCE_TYPE,
            "access": "proxy",
            "url": self.url,
            "isDefault": False,
            "jsonData": json_data,
        }
        secure: dict[str, str] = {}
        if self.flavour == "v2":
            json_data["httpHeaderName1"] = "Authorization"
            if self.secret is not None:
                secure["httpHeaderValue1"] = f"Token {self.secret}"
        else:
            if self.user is not None:
                body["user"] = self.user
            if self.secret is not None:
                secure["password"] = self.secret
        if with_secret and secure:
            body["secureJsonData"] = secure
        return body


@dataclass(frozen=True, slots=True)
class ApiSource:
    """The service's HTTP API as Grafana's Infinity data source should reach it.

    ``url`` is the base URL (``http://repoclimate:8080``) the dashboards' API queries are
    relative to, and the only host the data source may send its credential to. With ``token``
    (an API token of a ``viewer``, `repoclimate tokens add`) the data source sends
    ``Authorization: Bearer <token>``; without one it sends nothing (for ``api.public_read``).
    """

    url: str
    token: str | None = field(default=None, repr=False)
    timeout_s: int = 10

    name = API_DATASOURCE_NAME

    def body(self, *, with_secret: bool) -> dict[str, Any]:
        """The data source as ``POST /api/datasources`` takes it."""
        base = self.url.rstrip("/")
        body: dict[str, Any] = {
            "name": API_DATASOURCE_NAME,
            "uid": API_DATASOURCE_UID,
            "type": API_DATASOURCE_TYPE,
            "access": "proxy",
            "url": base,
            "isDefault": False,
            "jsonData": {
                "auth_method": "bearerToken" if self.token is not None else "none",
                "allowedHosts": [base],
                "timeoutInSeconds": self.timeout_s,
            },
        }
        if with_secret and self.token is not None:
            body["secureJsonData"] = {"bearerToken": self.token}
        return body


class DataSource(Protocol):
    """What `push_datasource` needs of a data source."""

    @property
    def name(self) -> str: ...

    def body(self, *, with_secret: bool) -> dict[str, Any]: ...


@dataclass
class PushReport:
    """What a push changed, by object (``folder``, ``datasource`` (InfluxDB), ``api-datasource``,
    ``dashboard:<uid>``)."""

    changes: dict[str, Change] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """Whether anything was created or updated."""
        return any(c != "unchanged" for c in self.changes.values())


def client(grafana_url: str, token: str, timeout_s: float = 10.0) -> GrafanaFace:
    """A grafana-api client for ``grafana_url`` (``http(s)://host[:port][/prefix]``) that sends
    ``token`` as ``Authorization: Bearer`` (never in the URL)."""
    parts = urllib.parse.urlsplit(grafana_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--grafana-url {grafana_url!r}: expected http(s)://host[:port][/path]")
    if parts.username or parts.password or parts.query:
        raise ValueError("--grafana-url: credentials and query strings do not belong in the URL")
    prefix = parts.path.strip("/")
    return GrafanaFace(
        token,
        host=parts.hostname,
        port=parts.port,
        url_path_prefix=f"{prefix}/" if prefix else "",
        protocol=parts.scheme,
        timeout=timeout_s,
    )


def _status(exc: GrafanaException) -> int:
    return int(exc.status_code)


def _fail(what: str, exc: GrafanaException) -> PushError:
    return PushError(f"Grafana refused {what}: {exc.status_code} {exc.message}")


def _get_or_none(call: Any, what: str, *args: Any) -> Any:
    try:
        return call(*args)
    except GrafanaClientError as exc:
        if _status(exc) == 404:
            return None
        raise _fail(what, exc) from exc
    except GrafanaException as exc:
        raise _fail(what, exc) from exc


def push_folder(api: GrafanaFace, uid: str = FOLDER_UID, title: str = FOLDER_TITLE) -> Change:
    """Create the folder, or retitle it."""
    found = _get_or_none(api.folder.get_folder, f"reading folder {uid!r}", uid)
    try:
        if found is None:
            api.folder.create_folder(title, uid=uid)
            return "created"
        if found.get("title") == title:
            return "unchanged"
        api.folder.update_folder(uid, title, version=found.get("version"))
        return "updated"
    except GrafanaException as exc:
        raise _fail(f"writing folder {uid!r}", exc) from exc


def _same_datasource(found: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    keys = ("name", "uid", "type", "access", "url", "isDefault", "user")
    if any(found.get(k, "") != wanted.get(k, "") for k in keys):
        return False
    have = found.get("jsonData") or {}
    return all(have.get(k) == v for k, v in wanted["jsonData"].items())


def push_datasource(api: GrafanaFace, source: DataSource, *, update_secret: bool = False) -> Change:
    """Create the data source, or update it where it differs from ``source``."""
    what = f"the data source {source.name!r}"
    found = _get_or_none(api.datasource.get_datasource_by_name, f"reading {what}", source.name)
    try:
        if found is None:
            api.datasource.create_datasource(source.body(with_secret=True))
            return "created"
        wanted = source.body(with_secret=update_secret)
        if _same_datasource(found, wanted) and not update_secret:
            return "unchanged"
        api.datasource.update_datasource(found["id"], wanted)
        return "updated"
    except GrafanaException as exc:
        raise _fail(f"writing {what}", exc) from exc


def _comparable(dashboard: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dashboard.items() if k not in ("id", "version")}


def push_dashboard(api: GrafanaFace, dashboard: Mapping[str, Any], folder_uid: str) -> Change:
    """Save ``dashboard`` (Grafana's JSON model, with a ``uid``) into the folder if it differs."""
    uid = str(dashboard["uid"])
    for attempt in (1, 2):
        found = _get_or_none(api.dashboard.get_dashboard, f"reading dashboard {uid!r}", uid)
        if found is not None:
            same_folder = (found.get("meta") or {}).get("folderUid") == folder_uid
            if same_folder and _comparable(found["dashboard"]) == _comparable(dashboard):
                return "unchanged"
        body = dict(dashboard)
        body.pop("id", None)
        if found is not None:
            body["version"] = found["dashboard"].get("version")
        else:
            body.pop("version", None)
        request = {
            "dashboard": body,
            "folderUid": folder_uid,
            "overwrite": False,
            "message": "repoclimate dashboards push",
        }
        try:
            api.dashboard.update_dashboard(request)
        except GrafanaClientError as exc:
            if _status(exc) == 412 and attempt == 1:
                continue  # saved by someone else since we read it: read again
            raise _fail(f"saving dashboard {uid!r}", exc) from exc
        except GrafanaException as exc:
            raise _fail(f"saving dashboard {uid!r}", exc) from exc
        return "created" if found is None else "updated"
    raise AssertionError("unreachable: the second attempt returns or raises")


def push(
    api: GrafanaFace,
    dashboards: Mapping[str, Mapping[str, Any]],
    source: InfluxSource,
    *,
    api_source: ApiSource | None = None,
    folder_uid: str = FOLDER_UID,
    folder_title: str = FOLDER_TITLE,
    update_secret: bool = False,
) -> PushReport:
    """Push the folder, the data sources and every dashboard; returns what changed.

    Without ``api_source`` the API data source is left as it is (the panels that read the
    service's API — open alerts, dead letters — need it)."""
    report = PushReport()
    report.changes["folder"] = push_folder(api, folder_uid, folder_title)
    report.changes["datasource"] = push_datasource(api, source, update_secret=update_secret)
    if api_source is not None:
        report.changes["api-datasource"] = push_datasource(
            api, api_source, update_secret=update_secret
        )
    for data in dashboards.values():
        report.changes[f"dashboard:{data['uid']}"] = push_dashboard(api, data, folder_uid)
    return report
