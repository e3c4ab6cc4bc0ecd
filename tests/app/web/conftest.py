"""The pages against a real server: `create_app` under uvicorn on a loopback port (in this
process, in a thread), a seeded SQLite history and alert state, users of every role — and
Debian's Chromium driven by Playwright (never ``playwright install``: the browser is the system's).

Seeded site ``city`` (Europe/London), one room per status the overview must show:
``in-band`` (16 °C, 38 %RH), ``near`` (17.8 °C: within 0.5 K of the 18 °C limit), ``out``
(55 %RH, with a firing alert), ``silent`` (last heard two hours ago); and site ``county``
(Asia/Shanghai) with one room in band and one damp (25 °C, RH rising 88 → 97 % over the day, so
its mould risk rises), so the network view shows. Sensor a1 has a calibration entry in force.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from repoclimate.alerts.model import Subject
from repoclimate.alerts.state import AlertStore
from repoclimate.app.api import create_app
from repoclimate.app.services import Services
from repoclimate.app.users import Role
from repoclimate.sensors.reading import UNASSIGNED, Reading
from tests.app import seeding
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
          - id: a1
            match: {format: generic}
            expected_interval_s: 300
            calibration:
              - {from: 2026-05-20, temperature_offset: -0.3, humidity_offset: 1.2, note: HM40 check}
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
      - id: damp
        name: Basement store
        profile: jgj25-paper
        holdings: paper
        sensors:
          - {id: f1, match: {format: generic}, expected_interval_s: 300}
"""
EXPECTED_STATUS = {"in-band": "ok", "near": "near", "out": "out", "silent": "silent"}
DAMP_T, DAMP_RH = 25.0, (88.0, 97.0)
"""The county's damp room over the last day: warm, its RH rising — MRF and VTT rise with it."""
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
            damp = DAMP_RH[1] - (DAMP_RH[1] - DAMP_RH[0]) * step / 287  # rising to NOW
            out.append(Reading("f1", when, DAMP_T, damp, site="county", room="damp"))
    out.append(
        Reading("d1", NOW - timedelta(hours=2), 12.0, 35.0, 60.0, site="city", room="silent")
    )
    out.append(
        Reading("stray-7", NOW - timedelta(minutes=3), 21.0, 40.0, site=UNASSIGNED, room=UNASSIGNED)
    )
    return out


def fire(state: AlertStore, sensor: str, room: str) -> int:
    """A firing RH alert about ``sensor`` in ``room`` of site city, since an hour before NOW."""
    finding = seeding.rh_finding(Subject("city", room, sensor), NOW, 55.0, 45.0)
    return seeding.fire(state, [finding], NOW)[0]


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
    for name in seeding.settings_variables():
        monkeypatch.delenv(name)
    seeded = seeding.seed(
        tmp_path, REGISTRY, readings(), NOW, password=PASSWORD, cookie_secure=False
    )
    services = seeded.services
    alert_id = fire(services.state, "c1", "out")
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
    # Every wait is on a condition (a selector, a navigation); this only caps it. A new context's
    # first page starts a renderer: 3.9 s at load 7 on the 2 cores here, so 15 s ran out at load 8.
    page.set_default_timeout(60_000)
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
