"""The APScheduler jobs: one per interval, classes sharing it evaluated together; missed runs
coalesce into one and a slow run is never joined by a second."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path

import pytest
from apscheduler.events import (
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.background import BackgroundScheduler

from repoclimate.alerts.runtime import build_alerting
from repoclimate.alerts.schedule import schedule_alerting
from repoclimate.alerts.settings import AlertSettings, IntervalSettings
from repoclimate.history import StoreSettings, open_store
from repoclimate.sensors.registry import Registry


def test_jobs_coalesce_and_never_pile_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three runs of the 1-s excursion job are missed while the scheduler is paused: on resuming
    they are handed over as one (coalesced); a run that outlasts the interval is not joined by a
    second instance (the scheduler refuses it); and the job keeps running afterwards. Decided on
    the scheduler's own events and run times, not on wall-clock margins, so load cannot fake or
    hide a pile-up."""
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
    lock = threading.Lock()
    running = 0
    most_at_once = 0
    excursion_calls = 0
    second_try = threading.Event()  # the scheduler refused a second instance, or started one
    submitted: list[list[datetime]] = []  # scheduled run times handed over per submission
    executed: list[datetime] = []  # scheduled run time of every finished excursion run

    def counting(
        now: datetime | None = None,
        classes: list[str] | None = None,
        *,
        sites: Collection[str] | None = None,
    ) -> list[object]:
        nonlocal running, most_at_once, excursion_calls
        if classes != ["excursion"]:
            return []
        with lock:
            running += 1
            most_at_once = max(most_at_once, running)
            excursion_calls += 1
            first = excursion_calls == 1
            if running > 1:
                second_try.set()
        try:
            if first:  # outlast the interval until the scheduler has tried to start another
                assert second_try.wait(30), "the scheduler never tried a second run"
        finally:
            with lock:
                running -= 1
        return []

    def listen(event: JobEvent) -> None:
        if event.job_id != "alerts-excursion":
            return
        with lock:
            if event.code == EVENT_JOB_MAX_INSTANCES:
                second_try.set()
            elif isinstance(event, JobSubmissionEvent):
                submitted.append(list(event.scheduled_run_times))
            elif isinstance(event, JobExecutionEvent):
                executed.append(event.scheduled_run_time)

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
    scheduler.add_listener(
        listen, EVENT_JOB_SUBMITTED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_EXECUTED
    )
    scheduler.start(paused=True)
    try:
        time.sleep(3.3)  # at least three excursion runs missed while paused
        resumed_at = datetime.now(UTC)
        scheduler.resume()

        def ran_after_resuming() -> bool:
            with lock:
                return any(t > resumed_at for t in executed)

        deadline = time.monotonic() + 30
        while not ran_after_resuming():  # it keeps running
            assert time.monotonic() < deadline, f"no run after resuming: {executed}"
            time.sleep(0.05)
    finally:
        scheduler.shutdown(wait=True)
        alerting.close()
        store.close()
    assert submitted and all(len(times) == 1 for times in submitted), submitted  # coalesced
    assert len([t for t in executed if t <= resumed_at]) <= 1  # one catch-up run, not three
    assert second_try.is_set() and most_at_once == 1  # refused, not run alongside


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
