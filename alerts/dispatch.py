"""Deciding who is told what and when: grouping, silences, routing along the rota, escalation,
reminders, all-clears, the weekly digest.

`Dispatcher.dispatch(tx, now)` runs inside the transaction of a state change: the notifications
it decides are written to the outbox in that same transaction, together with the bookkeeping
that stops them being sent twice (after a restart too).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from repoclimate.alerts.model import Alert, AlertState, Severity
from repoclimate.alerts.notify import health_key
from repoclimate.alerts.render import Directory, PlainDirectory, render
from repoclimate.alerts.rota import Contact, Rota
from repoclimate.alerts.state import Bookkeeping, Tx
from repoclimate.alerts.state.alerts import follow_up_due

log = logging.getLogger(__name__)

CHANNEL_FAILING = "delivery.channel_failing"


@dataclass
class Planned:
    """One notification decided by a dispatch run (for logs, tests and the live view)."""

    kind: str
    group_key: str
    alert_ids: list[int]
    people: list[str]
    targets: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Bucket:
    kind: str
    group_key: str
    alerts: list[Alert] = field(default_factory=list)
    people: list[str] = field(default_factory=list)
    exclude_people: set[str] = field(default_factory=set)
    note: str = ""

    def add(self, alert: Alert, people: Iterable[str]) -> None:
        self.alerts.append(alert)
        for person in people:
            if person not in self.people:
                self.people.append(person)


def group_key(alert: Alert) -> str:
    """Alerts of one rule in one room (or about one channel) make one notification."""
    subject = alert.subject
    if subject.key is not None:
        return f"{alert.rule}@{subject.key}"
    return f"{alert.rule}@{subject.site}/{subject.room}"


class Dispatcher:
    """Routes alert state to people and channels according to the rota."""

    def __init__(
        self,
        rota: Rota,
        directory: Directory | None = None,
        ack_url_base: str | None = None,
        group_wait_s: float = 0.0,
    ) -> None:
        self.rota = rota
        self.directory = directory or PlainDirectory(rota.zone)
        self.ack_url_base = ack_url_base
        self.group_wait = timedelta(seconds=group_wait_s)

    def dispatch(
        self, tx: Tx, now: datetime, sites: Collection[str] | None = None
    ) -> list[Planned]:
        """Decide and enqueue every notification due at ``now``.

        ``sites``: only the alerts about places of these sites (and those about no place:
        notification channels) — the sites this engine holds (`alerts.partition`), so that
        engines sharing one alert state never page, escalate or remind about each other's
        alerts. None: every alert.

        Reads only the alerts it can act on at ``now`` (`alerts.state.alerts.FollowUpDue`:
        not the pending ones, nor the told ones whose escalation and reminder are not due) —
        of 6 000 open alerts a handful — and decides for them as for all."""
        silences = tx.silences_active(now)
        buckets: dict[tuple[str, str, int], _Bucket] = {}
        updates: list[tuple[int, dict[str, object]]] = []
        # only the alerts that can need something now (most open ones are told and not due)
        due = follow_up_due(
            now, [step.after_minutes for step in self.rota.escalation], self.rota.reminder_minutes
        )
        candidates = tx.needing_dispatch(due)
        if sites is not None:
            held = set(sites)
            candidates = [
                (alert, book)
                for alert, book in candidates
                if alert.subject.key is not None or alert.subject.site in held
            ]
        first_fired: dict[str, datetime] = {}
        for alert, book in candidates:
            if (
                alert.state is AlertState.FIRING
                and book.notified_state is None
                and alert.fired_at is not None
            ):
                key = group_key(alert)
                first_fired[key] = min(first_fired.get(key, alert.fired_at), alert.fired_at)
        # a group waits group_wait after its first member fired, to gather the others
        waiting_groups = {k for k, t in first_fired.items() if now - t < self.group_wait}

        def bucket(kind: str, key: str, step: int = 0) -> _Bucket:
            return buckets.setdefault((kind, key, step), _Bucket(kind, key))

        for alert, book in candidates:
            silenced = any(s.matches(alert.rule, alert.subject) for s in silences)
            site = alert.subject.site
            key = group_key(alert)
            if alert.state is AlertState.PENDING:
                continue
            if not alert.page:
                if alert.state is AlertState.RESOLVED or book.notified_state is not None:
                    if alert.state is AlertState.RESOLVED:
                        updates.append((alert.id, {"notified_state": "resolved"}))
                    continue
                if not silenced:
                    people = self.rota.digest_people(now, site)
                    bucket("digest", f"digest@{site}").add(alert, people)
                    updates.append(
                        (
                            alert.id,
                            {
                                "notified_state": "firing",
                                "notified_severity": alert.severity,
                                "first_notified_at": now,
                                "last_notified_at": now,
                                "recipients": people,
                            },
                        )
                    )
                continue
            if alert.state is AlertState.RESOLVED:
                if book.notified_state in ("firing", "acknowledged"):
                    # An all-clear only for an alert someone was told about: one acknowledged
                    # before its first page (still in its group wait) resolves quietly.
                    if book.first_notified_at is not None:
                        bucket("resolved", key).add(alert, book.recipients)
                    updates.append((alert.id, {"notified_state": "resolved"}))
                continue
            if book.notified_state is None:
                if silenced or key in waiting_groups:
                    continue
                if alert.state is AlertState.ACKNOWLEDGED:
                    updates.append((alert.id, {"notified_state": "acknowledged"}))
                    continue
                people = self.rota.step_people(0, now, site)
                bucket("firing", key).add(alert, people)
                updates.append(
                    (
                        alert.id,
                        {
                            "notified_state": "firing",
                            "notified_severity": alert.severity,
                            "first_notified_at": now,
                            "last_notified_at": now,
                            "escalation_step": 0,
                            "recipients": people,
                        },
                    )
                )
                continue
            if alert.state is AlertState.ACKNOWLEDGED and book.notified_state == "firing":
                b = bucket("acknowledged", key)
                b.add(alert, book.recipients)
                if alert.acknowledged_by:
                    b.exclude_people.add(alert.acknowledged_by)
                updates.append((alert.id, {"notified_state": "acknowledged"}))
                continue
            if silenced:
                continue
            change = self._follow_up(alert, book, now)
            if change is not None:
                kind, step, people, fields = change
                bucket(kind, key, step).add(alert, people)
                updates.append((alert.id, fields))

        for alert_id, fields in updates:
            tx.update_alert(alert_id, now, **fields)
        planned = []
        for b in buckets.values():
            planned.append(self._enqueue(tx, b, now))
        return planned

    def _follow_up(
        self, alert: Alert, book: Bookkeeping, now: datetime
    ) -> tuple[str, int, list[str], dict[str, object]] | None:
        """Severity raised, escalation due, or reminder due — at most one per run.

        Escalation and reminders are sent only once the condition has been found at or after
        the time they fell due: while an alert is held open in its clear-hold with the
        condition absent they wait for it to return (a page about a condition that has gone
        quiet teaches people to ignore the pager).
        """
        recipients = list(book.recipients)
        if book.notified_severity is not None and alert.severity > book.notified_severity:
            return (
                "update",
                0,
                recipients,
                {"notified_severity": alert.severity, "last_notified_at": now},
            )
        if alert.state is not AlertState.FIRING or book.first_notified_at is None:
            return None
        next_step = book.escalation_step + 1
        steps = self.rota.escalation
        if next_step < len(steps):
            due = book.first_notified_at + timedelta(minutes=steps[next_step].after_minutes)
            if now >= due and _seen_since(alert, due):
                people = self.rota.step_people(next_step, now, alert.subject.site)
                fresh = [p for p in people if p not in recipients]
                return (
                    "escalation",
                    next_step,
                    people,
                    {
                        "escalation_step": next_step,
                        "last_notified_at": now,
                        "recipients": recipients + fresh,
                    },
                )
        reminder = self.rota.reminder_minutes
        if (
            reminder is not None
            and book.last_notified_at is not None
            and now >= book.last_notified_at + timedelta(minutes=reminder)
            and _seen_since(alert, book.last_notified_at + timedelta(minutes=reminder))
        ):
            return ("reminder", 0, recipients, {"last_notified_at": now})
        return None

    def _contacts(self, b: _Bucket, severity: Severity) -> list[tuple[str | None, Contact]]:
        chosen: list[tuple[str | None, Contact]] = []
        for person in b.people:
            if person in b.exclude_people or person not in self.rota.people:
                continue
            for contact in self.rota.people[person].contacts:
                if contact.wants(severity) or b.kind == "resolved":
                    chosen.append((person, contact))
        for contact in self.rota.broadcast:
            if contact.wants(severity) or b.kind == "resolved":
                chosen.append((None, contact))
        return chosen

    def _enqueue(self, tx: Tx, b: _Bucket, now: datetime) -> Planned:
        alerts = b.alerts
        severity = max(alert.severity for alert in alerts)
        failing = {
            alert.subject.key.removeprefix("channel:")
            for alert in alerts
            if alert.rule == CHANNEL_FAILING and alert.subject.key
        }
        subject, text, html, payload = render(
            b.kind, alerts, self.directory, now, self.ack_url_base, b.note
        )
        ids = [alert.id for alert in alerts]
        planned = Planned(b.kind, b.group_key, ids, list(b.people))
        seen: set[tuple[str, str]] = set()
        for person, contact in self._contacts(b, severity):
            channel, target = contact.channel, contact.target
            if (channel, target) in seen or health_key(channel, target) in failing:
                continue
            seen.add((channel, target))
            tx.enqueue(
                now=now,
                kind=b.kind,
                group_key=b.group_key,
                alert_ids=ids,
                person=person,
                channel=channel,
                target=target,
                subject=subject,
                text=text,
                html=html,
                payload=payload,
            )
            planned.targets.append((channel, target))
        if not planned.targets and b.kind in ("firing", "escalation", "digest", "update"):
            # Nobody on duty and no broadcast: keep a record rather than drop the page silently.
            tx.enqueue(
                now=now,
                kind=b.kind,
                group_key=b.group_key,
                alert_ids=ids,
                person=None,
                channel="log",
                target="-",
                subject=subject,
                text=text,
                html=html,
                payload=payload,
            )
            planned.targets.append(("log", "-"))
        return planned


def _seen_since(alert: Alert, due: datetime) -> bool:
    """Whether the alert's condition was found at or after ``due`` (always, for alerts stored
    before the clear-hold, which have no ``last_seen``)."""
    return alert.last_seen is None or alert.last_seen >= due
