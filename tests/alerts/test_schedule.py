"""The APScheduler jobs: one per interval, classes sharing it evaluated together; a missed run
coalesces into one."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from datetime import datetime
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from repoclimate.alerts.runtime import build_alerting
from repoclimate.alerts.schedule import schedule_alerting
from repoclimate.alerts.settings import AlertSettings, IntervalSettings
from repoclimate.history import StoreSettings, open_store
from repoclimate.sensors.registry import Registry


def test_jobs_coalesce_and_never_pile_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = AlertSettings(
        state_path=tmp_path / "alerts.sqlite",
        intervals=IntervalSettings(
            excursion=1,
            fluctuation=60,
            condensation=60,
            health=60,
            mould=60,
            decay=60,
            dispatch=60,
            outbox=60,
        ),
    )
    store = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp_path / "r.sqlite"))
    alerting = build_alerting(settings, store, Registry.empty())
    runs: list[tuple[datetime | None, list[str]]] = []
    lock = threading.Lock()

    def counting(
        now: datetime | None = None,
        classes: list[str] | None = None,
        *,
        sites: Collection[str] | None = None,
    ) -> list[object]:
        with lock:
            runs.append((now, list(classes or [])))
        return []

    monkeypatch.setattr(alerting.engine, "evaluate", counting)
    scheduler = BackgroundScheduler(timezone="UTC")
    ids = schedule_alerting(scheduler, alerting)
    assert ids == [
        "alerts-excursion",
        "alerts-fluctuation+condensation+health+mould+decay",
        "alerts-dispatch",
        "alerts-outbox",
    ]
    job = scheduler.get_job("alerts-excursion")
    assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time == 1
    shared = scheduler.get_job(ids[1])
    assert shared.trigger.interval.total_seconds() == 60
    assert shared.args[2] == ["fluctuation", "condensation", "health", "mould", "decay"]
    scheduler.start(paused=True)
    try:
        time.sleep(3.3)  # three excursion runs missed while paused
        scheduler.resume()
        time.sleep(0.5)
        with lock:
            excursion_runs = [r for r in runs if r[1] == ["excursion"]]
        assert len(excursion_runs) <= 1  # coalesced: at most one catch-up run, not three
        time.sleep(1.2)
        with lock:
            assert any(r[1] == ["excursion"] for r in runs)  # and it keeps running
    finally:
        scheduler.shutdown(wait=True)
        alerting.close()
        store.close()


def test_default_intervals_fetch_history_once_per_five_minutes(tmp_path: Path) -> None:
    """Excursion, condensation and health share the 5-minute interval: one job, one fetch."""
    settings = AlertSettings(state_path=tmp_path / "alerts.sqlite")
    store = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp_path / "r.sqlite"))
    alerting = build_alerting(settings, store, Registry.empty())
    scheduler = BackgroundScheduler(timezone="UTC")
    try:
        ids = schedule_alerting(scheduler, alerting)
        assert ids[:4] == [
            "alerts-excursion+condensation+health",
            "alerts-fluctuation",
            "alerts-mould",
            "alerts-decay",
        ]
        assert scheduler.get_job(ids[0]).trigger.interval.total_seconds() == 300
    finally:
        alerting.close()
        store.close()
