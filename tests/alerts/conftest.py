"""Fixtures of the alert tests: a real SMTP server (aiosmtpd) and a real HTTP receiver, both on
loopback, that a test may stop and start again; helpers to build topologies and histories."""

from __future__ import annotations

import email
import email.policy
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from repoclimate.alerts.rules.base import Band
from repoclimate.alerts.series import SensorSeries
from repoclimate.alerts.topology import RoomNode, SensorNode, SiteNode, Topology
from tests.servers import free_port

T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
"""A Monday; tests build histories from here."""


@pytest.fixture(params=["sqlite", "postgresql"])
def state_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's alert state lives: a new SQLite file, or a new database on the session's
    PostgreSQL (`AlertStore` takes either)."""
    if request.param == "sqlite":
        return str(tmp_path / "alerts.sqlite")
    url: str = request.getfixturevalue("postgresql_url")
    return url


class _Recorder:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.content
        assert isinstance(content, bytes)
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.messages.append(parsed)
        return "250 OK"


class SmtpServer:
    """aiosmtpd on a fixed loopback port; ``stop()``/``start()`` simulate an outage."""

    def __init__(self) -> None:
        self.port = free_port()
        self.recorder = _Recorder()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        with self.recorder.lock:
            return list(self.recorder.messages)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@dataclass
class HttpReceiver:
    """Records every POST (path, headers, JSON body); answers ``status``."""

    port: int
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            try:
                data: Any = json.loads(body)
            except ValueError:
                data = body.decode("utf-8", "replace")
            receiver.requests.append(
                {"path": self.path, "headers": dict(self.headers), "body": data}
            )
            self.send_response(receiver.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", receiver.port), Handler)
    receiver.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


BAND = Band(
    profile="test-paper",
    t_min=14.0,
    t_max=24.0,
    rh_min=45.0,
    rh_max=60.0,
    t_deviation_max=2.0,
    rh_deviation_max=5.0,
    window_hours=24.0,
)


def bands(profile: str) -> Band:
    return BAND


def topology(
    sensors: Sequence[str] = ("s1",),
    surfaces: Sequence[str] = (),
    holdings: str = "paper",
    room: str = "stack-3",
    interval_s: float = 300.0,
) -> Topology:
    nodes = [SensorNode(s, "city", room, interval_s) for s in sensors]
    nodes += [SensorNode(s, "city", room, interval_s, surface=True) for s in surfaces]
    rooms = (RoomNode("city", room, "test-paper", holdings, tuple(nodes), name="Stack 3"),)
    return Topology([SiteNode("city", ZoneInfo("Europe/London"), rooms, name="City Archives")])


def series(
    sensor: str,
    hours: float,
    temperature: Callable[[np.ndarray], np.ndarray] | float | None = 18.0,
    humidity: Callable[[np.ndarray], np.ndarray] | float | None = 50.0,
    battery: Callable[[np.ndarray], np.ndarray] | float | None = None,
    step_s: float = 300.0,
    start: datetime = T0,
) -> SensorSeries:
    """A regular history from ``start`` for ``hours``; quantities are constants or functions
    of the elapsed hours."""
    t = np.arange(0.0, hours * 3600.0, step_s)
    elapsed_h = t / 3600.0

    def values(spec: Callable[[np.ndarray], np.ndarray] | float | None) -> np.ndarray:
        if spec is None:
            return np.full(t.size, np.nan)
        if callable(spec):
            return np.asarray(spec(elapsed_h), dtype=np.float64)
        return np.full(t.size, float(spec))

    return SensorSeries(
        sensor,
        start.timestamp() + t,
        values(temperature),
        values(humidity),
        values(battery),
        start.timestamp(),
    )


def at(hours: float, start: datetime = T0) -> datetime:
    return start + timedelta(hours=hours)
