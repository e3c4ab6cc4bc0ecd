"""The history jobs of ``repoclimate serve``: retention prunes raw readings past their age
daily, deferred rollups are flushed every minute; both logged and counted, a store that is down
is a warning; `start_scheduler` adds them. And the SQLite store's deferred rollups: late
readings still update their buckets."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from repoclimate.alerts.clock import ManualClock
from repoclimate.app.serve import build_services, start_scheduler
from repoclimate.app.settings import Settings
from repoclimate.history import StoreSettings, open_store
from repoclimate.history.maintenance import (
    RETENTION_JOB,
    ROLLUP_JOB,
    HistoryJobs,
    schedule_history,
)
from repoclimate.history.sqlite import SQLiteStore
from repoclimate.sensors.reading import Reading

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SPAN = (NOW - timedelta(days=400), NOW + timedelta(days=1))


def reading(days_ago: float, temperature: float = 20.0) -> Reading:
    return Reading("s1", NOW - timedelta(days=days_ago), temperature, 50.0, site="a", room="r")


def stored_hours(path: Path) -> int:
    """Hourly rollup rows in the file itself (what a reader without the store would see)."""
    with sqlite3.connect(path) as connection:
        return int(connection.execute("SELECT count(*) FROM climate_1h").fetchone()[0])


def test_the_jobs_are_scheduled_daily_and_every_minute(tmp_path: Path) -> None:
    settings = StoreSettings(sqlite_path=tmp_path / "s.sqlite", raw_retention_days=30)
    store = open_store(settings)
    scheduler = BackgroundScheduler(timezone=UTC)
    try:
        schedule_history(scheduler, store, settings, ManualClock(NOW))
        retention, rollups = scheduler.get_job(RETENTION_JOB), scheduler.get_job(ROLLUP_JOB)
        assert retention.trigger.interval == timedelta(days=1)
        assert rollups.trigger.interval == timedelta(minutes=1)
        assert retention.coalesce and retention.max_instances == 1
    finally:
        store.close()


def test_no_retention_job_when_raw_readings_are_kept_forever(tmp_path: Path) -> None:
    settings = StoreSettings(sqlite_path=tmp_path / "s.sqlite")
    store = open_store(settings)
    scheduler = BackgroundScheduler(timezone=UTC)
    try:
        schedule_history(scheduler, store, settings, ManualClock(NOW))
        assert scheduler.get_job(RETENTION_JOB) is None
        assert scheduler.get_job(ROLLUP_JOB) is not None
    finally:
        store.close()


def test_retention_prunes_only_raw_readings_past_their_age_and_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = StoreSettings(sqlite_path=tmp_path / "s.sqlite", raw_retention_days=30)
    clock = ManualClock(NOW)
    with SQLiteStore(settings.sqlite_path) as store:
        store.write([reading(200), reading(31), reading(29), reading(0)])
        days_before = store.rollups("1d", *SPAN, sensor="s1")
        jobs = HistoryJobs(store, settings, clock)
        with caplog.at_level(logging.INFO, "repoclimate.history.maintenance"):
            assert jobs.prune() == 2
        assert [r.time for r in store.history("s1", *SPAN)] == [
            reading(29).time,
            reading(0).time,
        ]
        assert store.rollups("1d", *SPAN, sensor="s1") == days_before
        assert (jobs.prune_runs, jobs.pruned, jobs.failures) == (1, 2, 0)
        assert "2 raw readings older than 2026-05-02" in caplog.text
        clock.advance(timedelta(days=2))
        assert jobs.prune() == 1  # two days later the 29-day-old reading is past 30 days
        assert (jobs.prune_runs, jobs.pruned) == (2, 3)


def test_a_store_that_is_down_is_a_warning_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = StoreSettings(sqlite_path=tmp_path / "s.sqlite", raw_retention_days=30)
    store = SQLiteStore(settings.sqlite_path, defer_rollups=True)
    store.write([reading(1)])
    store.close()  # flushes on close; later calls are refused
    jobs = HistoryJobs(store, settings, ManualClock(NOW))
    assert jobs.prune() == 0
    jobs.flush()
    assert jobs.failures == 2 and jobs.prune_runs == 0 and jobs.flushes == 0
    assert "history retention skipped" in caplog.text
    assert "history rollups not brought up to date" in caplog.text


def test_the_flush_job_brings_deferred_rollups_into_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    settings = StoreSettings(sqlite_path=path, defer_rollups=True)
    store = open_store(settings)
    try:
        store.write([reading(0.5), reading(0.25)])
        assert stored_hours(path) == 0  # deferred: only marked
        jobs = HistoryJobs(store, settings, ManualClock(NOW))
        jobs.flush()
        assert jobs.flushes == 1
        assert stored_hours(path) == 4  # two hours, for the sensor and for its room
    finally:
        store.close()


def test_deferred_rollups_answer_like_immediate_ones_late_readings_included(
    tmp_path: Path,
) -> None:
    immediate = SQLiteStore(tmp_path / "now.sqlite")
    deferred = SQLiteStore(tmp_path / "later.sqlite", defer_rollups=True)
    batches = [
        [reading(1 + h / 24, 20.0 + h) for h in range(30)],
        [reading(1 + 5 / 24 - 0.001, 35.0)],  # late, into an hour already rolled up
        [reading(1 + 5 / 24, 10.0)],  # a replaced reading
    ]
    try:
        for batch in batches:
            immediate.write(batch)
            deferred.write(batch)
            for period in ("1h", "1d"):
                for key in ({"sensor": "s1"}, {"site": "a", "room": "r"}):
                    assert deferred.rollups(period, *SPAN, **key) == immediate.rollups(  # type: ignore[arg-type]
                        period,  # type: ignore[arg-type]
                        *SPAN,
                        **key,
                    )
        (hour,) = [
            p
            for p in deferred.rollups("1h", *SPAN, sensor="s1")
            if p.time == datetime(2026, 5, 31, 7, 0, tzinfo=UTC)
        ]
        assert (hour.count, hour.temperature_max, hour.temperature_min) == (2, 35.0, 10.0)
    finally:
        immediate.close()
        deferred.close()


def test_a_crash_loses_no_deferred_mark(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = SQLiteStore(path, defer_rollups=True)
    store.write([reading(0.5)])
    # the process dies: no flush, no close
    reopened = SQLiteStore(path)
    try:
        (hour,) = reopened.rollups("1h", *SPAN, sensor="s1")
        assert hour.count == 1
    finally:
        reopened.close()
        store._closed = True  # the "dead" store must not flush when collected


def test_serve_schedules_the_history_jobs(tmp_path: Path) -> None:
    settings = Settings(
        store=StoreSettings(
            kind="sqlite", sqlite_path=tmp_path / "r.sqlite", raw_retention_days=365
        ),
        alerts={"state_path": tmp_path / "a.sqlite"},  # type: ignore[arg-type]
    )
    services = build_services(settings, None, ["alerts"])
    ids: list[str] = []

    async def start() -> None:
        scheduler = start_scheduler(services)
        assert scheduler is not None
        ids.extend(job.id for job in scheduler.get_jobs())
        scheduler.shutdown(wait=True)

    # a thread of its own: a session-wide Playwright browser of the page tests keeps an event
    # loop running in the main thread
    runner = threading.Thread(target=asyncio.run, args=(start(),))
    try:
        runner.start()
        runner.join(timeout=60)
    finally:
        services.close()
    assert {RETENTION_JOB, ROLLUP_JOB} <= set(ids)
