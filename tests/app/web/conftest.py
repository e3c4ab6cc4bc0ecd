"""The pages against a real server: `create_app` under uvicorn on a loopback port (in this
process, in a thread), a seeded SQLite history and alert state, users of every role — and
Debian's Chromium driven by Playwright (never ``playwright install``: the browser is the system's).

Seeded site ``city`` (Europe/London), one room per status the overview must show:
``in-band`` (16 °C, 38 %RH), ``near`` (17.8 °C: within 0.5 K of the 18 °C limit), ``out``
(55 %RH, with a firing alert), ``silent`` (last heard two hours ago); and site ``county``
(Asia/Shanghai) with one room in band, so the network view shows.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from argon2 import PasswordHasher

from repoclimate.alerts.clock import ManualClock
from repoclimate.alerts.model import AlertState, Finding, Severity, Subject
from repoclimate.alerts.state import AlertStore
from repoclimate.app.api import create_app
from repoclimate.app.services import Metrics, Services
from repoclimate.app.settings import load_settings
from repoclimate.app.users import Role, UserStore
from repoclimate.history.sqlite import SQLiteStore
from repoclimate.sensors.reading import UNASSIGNED, Reading
from repoclimate.sensors.registry import load_registry
from tests.servers import free_port

playwright_sync = pytest.importorskip("playwright.sync_api")

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PASSWORD = "pages test password"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

REGISTRY = """\
sites:
  - id: city
    name: City Archives
    timezone: Europe/London
    rooms:
      - id: in-band
        name: Stack A
        profile: iso11799-paper
        holdings: paper
        sensors:
          - {id: a1, match: {format: generic}, expected_interval_s: 300}
      - id: near
        name: Stack B
        profile: iso11799-paper
        holdings: paper
        sensors:
          - {id: b1, match: {format: generic}, expected_interval_s: 300}
      - id: out
        name: Stack C
        profile: iso11799-paper
        holdings: paper
        sensors:
          - {id: c1, match: {format: generic}, expected_interval_s: 300}
      - id: silent
        name: Vault
        profile: iso11799-paper
        holdings: film
        sensors:
          - {id: d1, match: {format: generic}, expected_interval_s: 300}
  - id: county
    name: County Archive
    timezone: Asia/Shanghai
    rooms:
      - id: county-stack
        name: Stack 1
        profile: jgj25-paper
        holdings: paper
        sensors:
          - {id: e1, match: {format: generic}, expected_interval_s: 300}
"""
EXPECTED_STATUS = {"in-band": "ok", "near": "near", "out": "out", "silent": "silent"}
DAYS = 10
"""History seeded before `NOW` for the in-band room (for the week and month ranges)."""


def readings() -> list[Reading]:
    out: list[Reading] = []
    for step in range(DAYS * 24 * 12):  # every 5 min
        when = NOW - timedelta(minutes=5 * step)
        wave = (step % 288) / 288.0
        out.append(
            Reading("a1", when, 16.0 - wave, 38.0 + 2 * wave, 90.0, site="city", room="in-band")
        )
        if step < 288:
            out.append(Reading("b1", when, 17.8, 40.0, 80.0, site="city", room="near"))
            out.append(Reading("c1", when, 16.0, 55.0, 70.0, site="city", room="out"))
            out.append(Reading("e1", when, 16.0, 50.0, site="county", room="county-stack"))
    out.append(
        Reading("d1", NOW - timedelta(hours=2), 12.0, 35.0, 60.0, site="city", room="silent")
    )
    out.append(
        Reading("stray-7", NOW - timedelta(minutes=3), 21.0, 40.0, site=UNASSIGNED, room=UNASSIGNED)
    )
    return out


def fire(state: AlertStore, sensor: str, room: str) -> int:
    finding = Finding(
        rule="excursion.rh",
        subject=Subject("city", room, sensor),
        severity=Severity.WARNING,
        since=NOW - timedelta(hours=1),
        value=55.0,
        threshold=45.0,
        unit="%RH",
        summary=f"RH 55 % in {room} ({sensor})",
        advice="Check the dehumidifier.",
    )
    with state.transaction() as tx:
        alert_id = tx.insert_alert(finding, AlertState.FIRING, NOW)
        tx.add_event(alert_id, NOW, None, AlertState.FIRING, "engine", finding.summary)
    return alert_id


@dataclass
class Site:
    """The served app and what it runs on."""

    url: str
    services: Services
    alert_id: int
    shots: Path
    """Where the tests save their screenshots."""
    requests: list[str] = field(default_factory=list)


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # a thread cannot take signals
        return None


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    for name in list(os.environ):
        if name.startswith("REPOCLIMATE_"):
            monkeypatch.delenv(name)
    registry_file = tmp_path / "registry.yaml"
    registry_file.write_text(REGISTRY)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"registry: {registry_file}\n"
        f"store: {{kind: sqlite, sqlite_path: {tmp_path / 'history.sqlite'}}}\n"
        f"collector: {{spool_dir: {tmp_path / 'spool'}}}\n"
        f"alerts: {{state_path: {tmp_path / 'state.sqlite'}}}\n"
        "api: {cookie_secure: false}\n"  # plain HTTP on loopback
    )
    settings = load_settings(config)
    clock = ManualClock(NOW)
    store = SQLiteStore(settings.store.sqlite_path)
    store.write(readings())
    state = AlertStore(settings.alerts.state_path)
    users = UserStore(
        settings.alerts.state_path,
        clock=clock,
        hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
    )
    for role in Role:
        users.add(role.value, PASSWORD, role)
    services = Services(
        settings=settings,
        registry=load_registry(registry_file),
        store=store,
        state=state,
        users=users,
        collector=None,
        scheduler=None,
        clock=clock,
        metrics=Metrics(),
        config_path=config,
    )
    alert_id = fire(state, "c1", "out")
    port = free_port()
    server = _Server(
        uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="pages-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port}")
        time.sleep(0.05)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        yield Site(f"http://127.0.0.1:{port}", services, alert_id, shots)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        services.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: scripts/setup-system.sh installs Debian's chromium")
    with playwright_sync.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Tab:
    """A browser page with what it logged: console errors, page errors, every request URL."""

    page: Any
    errors: list[str]
    requests: list[str]


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    found = Tab(page, [], [])
    page.on("console", lambda m: found.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: found.errors.append(str(e)))
    page.on("request", lambda r: found.requests.append(r.url))
    try:
        yield found
    finally:
        context.close()


def login(tab: Tab, site: Site, role: Role, lang: str | None = None) -> None:
    """Log in through the login form as the user of ``role``; lands on the overview."""
    page = tab.page
    suffix = f"?lang={lang}" if lang else ""
    page.goto(f"{site.url}/login{suffix}")
    page.fill("input[name=username]", role.value)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("#login button[type=submit]")
    assert page.url == f"{site.url}/", page.url
