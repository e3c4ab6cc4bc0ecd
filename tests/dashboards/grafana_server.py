"""A recording stand-in for the Grafana HTTP API endpoints repoclimate uses, on a real loopback
HTTP server: folders, data sources, dashboards, annotations. Status codes and bodies follow
Grafana's HTTP API documentation (200 / 401 / 404 / 412 ``version-mismatch``); every request is
recorded with its method, path, headers and JSON body."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class GrafanaState:
    token: str
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[int, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)  # uid → {dashboard, meta}
    annotations: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method != "GET"]


NOT_FOUND = {"folder": "folder not found", "datasource": "Data source not found"}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        path = urlsplit(self.path).path
        state = self.server.state
        with state.lock:
            state.requests.append(Request(self.command, self.path, dict(self.headers), body))
            if self.headers.get("Authorization") != f"Bearer {state.token}":
                self._reply(
                    401,
                    {
                        "message": "Unauthorized",
                        "messageId": "auth.unauthorized",
                        "statusCode": 401,
                        "traceID": "",
                    },
                )
                return
            parts = [unquote(p) for p in path.split("/")[1:]]
            if self.command == "GET" and parts == ["api", "annotations"]:
                status, answer = 200, self._find_annotations(parse_qs(urlsplit(self.path).query))
            else:
                status, answer = self._route(self.command, parts, body)
        self._reply(status, answer)

    def _find_annotations(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        """``GET /api/annotations?tags=a&tags=b``: organization annotations carrying every tag
        (``matchAny`` false, Grafana's default), newest first."""
        wanted = set(query.get("tags", []))
        found = [
            {"id": ann_id, "dashboardId": 0, "panelId": 0, **ann}
            for ann_id, ann in self.server.state.annotations.items()
            if wanted <= set(ann.get("tags") or [])
        ]
        return sorted(found, key=lambda a: a.get("time") or 0, reverse=True)

    def _route(self, method: str, parts: list[str], body: Any) -> tuple[int, Any]:
        s = self.server.state
        match method, parts:
            case "GET", ["api", "folders", uid]:
                if uid not in s.folders:
                    return 404, {"message": "folder not found", "status": "not-found"}
                return 200, s.folders[uid]
            case "POST", ["api", "folders"]:
                uid = body.get("uid")
                if uid in s.folders:
                    return 409, {"message": "a folder with the same uid already exists"}
                folder = {"id": next(s.ids), "uid": uid, "title": body["title"], "version": 1}
                s.folders[uid] = folder
                return 200, folder
            case "PUT", ["api", "folders", uid]:
                folder = s.folders.get(uid)
                if folder is None:
                    return 404, {"message": "folder not found", "status": "not-found"}
                if body.get("version") != folder["version"] and not body.get("overwrite"):
                    return 412, {
                        "message": "the folder has been changed by someone else",
                        "status": "version-mismatch",
                    }
                folder.update(title=body["title"], version=folder["version"] + 1)
                return 200, folder
            case "GET", ["api", "datasources", "name", name]:
                for ds in s.datasources.values():
                    if ds["name"] == name:
                        public = {k: v for k, v in ds.items() if k != "secureJsonData"}
                        public["secureJsonFields"] = dict.fromkeys(
                            ds.get("secureJsonData", {}), True
                        )
                        return 200, public
                return 404, {"message": "Data source not found"}
            case "POST", ["api", "datasources"]:
                if any(d["name"] == body["name"] for d in s.datasources.values()):
                    return 409, {"message": "data source with the same name already exists"}
                ds_id = next(s.ids)
                s.datasources[ds_id] = {**body, "id": ds_id, "version": 1}
                return 200, {
                    "datasource": {**body, "id": ds_id},
                    "id": ds_id,
                    "message": "Datasource added",
                    "name": body["name"],
                }
            case "PUT", ["api", "datasources", ds_id]:
                old = s.datasources.get(int(ds_id))
                if old is None:
                    return 404, {"message": "Data source not found"}
                secure = body.get("secureJsonData", old.get("secureJsonData", {}))
                s.datasources[int(ds_id)] = {
                    **body,
                    "id": int(ds_id),
                    "version": old["version"] + 1,
                    "secureJsonData": secure,
                }
                return 200, {
                    "datasource": body,
                    "id": int(ds_id),
                    "message": "Datasource updated",
                    "name": body["name"],
                }
            case "GET", ["api", "dashboards", "uid", uid]:
                if uid not in s.dashboards:
                    return 404, {"message": "Dashboard not found"}
                return 200, s.dashboards[uid]
            case "POST", ["api", "dashboards", "db"]:
                dash = dict(body["dashboard"])
                uid = dash["uid"]
                folder_uid = body.get("folderUid")
                if folder_uid and folder_uid not in s.folders:
                    return 400, {"message": "folder not found"}
                old = s.dashboards.get(uid)
                stale = old is not None and dash.get("version") != old["dashboard"]["version"]
                if stale and not body.get("overwrite"):
                    return 412, {
                        "message": "The dashboard has been changed by someone else",
                        "status": "version-mismatch",
                    }
                if old is None and not body.get("overwrite") and dash.get("id"):
                    return 404, {"message": "Dashboard not found"}
                version = 1 if old is None else old["dashboard"]["version"] + 1
                dash_id = next(s.ids) if old is None else old["dashboard"]["id"]
                dash.update(id=dash_id, version=version)
                s.dashboards[uid] = {"dashboard": dash, "meta": {"folderUid": folder_uid or ""}}
                return 200, {
                    "id": dash_id,
                    "uid": uid,
                    "url": f"/d/{uid}/x",
                    "status": "success",
                    "version": version,
                    "slug": "x",
                }
            case "POST", ["api", "annotations"]:
                ann_id = next(s.ids)
                s.annotations[ann_id] = dict(body)
                return 200, {"message": "Annotation added", "id": ann_id}
            case "PATCH", ["api", "annotations", ann_id]:
                ann = s.annotations.get(int(ann_id))
                if ann is None:
                    return 404, {"message": "Could not find annotation to update"}
                for key in ("time", "timeEnd", "text"):
                    if body.get(key):
                        ann[key] = body[key]
                if body.get("tags") is not None:
                    ann["tags"] = body["tags"]
                return 200, {"message": "Annotation patched"}
        return 404, {"message": "Not found"}

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815 (http.server's names)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: GrafanaState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


@contextmanager
def recording_grafana(token: str) -> Iterator[tuple[str, GrafanaState]]:
    """A running stand-in Grafana at ``http://127.0.0.1:<port>`` that accepts ``token``."""
    state = GrafanaState(token)
    server = _Server(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
