"""The alert schedule (APScheduler 3.11): one evaluation job per interval (rule classes that share
an interval are evaluated together, so each room's history is fetched once per run), a dispatch
job (escalations, reminders, grouped notifications) and the outbox worker. Each evaluation
evaluates the sites its engine's partition holds at that moment (`alerts.partition`).

Every job coalesces missed runs into one, never runs twice at once, and is dropped if it is
later than its own interval (``misfire_grace_time``): after a pause the engine catches up with
one evaluation, not a pile of them. Jobs are idempotent: a cancelled run is simply done again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger

from repoclimate.alerts.clock import Clock, SystemClock
from repoclimate.alerts.runtime import Alerting
from repoclimate.history.store import StoreUnavailable

log = logging.getLogger(__name__)


def job_options(interval_s: float) -> dict[str, object]:
    """APScheduler job settings: coalesce, one instance, grace of one interval."""
    return {
        "coalesce": True,
        "max_instances": 1,
        "misfire_grace_time": max(int(interval_s), 1),
        "replace_existing": True,
    }


def _evaluate(alerting: Alerting, clock: Clock, rule_classes: list[str]) -> None:
    try:
        with alerting.partition.claim() as sites:
            if sites is not None and not sites:
                log.debug("alerts: %s evaluation skipped, no site held", ", ".join(rule_classes))
                return
            alerting.engine.evaluate(clock.now(), rule_classes, sites=sites)
    except StoreUnavailable as exc:
        names = ", ".join(rule_classes)
        log.warning("alerts: %s evaluation skipped, store unavailable: %s", names, exc)


def _dispatch(alerting: Alerting, clock: Clock) -> None:
    """Escalate, remind and notify about the alerts of the sites the partition holds."""
    with alerting.partition.claim() as sites:
        alerting.engine.dispatch(clock.now(), sites=sites)


def _deliver(alerting: Alerting, clock: Clock) -> None:
    report = alerting.outbox.deliver_due(clock.now())
    if report.retried or report.failed:
        log.warning(
            "alerts outbox: %d sent, %d to retry, %d failed",
            report.sent,
            report.retried,
            report.failed,
        )


def schedule_alerting(
    scheduler: BaseScheduler, alerting: Alerting, clock: Clock | None = None
) -> list[str]:
    """Add the alert jobs to ``scheduler`` (any APScheduler 3 scheduler); return their ids."""
    clock = clock or SystemClock()
    intervals = alerting.settings.intervals
    start = clock.now()
    by_interval: dict[float, list[str]] = {}
    for rule_class, seconds in intervals.rule_classes().items():
        by_interval.setdefault(seconds, []).append(rule_class)
    ids = []
    for offset, (seconds, rule_classes) in enumerate(by_interval.items()):
        job_id = "alerts-" + "+".join(rule_classes)
        scheduler.add_job(
            _evaluate,
            IntervalTrigger(seconds=seconds),
            args=[alerting, clock, rule_classes],
            id=job_id,
            name=f"evaluate {', '.join(rule_classes)} rules",
            next_run_time=start + timedelta(seconds=offset),
            **job_options(seconds),
        )
        ids.append(job_id)
    scheduler.add_job(
        _dispatch,
        IntervalTrigger(seconds=intervals.dispatch),
        args=[alerting, clock],
        id="alerts-dispatch",
        name="escalate, remind, notify",
        **job_options(intervals.dispatch),
    )
    scheduler.add_job(
        _deliver,
        IntervalTrigger(seconds=intervals.outbox),
        args=[alerting, clock],
        id="alerts-outbox",
        name="deliver notifications",
        next_run_time=start,
        **job_options(intervals.outbox),
    )
    return [*ids, "alerts-dispatch", "alerts-outbox"]
