"""A test-only InfluxDB 2 write front for the InfluxDB 1.6.7 the tests run.

Debian's InfluxDB 1.6.7 has no ``/api/v2/write``, so influxdb-client cannot write to it. This
front listens on a free loopback port and forwards ``POST /api/v2/write?org=…&bucket=db/rp&
precision=ns`` to the real server's ``/write?db=db&rp=rp&precision=ns`` (same body, gunzipped if
the client gzipped it), passing the status and body back; ``/query`` and ``/ping`` are passed
through unchanged. The client code and the stored result are both real; only the URL shape is
translated. Every request is recorded for assertions.
"""

from __future__ import annotations

import gzip
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class ForwardedRequest:
    """What the front received: method, path, query parameters, headers and the (plain) body."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes
    gzipped: bool = False


@dataclass
class V2Front:
    """A running front; ``url`` is what the store under test is pointed at."""

    target: str
    server: ThreadingHTTPServer | None = None
    requests: list[ForwardedRequest] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> V2Front:
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                """Keep test output quiet."""

            def do_GET(self) -> None:
                self._forward()

            def do_POST(self) -> None:
                self._forward()

            def _forward(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                params = dict(urllib.parse.parse_qsl(parsed.query))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                gzipped = self.headers.get("Content-Encoding", "").lower() == "gzip"
                if gzipped:
                    body = gzip.decompress(body)
                front.requests.append(
                    ForwardedRequest(
                        self.command, parsed.path, params, dict(self.headers.items()), body, gzipped
                    )
                )
                if parsed.path == "/api/v2/write":
                    database, _, retention = params.get("bucket", "").partition("/")
                    target = {"db": database, "precision": params.get("precision", "ns")}
                    if retention:
                        target["rp"] = retention
                    url = f"{front.target}/write?{urllib.parse.urlencode(target)}"
                elif parsed.path in ("/query", "/ping"):
                    url = f"{front.target}{self.path}"
                else:
                    self._answer(404, b'{"message":"not found"}', "application/json")
                    return
                request = urllib.request.Request(
                    url, data=body if self.command == "POST" else None, method=self.command
                )
                if self.headers.get("Content-Type"):
                    request.add_header("Content-Type", self.headers["Content-Type"])
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        self._answer(
                            response.status, response.read(), response.headers.get_content_type()
                        )
                except urllib.error.HTTPError as error:
                    self._answer(error.code, error.read(), error.headers.get_content_type())
                except urllib.error.URLError as error:
                    self._answer(502, str(error.reason).encode(), "text/plain")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def writes(self) -> list[ForwardedRequest]:
        """The ``/api/v2/write`` requests received so far."""
        return [r for r in self.requests if r.path == "/api/v2/write"]
