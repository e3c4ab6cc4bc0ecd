"""What only the embedded SQLite store has to show: durability settings, files, threads, locks."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from repoclimate.history import DerivedRow, StoreUnavailable
from repoclimate.history.sqlite import SQLiteStore
from repoclimate.sensors.reading import Reading

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_every_connection_is_wal_with_full_sync(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.sqlite") as store:
        settings: list[tuple[str, int]] = []

        def check() -> None:
            connection = store._connection()
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
            sync = connection.execute("PRAGMA synchronous").fetchone()[0]
            settings.append((mode, sync))

        check()
        thread = threading.Thread(target=check)
        thread.start()
        thread.join()
        assert settings == [("wal", 2), ("wal", 2)]  # 2 = FULL


def test_readings_survive_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with SQLiteStore(path) as store:
        store.write([Reading("s1", T0, 20.0, 50.0, site="a", room="r")])
    # Another process (a plain sqlite3 connection) sees the committed row at once.
    with sqlite3.connect(path) as other:
        assert other.execute("SELECT count(*) FROM readings").fetchone() == (1,)
    with SQLiteStore(path) as store:
        assert store.latest() == [Reading("s1", T0, 20.0, 50.0, site="a", room="r")]


def test_a_writer_thread_and_a_reader_thread_share_the_store(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    with SQLiteStore(tmp_path / "s.sqlite") as store:
        done = threading.Event()

        def write() -> None:
            try:
                for batch in range(50):
                    store.write(
                        [
                            Reading(f"s{i}", T0 + timedelta(minutes=batch), 20.0 + i, 50.0)
                            for i in range(20)
                        ]
                    )
            except BaseException as error:
                errors.append(error)
            finally:
                done.set()

        def read() -> None:
            try:
                while not done.is_set():
                    assert len(store.latest()) <= 20
                    assert store.count() <= 1000
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=write), threading.Thread(target=read)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert store.count() == 1000
        assert {r.time for r in store.latest()} == {T0 + timedelta(minutes=49)}


def test_a_locked_database_makes_the_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with SQLiteStore(path, busy_timeout_s=0.1) as store:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreUnavailable, match="locked"):
                store.write([Reading("s1", T0, 20.0)])
        finally:
            other.execute("ROLLBACK")
            other.close()
        store.write([Reading("s1", T0, 20.0)])
        assert store.count() == 1


def test_a_closed_store_is_unavailable(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite")
    store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        store.write([Reading("s1", T0, 20.0)])
    assert not store.healthy()


def test_derived_rows_merge_fields_and_read_back(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.sqlite") as store:
        tags = {"site": "a", "room": "r"}
        store.write_derived([DerivedRow("preservation", tags, {"dew_point": 7.5}, T0)])
        store.write_derived(
            [
                DerivedRow("preservation", {"room": "r", "site": "a"}, {"pi_years": 40}, T0),
                DerivedRow("preservation", {"room": "other"}, {"pi_years": 3}, T0),
                DerivedRow("climate_1h", tags, {"temperature_mean": 20}, T0),
            ]
        )
        assert store.derived("preservation", T0, T0 + timedelta(hours=1)) == [
            DerivedRow("preservation", {"room": "other"}, {"pi_years": 3.0}, T0),
            DerivedRow("preservation", tags, {"dew_point": 7.5, "pi_years": 40.0}, T0),
        ]


def test_derived_rollups_search_the_derived_index_per_bucket(tmp_path: Path) -> None:
    """Without the CROSS JOIN and the affinity-free ``+t.…`` comparisons, SQLite scanned the
    derived table for every touched bucket: an alert engine cycle (11 000 rows) took 20 s."""
    from repoclimate.history import rollups

    with SQLiteStore(tmp_path / "s.sqlite") as store:
        connection = store._connection()
        for sql, index in zip(
            rollups.RECOMPUTE_DERIVED_HOURS, ("derived_sensor", "derived_room"), strict=True
        ):
            plan = " ".join(row[3] for row in connection.execute("EXPLAIN QUERY PLAN " + sql))
            assert f"USING INDEX {index}" in plan and "time_ns>? AND time_ns<?" in plan, plan
