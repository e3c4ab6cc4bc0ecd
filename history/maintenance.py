"""Scheduled upkeep of the stored history in ``repoclimate serve``: retention and rollups.

`schedule_history` adds two jobs to the service's APScheduler (3.x) scheduler:

- ``history-retention``, daily (first run a minute after start): deletes the raw readings older
  than ``store.raw_retention_days`` (`apply_retention`); rollups are kept. Without the setting
  the job is not added.
- ``history-rollups``, every `FLUSH_EVERY_S`: brings the rollups of the buckets written since
  the last run up to date (``flush_rollups``) on a store that defers them (the InfluxDB store,
  and the SQLite store with ``store.defer_rollups``), so rollups are current even when no
  further write or rollup read comes to trigger it.

Each run is logged and counted in `HistoryJobs` (and, by job id, in the service's job metrics).
A store that is down is a warning, not a failure of the service: the next run tries again. The
time comes from the injected clock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from threading import Lock
from typing import Protocol, runtime_checkable

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger

from repoclimate.history.retention import Prunable, apply_retention, retention_horizon
from repoclimate.history.settings import StoreSettings
from repoclimate.history.store import StoreRejected, StoreUnavailable

log = logging.getLogger(__name__)

RETENTION_JOB = "history-retention"
ROLLUP_JOB = "history-rollups"
RETENTION_EVERY = timedelta(days=1)
RETENTION_FIRST_AFTER = timedelta(minutes=1)
FLUSH_EVERY_S = 60.0


class Now(Protocol):
    """A clock (`repoclimate.alerts.clock.Clock` fits)."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""


@runtime_checkable
class DefersRollups(Protocol):
    """A store whose rollups are refreshed in batches rather than on every write."""

    def flush_rollups(self) -> None:
        """Bring the rollups of every bucket written since the last flush up to date."""


@dataclass
class HistoryJobs:
    """The history jobs of one service and what they did so far."""

    store: Prunable
    settings: StoreSettings
    clock: Now
    prune_runs: int = 0
    pruned: int = 0
    """Raw readings deleted by retention since the service started."""
    flushes: int = 0
    failures: int = 0
    """Runs that found the store down or refusing (each logged as a warning)."""
    _lock: Lock = field(default_factory=Lock, repr=False)

    def prune(self) -> int:
        """Apply retention at the clock's now; the number of raw readings deleted."""
        now = self.clock.now()
        horizon = retention_horizon(self.settings, now)
        if horizon is None:
            return 0
        try:
            deleted = apply_retention(self.store, self.settings, now)
        except (StoreUnavailable, StoreRejected) as exc:
            with self._lock:
                self.failures += 1
            log.warning("history retention skipped, the store did not answer: %s", exc)
            return 0
        with self._lock:
            self.prune_runs += 1
            self.pruned += deleted
        log.info("history retention: %d raw readings older than %s deleted", deleted, horizon)
        return deleted

    def flush(self) -> None:
        """Bring deferred rollups up to date (nothing on a store that does not defer them)."""
        if not isinstance(self.store, DefersRollups):
            return
        try:
            self.store.flush_rollups()
        except (StoreUnavailable, StoreRejected) as exc:
            with self._lock:
                self.failures += 1
            log.warning("history rollups not brought up to date (retried next run): %s", exc)
            return
        with self._lock:
            self.flushes += 1
        log.debug("history rollups brought up to date")


def _options(interval_s: float) -> dict[str, object]:
    return {
        "coalesce": True,
        "max_instances": 1,
        "misfire_grace_time": max(int(interval_s), 1),
        "replace_existing": True,
    }


def schedule_history(
    scheduler: BaseScheduler, store: Prunable, settings: StoreSettings, clock: Now
) -> HistoryJobs:
    """Add the retention and rollup jobs to ``scheduler``; return their `HistoryJobs`."""
    jobs = HistoryJobs(store, settings, clock)
    start = clock.now()
    if settings.raw_retention_days is not None:
        scheduler.add_job(
            jobs.prune,
            IntervalTrigger(seconds=RETENTION_EVERY.total_seconds()),
            id=RETENTION_JOB,
            name=f"delete raw readings older than {settings.raw_retention_days} days",
            next_run_time=start + RETENTION_FIRST_AFTER,
            **_options(RETENTION_EVERY.total_seconds()),
        )
    if isinstance(store, DefersRollups):
        scheduler.add_job(
            jobs.flush,
            IntervalTrigger(seconds=FLUSH_EVERY_S),
            id=ROLLUP_JOB,
            name="bring deferred rollups up to date",
            next_run_time=start + timedelta(seconds=FLUSH_EVERY_S),
            **_options(FLUSH_EVERY_S),
        )
    return jobs
