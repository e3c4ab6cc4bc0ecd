"""A real API over real stores for the API tests: an SQLite history store with readings, an alert
state with alerts, users of every role with API tokens, a config file the admin can reload — all
in a temporary directory, served in-process (`fastapi.testclient.TestClient`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

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

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
BASE_URL = "https://testserver"  # the session cookie is Secure: sent over https only

REGISTRY = """\
sites:
  - id: city
    name: City Archives
    timezone: Europe/London
    rooms:
      - id: stack-1
        name: Stack 1
        profile: iso11799-paper
        holdings: paper
        sensors:
          - {id: s1, match: {format: generic}, expected_interval_s: 300}
          - {id: s2, match: {format: generic}, expected_interval_s: 300}
      - id: vault
        profile: iso11799-paper
        holdings: film
        sensors:
          - {id: v1, match: {format: generic}, expected_interval_s: 300}
"""


@dataclass
class World:
    """The app and what it runs on, for the tests to arrange and check."""

    app: FastAPI
    services: Services
    clock: ManualClock
    tokens: dict[Role, str]
    """An API token per role (users ``viewer``, ``responder``, ``admin``)."""
    config: Path
    registry_file: Path
    firing_id: int
    """An alert firing about sensor s1 in city/stack-1."""

    def client(self, role: Role | None = None) -> TestClient:
        """A client authenticated as a user of ``role`` by API token (anonymous if None)."""
        headers = {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}
        return TestClient(self.app, base_url=BASE_URL, headers=headers)

    def login(self, role: Role) -> tuple[TestClient, str]:
        """A browser-like client logged in as ``role``, and its CSRF token."""
        client = TestClient(self.app, base_url=BASE_URL)
        answer = client.post("/api/login", data={"username": role.value, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        return client, answer.json()["csrf_token"]


def _readings() -> list[Reading]:
    out: list[Reading] = []
    for step in range(288):  # one day at 5 min, up to NOW
        when = NOW - timedelta(minutes=5 * (287 - step))
        out.append(Reading("s1", when, 18.0 + step / 288, 50.0, 90.0, site="city", room="stack-1"))
        out.append(
            Reading("s2", when, 19.0, 72.0 if step > 280 else 55.0, site="city", room="stack-1")
        )
    # v1 spoke last two hours ago: silent. A device the registry does not know:
    out.append(Reading("v1", NOW - timedelta(hours=2), 16.0, 35.0, site="city", room="vault"))
    out.append(
        Reading("stray-7", NOW - timedelta(minutes=3), 21.0, 40.0, site=UNASSIGNED, room=UNASSIGNED)
    )
    return out


def fire(state: AlertStore, sensor: str = "s1", rule: str = "excursion.rh") -> int:
    """A firing alert about ``sensor`` in city/stack-1 (as the lifecycle would store it)."""
    finding = Finding(
        rule=rule,
        subject=Subject("city", "stack-1", sensor),
        severity=Severity.WARNING,
        since=NOW - timedelta(hours=1),
        value=72.0,
        threshold=65.0,
        unit="%RH",
        summary=f"RH 72 % in stack-1 ({sensor})",
        advice="Check the dehumidifier.",
    )
    with state.transaction() as tx:
        alert_id = tx.insert_alert(finding, AlertState.FIRING, NOW)
        tx.add_event(alert_id, NOW, None, AlertState.FIRING, "engine", finding.summary)
    return alert_id


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
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
    )
    settings = load_settings(config)
    clock = ManualClock(NOW)
    store = SQLiteStore(settings.store.sqlite_path)
    store.write(_readings())
    state = AlertStore(settings.alerts.state_path)
    users = UserStore(
        settings.alerts.state_path,
        clock=clock,
        hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
    )
    tokens = {}
    for role in Role:
        users.add(role.value, PASSWORD, role)
        tokens[role] = users.create_token(role.value, "tests")
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
    firing = fire(state)
    yield World(create_app(services), services, clock, tokens, config, registry_file, firing)
    services.close()
