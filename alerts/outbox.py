"""The outbox worker: sends queued notifications with retries and backoff.

A row stays ``pending`` until its channel accepts it; a channel that fails is backed off as a
whole (its later rows wait, in order) with exponential delays, so an outage delays messages but
loses none. A channel that keeps failing raises its own alert (`delivery.channel_failing`),
which is routed over the other channels, and resolves when the channel delivers again.

Several workers may run at once on one state (a scheduled run and a manual ``alerts
evaluate``, two service processes): each claims a row in a transaction before sending it
(a lease of ``lease_s``; see `repoclimate.alerts.state.delivery`), so every notification is sent
once, by one worker. A worker that dies while holding a row delays it until its lease ends;
then another worker sends it. The lease must outlast one send (the channels' timeouts).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from repoclimate.alerts.dispatch import CHANNEL_FAILING, Dispatcher
from repoclimate.alerts.lifecycle import apply_findings
from repoclimate.alerts.model import Finding, Severity, Subject
from repoclimate.alerts.notify import Channel, DeliveryError, Message, health_key
from repoclimate.alerts.state import AlertStore, ChannelHealth, OutboxRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Delay before the n-th retry: ``base_s · 2^(n−1)``, at most ``max_s``."""

    base_s: float = 30.0
    max_s: float = 900.0

    def delay(self, failures: int) -> timedelta:
        if failures <= 0:
            return timedelta(0)
        return timedelta(seconds=min(self.base_s * 2 ** (failures - 1), self.max_s))


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0
    taken: int = 0
    """Due rows another worker claimed or finished first."""
    left: int = 0
    """Due rows not tried because the worker was told to stop."""
    errors: list[str] = field(default_factory=list)


def worker_name() -> str:
    """Who claims outbox rows: host, process and a random part (unique per worker)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class OutboxWorker:
    """Delivers due outbox rows through ``channels`` (keyed by channel kind)."""

    def __init__(
        self,
        store: AlertStore,
        channels: Mapping[str, Channel],
        dispatcher: Dispatcher | None = None,
        backoff: Backoff | None = None,
        failing_after_attempts: int = 3,
        failing_after_s: float = 300.0,
        lease_s: float = 300.0,
        name: str | None = None,
    ) -> None:
        self.store = store
        self.channels = dict(channels)
        self.dispatcher = dispatcher
        self.backoff = backoff or Backoff()
        self.failing_after_attempts = failing_after_attempts
        self.failing_after = timedelta(seconds=failing_after_s)
        self.lease = timedelta(seconds=lease_s)
        self.name = name or worker_name()
        self.stopping = threading.Event()

    def stop(self) -> None:
        """Finish the message being sent, then try no more (a service shutting down): the rest
        stay due, unclaimed, for the next run or another worker."""
        self.stopping.set()

    def _gate(self, health: ChannelHealth, now: datetime) -> bool:
        """Whether the channel may be tried now (not inside its backoff)."""
        if health.consecutive_failures == 0 or health.last_failure_at is None:
            return True
        return now >= health.last_failure_at + self.backoff.delay(health.consecutive_failures)

    def deliver_due(self, now: datetime, limit: int = 500) -> DeliveryReport:
        """Try every due row once (channels in backoff wait), claiming each before sending it;
        return what happened."""
        report = DeliveryReport()
        blocked: set[str] = set()
        due = self.store.outbox_due(now, limit)
        for done, row in enumerate(due):
            if self.stopping.is_set():
                report.left = len(due) - done
                break
            key = health_key(row.channel, row.target)
            if key in blocked:
                report.deferred += 1
                continue
            with self.store.transaction() as tx:
                open_now = self._gate(tx.channel_health(key), now)
                claimed = tx.claim_outbox(row.id, self.name, now, self.lease) if open_now else None
            if not open_now:
                blocked.add(key)
                report.deferred += 1
                continue
            if claimed is None:
                report.taken += 1
                continue
            row = claimed
            error = self._send(row)
            if error is None:
                report.sent += 1
            elif error.permanent:
                report.failed += 1
                report.errors.append(str(error))
            else:
                report.retried += 1
                report.errors.append(str(error))
                blocked.add(key)
            self._record(row, key, error, now)
        return report

    def _send(self, row: OutboxRow) -> DeliveryError | None:
        channel = self.channels.get(row.channel)
        if channel is None:
            return DeliveryError(f"channel {row.channel!r} is not configured", permanent=True)
        message = Message(row.subject, row.text, row.html, row.payload, key=f"outbox-{row.id}")
        try:
            channel.send(row.target, message)
        except DeliveryError as exc:
            log.warning("delivery of outbox row %d via %s failed: %s", row.id, row.channel, exc)
            return exc
        return None

    def _record(self, row: OutboxRow, key: str, error: DeliveryError | None, now: datetime) -> None:
        with self.store.transaction() as tx:
            if error is None:
                tx.mark_sent(row.id, now)
            elif error.permanent:
                tx.mark_failed(row.id, str(error))
            else:
                failures = tx.channel_health(key).consecutive_failures + 1
                tx.mark_retry(row.id, now + self.backoff.delay(failures), str(error))
            health = tx.record_channel(key, now, None if error is None else str(error))
            subject = Subject(key=f"channel:{key}")
            if error is None:
                changes = apply_findings(tx, [], [CHANNEL_FAILING], [subject.id], now)
            elif (
                health.consecutive_failures >= self.failing_after_attempts
                and health.first_failure_at is not None
                and now - health.first_failure_at >= self.failing_after
            ):
                finding = Finding(
                    rule=CHANNEL_FAILING,
                    subject=subject,
                    severity=Severity.CRITICAL,
                    since=health.first_failure_at,
                    value=float(health.consecutive_failures),
                    threshold=float(self.failing_after_attempts),
                    unit="failures",
                    summary=(
                        f"{key} has failed {health.consecutive_failures} times in a row: "
                        f"{health.last_error}"
                    ),
                    advice=(
                        "Check the channel's server or service and its credentials; messages "
                        "for it are kept and will be sent when it works again."
                    ),
                )
                changes = apply_findings(tx, [finding], [CHANNEL_FAILING], [subject.id], now)
            else:
                changes = []
            if changes and self.dispatcher is not None:
                # Only the channel alert just changed: the places' alerts are dispatched by
                # the engine holding their site (`alerts.partition`), not by every outbox.
                self.dispatcher.dispatch(tx, now, sites=())
