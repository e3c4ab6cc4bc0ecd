"""A real API over real stores for the API tests: an SQLite history store with readings, an alert
state with alerts, users of every role with API tokens, a config file the admin can reload — all
in a temporary directory, served in-process (`fastapi.testclient.TestClient`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from repoclimate.alerts.clock import ManualClock
from repoclimate.alerts.model import Subject
from repoclimate.alerts.state import AlertStore
from repoclimate.app.api import create_app
from repoclimate.app.services import Services
from repoclimate.app.users import Role
from repoclimate.sensors.reading import UNASSIGNED, Reading
from tests.app import seeding

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
          - id: s1
            match: {format: generic}
            expected_interval_s: 300
            calibration:  # the second is in force at NOW; the third not yet
              - {from: 2026-01-10, temperature_offset: -0.4}
              - {from: 2026-05-20, temperature_offset: -0.2, humidity_offset: 1.5, note: ref 7}
              - {from: 2026-07-01, humidity_offset: 2.0}
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
    finding = seeding.rh_finding(Subject("city", "stack-1", sensor), NOW, 72.0, 65.0, rule=rule)
    return seeding.fire(state, [finding], NOW)[0]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for name in seeding.settings_variables():
        monkeypatch.delenv(name)
    seeded = seeding.seed(tmp_path, REGISTRY, _readings(), NOW, password=PASSWORD)
    services = seeded.services
    tokens = {role: services.users.create_token(role.value, "tests") for role in Role}
    firing = fire(services.state)
    yield World(
        create_app(services),
        services,
        seeded.clock,
        tokens,
        seeded.config,
        seeded.registry_file,
        firing,
    )
    services.close()
