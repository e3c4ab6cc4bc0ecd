"""One seeded installation for the API tests, the page tests and the pages benchmark: a config
file, a registry, an SQLite history store holding the given readings, an alert state, users of the
given roles and the `Services` the app is built from — all in one directory.

The three used to write the same files each in their own way; this is the one way. What differs
between them (which registry, which readings, which alerts) is an argument.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher

from repoclimate.alerts.clock import ManualClock
from repoclimate.alerts.model import AlertState, Finding, Severity, Subject
from repoclimate.alerts.state import AlertStore
from repoclimate.app.services import Metrics, Services
from repoclimate.app.settings import load_settings
from repoclimate.app.users import Role, UserStore
from repoclimate.history.sqlite import SQLiteStore
from repoclimate.sensors.reading import Reading
from repoclimate.sensors.registry import load_registry

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
"""argon2id at its cheapest: logging in costs microseconds, not the production ~50 ms."""


@dataclass
class Seeded:
    """What `seed` made."""

    services: Services
    clock: ManualClock
    config: Path
    registry_file: Path


def settings_variables() -> list[str]:
    """The ``REPOCLIMATE_*`` variables set now: remove them (``monkeypatch.delenv`` in a test),
    or they override the seeded config file."""
    return [name for name in os.environ if name.startswith("REPOCLIMATE_")]


def seed(
    work: Path,
    registry: str,
    readings: Iterable[Reading],
    now: datetime,
    *,
    password: str,
    roles: Iterable[Role] = tuple(Role),
    cookie_secure: bool = True,
) -> Seeded:
    """Write the config and ``registry`` (YAML text) into ``work``, store ``readings``, add a
    user named after each of ``roles`` with ``password``, and build the services on a clock
    standing at ``now``. ``cookie_secure=False`` is for a browser over plain HTTP on loopback."""
    registry_file = work / "registry.yaml"
    registry_file.write_text(registry)
    config = work / "config.yaml"
    config.write_text(
        f"registry: {registry_file}\n"
        f"store: {{kind: sqlite, sqlite_path: {work / 'history.sqlite'}}}\n"
        f"collector: {{spool_dir: {work / 'spool'}}}\n"
        f"alerts: {{state_path: {work / 'state.sqlite'}}}\n"
        + ("" if cookie_secure else "api: {cookie_secure: false}\n")
    )
    settings = load_settings(config)
    clock = ManualClock(now)
    store = SQLiteStore(settings.store.sqlite_path)
    store.write(list(readings))
    state = AlertStore(settings.alerts.state_path)
    users = UserStore(settings.alerts.state_path, clock=clock, hasher=FAST_HASHER)
    for role in roles:
        users.add(role.value, password, role)
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
    return Seeded(services, clock, config, registry_file)


def rh_finding(
    subject: Subject,
    now: datetime,
    value: float,
    threshold: float,
    *,
    rule: str = "excursion.rh",
    since: timedelta = timedelta(hours=1),
) -> Finding:
    """A warning that RH is ``value`` % against ``threshold``, found ``since`` before ``now``
    (what the excursion rule would report)."""
    where = f"{subject.room} ({subject.sensor})" if subject.sensor else str(subject.room)
    return Finding(
        rule=rule,
        subject=subject,
        severity=Severity.WARNING,
        since=now - since,
        value=value,
        threshold=threshold,
        unit="%RH",
        summary=f"RH {value:g} % in {where}",
        advice="Check the dehumidifier.",
    )


def fire(state: AlertStore, findings: Iterable[Finding], now: datetime) -> list[int]:
    """Store each finding as a firing alert at ``now``, as the lifecycle would (one
    transaction); their ids in order."""
    ids: list[int] = []
    with state.transaction() as tx:
        for finding in findings:
            alert_id = tx.insert_alert(finding, AlertState.FIRING, now)
            tx.add_event(alert_id, now, None, AlertState.FIRING, "engine", finding.summary)
            ids.append(alert_id)
    return ids
