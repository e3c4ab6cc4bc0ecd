"""The seeded two-room site (tests/reports/seeding.py) in a real SQLite history store and a real
alert state, once per test module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from repoclimate.alerts.state import AlertStore
from repoclimate.history.sqlite import SQLiteStore
from repoclimate.reports.gather import Sources
from repoclimate.sensors.registry import Registry, load_registry
from tests.reports.seeding import seed_small

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
"""11:00 on 1 Dec 2026 in Shanghai: November is over there."""


@dataclass
class Seeded:
    directory: Path
    registry_file: Path
    store_path: Path
    state_path: Path
    registry: Registry
    store: SQLiteStore
    state: AlertStore

    def sources(self, prefer: str = "rollups") -> Sources:
        return Sources(self.store, self.registry, self.state, prefer=prefer)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    directory = tmp_path_factory.mktemp("reports")
    registry_file, store_path, state_path = seed_small(directory)
    store = SQLiteStore(store_path)
    state = AlertStore(state_path)
    yield Seeded(
        directory, registry_file, store_path, state_path, load_registry(registry_file), store, state
    )
    store.close()
    state.close()
