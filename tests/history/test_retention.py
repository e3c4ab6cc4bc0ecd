"""Retention removes raw readings past their age and nothing else: newer readings and every
rollup stay. On SQLite and on the real InfluxDB."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from repoclimate.history import StoreSettings
from repoclimate.history.retention import apply_retention, retention_horizon
from repoclimate.sensors.reading import Reading
from tests.history.rollup_model import StoreMaker

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SPAN = (NOW - 400 * DAY, NOW + DAY)


@pytest.fixture(params=["sqlite", "influxdb"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreMaker]:
    """Fresh stores of one kind."""
    influxdb = request.getfixturevalue("influxdb") if request.param == "influxdb" else None
    maker = StoreMaker(request.param, tmp_path, influxdb)
    yield maker
    maker.close()


def at(days_ago: float, temperature: float) -> Reading:
    return Reading("s1", NOW - days_ago * DAY, temperature, 50.0, None, None, "site", "room")


def test_retention_removes_only_raw_data_past_its_age(make_store: StoreMaker) -> None:
    store = make_store()
    old = [at(days, 10.0 + days / 100) for days in (200, 120.5, 31)]
    kept = [at(days, 20.0) for days in (29.9, 1, 0)]
    store.write(old + kept)
    rollups_before = (
        store.rollups("1h", *SPAN, sensor="s1"),
        store.rollups("1d", *SPAN, sensor="s1"),
        store.rollups("1d", *SPAN, site="site", room="room"),
    )
    assert len(rollups_before[0]) == 6

    settings = StoreSettings(raw_retention_days=30)
    assert apply_retention(store, settings, NOW) == 3
    assert [r.time for r in store.history("s1", *SPAN)] == [r.time for r in kept]
    rollups_after = (
        store.rollups("1h", *SPAN, sensor="s1"),
        store.rollups("1d", *SPAN, sensor="s1"),
        store.rollups("1d", *SPAN, site="site", room="room"),
    )
    assert rollups_after == rollups_before
    # A rebuild after retention keeps the buckets whose raw readings are gone.
    store.rebuild_rollups(*SPAN)
    assert store.rollups("1d", *SPAN, sensor="s1") == rollups_before[1]
    assert apply_retention(store, settings, NOW) == 0


def test_default_keeps_raw_readings_forever(make_store: StoreMaker) -> None:
    store = make_store()
    store.write([at(3650, 12.0), at(1, 13.0)])
    assert retention_horizon(StoreSettings(), NOW) is None
    assert apply_retention(store, StoreSettings(), NOW) == 0
    assert store.count() == 2


def test_retention_setting_is_validated() -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        StoreSettings(raw_retention_days=0)
    with pytest.raises(ValueError, match="timezone-aware"):
        retention_horizon(StoreSettings(raw_retention_days=1), datetime(2026, 1, 1))
