"""What the running service holds and the HTTP API reads: settings, registry, history store,
alert state, users, collector, scheduler, clock and metrics — one `Services`, built by
`repoclimate.app.serve` and handed to `repoclimate.app.api.create_app`.

`Services.reload()` is the admin's "reload configuration": it runs ``check-config`` on the config
file first and swaps in the new registry, rules and rota only when that finds nothing wrong, so a
bad file leaves the running configuration in place. The swap is attribute assignment: a request
or an evaluation already running finishes with the configuration it started with.

`Metrics` is the Prometheus side: histograms and counters the service updates as it works (store
write latency, evaluation duration per rule class, crashed jobs) and a custom collector that
reads the collector's counters and the alert state when scraped, so nothing is copied on a timer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector as PromCollector

from repoclimate.alerts.clock import Clock
from repoclimate.alerts.engine import AlertEngine
from repoclimate.alerts.model import Severity
from repoclimate.alerts.outbox import Backoff, OutboxWorker
from repoclimate.alerts.runtime import Alerting, load_rota, load_rules
from repoclimate.alerts.settings import AlertSettings
from repoclimate.alerts.state import AlertStore
from repoclimate.app.checks import check_all
from repoclimate.app.settings import Settings, SettingsError, load_settings
from repoclimate.app.users import UserStore
from repoclimate.app.wiring import pipeline_from, registry_from
from repoclimate.history.derived import DerivedRow
from repoclimate.history.store import AggregatePoint, HistoryStore
from repoclimate.ingest.collector import Collector
from repoclimate.sensors.reading import Reading
from repoclimate.sensors.registry import Registry
from repoclimate.sensors.yamlfile import ConfigError

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

log = logging.getLogger(__name__)

EVALUATION_JOB_PREFIX = "alerts-"
"""`alerts.schedule` names an evaluation job ``alerts-<class>+<class>…``."""

NOT_EVALUATION_JOBS = ("alerts-dispatch", "alerts-outbox")


class Metrics:
    """The service's Prometheus metrics, in a registry of their own (`render` gives the text).

    Updated as the service works: ``store_write_seconds`` (every write of a collector batch),
    ``evaluation_seconds`` (per rule class; classes evaluated together share one run's time),
    ``job_runs`` and ``job_failures`` (per scheduled job). Read when scraped: see
    `ServiceCollector`.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.store_write_seconds = Histogram(
            "repoclimate_store_write_seconds",
            "Time to write one batch of readings to the history store [s].",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.evaluation_seconds = Histogram(
            "repoclimate_alert_evaluation_seconds",
            "Time of one scheduled evaluation of a rule class [s].",
            ["rule_class"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.job_runs = PromCounter(
            "repoclimate_job_runs",
            "Scheduled job runs that finished.",
            ["job"],
            registry=self.registry,
        )
        self.job_failures = PromCounter(
            "repoclimate_job_failures",
            "Scheduled job runs that raised (logged with the traceback, retried at the next run).",
            ["job"],
            registry=self.registry,
        )
        self._submitted: dict[str, float] = {}
        self._lock = threading.Lock()

    def watch(self, services: Services) -> None:
        """Read the collector's counters and the alert state of ``services`` at every scrape."""
        self.registry.register(ServiceCollector(services))

    def render(self) -> bytes:
        """The metrics in Prometheus' text exposition format."""
        return generate_latest(self.registry)

    def job_started(self, job_id: str) -> None:
        with self._lock:
            self._submitted[job_id] = time.monotonic()

    def job_finished(self, job_id: str, failed: bool) -> None:
        with self._lock:
            started = self._submitted.pop(job_id, None)
        (self.job_failures if failed else self.job_runs).labels(job=job_id).inc()
        if started is None or job_id in NOT_EVALUATION_JOBS:
            return
        if job_id.startswith(EVALUATION_JOB_PREFIX):
            took = time.monotonic() - started
            for rule_class in job_id.removeprefix(EVALUATION_JOB_PREFIX).split("+"):
                self.evaluation_seconds.labels(rule_class=rule_class).observe(took)


class ServiceCollector(PromCollector):
    """Metrics read at scrape time: the collector's counters (messages received, readings
    stored, rejected by reason, spool depth, broker connection) and the alert state (open alerts
    by severity, outbox depth and failures per channel)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterable[Metric]:
        yield from self._collector_metrics()
        yield from self._alert_metrics()

    def _collector_metrics(self) -> Iterator[Metric]:
        collector = self.services.collector
        if collector is None:
            return
        stats = collector.stats.snapshot()
        for name, value, text in (
            ("messages_received", stats.received, "MQTT messages handed to the collector."),
            ("messages_ignored", stats.ignored, "Messages that carry no reading."),
            ("messages_acked", stats.acked, "Messages acknowledged to the broker."),
            ("readings_stored", stats.stored, "Readings written to the history store."),
            ("readings_spooled", stats.spooled, "Readings spooled while the store was away."),
            ("store_errors", stats.store_errors, "Failed store writes."),
        ):
            yield CounterMetricFamily(f"repoclimate_{name}", text, value=value)
        rejected = CounterMetricFamily(
            "repoclimate_messages_rejected", "Messages rejected, by reason.", labels=["reason"]
        )
        for reason, count in sorted(stats.rejected.items()):
            rejected.add_metric([reason], count)
        yield rejected
        yield GaugeMetricFamily(
            "repoclimate_spool_depth", "Readings waiting in the spool.", value=stats.spool_pending
        )
        yield GaugeMetricFamily(
            "repoclimate_mqtt_connected",
            "1 while the collector is connected to the broker.",
            value=int(stats.connected),
        )

    def _alert_metrics(self) -> Iterator[Metric]:
        state = self.services.state
        by_severity = Counter(alert.severity for alert in state.open_alerts())
        open_alerts = GaugeMetricFamily(
            "repoclimate_alerts_open", "Open alerts, by severity.", labels=["severity"]
        )
        for severity in Severity:
            open_alerts.add_metric([severity.label], by_severity.get(severity, 0))
        yield open_alerts
        pending = Counter(row.channel for row in state.outbox("pending"))
        failed = Counter(row.channel for row in state.outbox("failed"))
        depth = GaugeMetricFamily(
            "repoclimate_outbox_depth", "Notifications waiting to be sent.", labels=["channel"]
        )
        failures = GaugeMetricFamily(
            "repoclimate_outbox_failed",
            "Notifications given up on after their retries, per channel.",
            labels=["channel"],
        )
        for channel in sorted(set(pending) | set(failed)):
            depth.add_metric([channel], pending.get(channel, 0))
            failures.add_metric([channel], failed.get(channel, 0))
        yield depth
        yield failures


class TimedStore:
    """A history store that records the time of every `write` in `Metrics`; all else passes
    through. The collector writes through it."""

    def __init__(self, store: HistoryStore, metrics: Metrics) -> None:
        self.store = store
        self.metrics = metrics

    def write(self, readings: Sequence[Reading]) -> None:
        with self.metrics.store_write_seconds.time():
            self.store.write(readings)

    def latest(self) -> list[Reading]:
        return self.store.latest()

    def history(self, sensor: str, start: datetime, end: datetime) -> list[Reading]:
        return self.store.history(sensor, start, end)

    def aggregate(
        self, sensor: str, start: datetime, end: datetime, every: timedelta
    ) -> list[AggregatePoint]:
        return self.store.aggregate(sensor, start, end, every)

    def count(self) -> int:
        return self.store.count()

    def write_derived(self, rows: Sequence[DerivedRow]) -> None:
        self.store.write_derived(rows)

    def healthy(self) -> bool:
        return self.store.healthy()

    def close(self) -> None:
        self.store.close()


@dataclass
class Services:
    """Everything the routers need. ``collector`` and ``scheduler`` are None when that part
    does not run in this process (``serve --only api``); ``alerting`` is the alert engine and
    outbox worker the scheduler runs (None without ``alerts``)."""

    settings: Settings
    registry: Registry
    store: HistoryStore
    state: AlertStore
    users: UserStore
    collector: Collector | None
    scheduler: BaseScheduler | None
    clock: Clock
    metrics: Metrics
    alerting: Alerting | None = None
    config_path: Path | None = None
    reloads: int = 0
    _reload_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reload(self) -> list[str]:
        """Re-read the config file, registry, rules and rota; swap them in if ``check-config``
        finds nothing wrong. Returns the problems (``file:line: field: reason``), empty when the
        new configuration runs. Settings other than the registry, rules and rota (broker, store,
        listen address…) take effect at the next start."""
        with self._reload_lock:
            problems, _summary = check_all(self.config_path, None)
            if problems:
                log.warning("reload refused, the running configuration stays: %s", problems)
                return problems
            try:
                settings = load_settings(self.config_path)
                registry = registry_from(settings.registry)
                alerting = (
                    None
                    if self.alerting is None
                    else _rebuilt(self.alerting, settings.alerts, self.store, registry, self.clock)
                )
            except (SettingsError, ConfigError) as exc:  # changed again since the check
                return str(exc).splitlines()
            if self.collector is not None:
                pipeline = pipeline_from(settings.mqtt, self.collector.settings, registry)
                self.collector.pipeline = pipeline
                self.collector.decoder.pipeline = pipeline
            if self.alerting is not None and alerting is not None:
                self.alerting.engine = alerting.engine
                self.alerting.outbox = alerting.outbox
                self.alerting.settings = alerting.settings
            self.registry = registry
            self.reloads += 1
            log.info("configuration reloaded: %d sites", len(registry.sites))
            return []

    def close(self) -> None:
        """Close the stores and the partition's site leases (after the parts using them
        stopped)."""
        if self.alerting is not None:
            self.alerting.partition.close()
        self.state.close()
        self.users.close()
        self.store.close()


def _rebuilt(
    running: Alerting,
    settings: AlertSettings,
    store: HistoryStore,
    registry: Registry,
    clock: Clock,
) -> Alerting:
    """A new engine and outbox worker over the running alert state and channels, with the
    registry, rules and rota now on file (raises `ConfigError` on a bad file)."""
    engine = AlertEngine(
        store,
        registry,
        running.state,
        load_rules(settings),
        load_rota(settings),
        intervals=settings.intervals.rule_classes(),
        ack_url_base=settings.ack_url_base,
        group_wait_s=settings.group_wait_s,
        write_derived=settings.write_derived,
        clock=clock,
        evaluator=settings.evaluator,
        incremental=settings.incremental,
    )
    outbox = OutboxWorker(
        running.state,
        running.outbox.channels,
        engine.dispatcher,
        Backoff(settings.outbox.retry_base_s, settings.outbox.retry_max_s),
        settings.outbox.failing_after_attempts,
        settings.outbox.failing_after_s,
        name=running.outbox.name,
    )
    return Alerting(engine, outbox, running.state, settings)
