"""The alert state machine: pending → firing → acknowledged → resolved.

`apply_findings` turns one evaluation's findings into state changes: a new condition opens an
alert (pending until it has held for its rule's duration ``for_s``, then firing), a held
condition updates value and severity, a condition gone resolves the alert. A pending alert
resolves at once; a firing or acknowledged one only once the condition has been absent for its
rule's ``clear_s`` (the clear-hold, like Prometheus's ``keep_firing_for``): a condition that
comes back within it — a daily RH swing, noise around a threshold — continues the same alert
instead of paging and giving the all-clear again. Every transition is an event with time and
actor. Time is an argument; nothing here reads the clock.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Collection, Iterable, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

from repoclimate.alerts.model import Alert, AlertState, Finding, Subject, Transition
from repoclimate.alerts.state import TransitionError, Tx, parse_iso
from repoclimate.alerts.state.alerts import OpenView

ENGINE = "engine"
SYSTEM = "system"
"""The actor of transitions the engine makes for bookkeeping rather than from a rule's finding."""

_stored_since = lru_cache(maxsize=1 << 15)(parse_iso)
"""`parse_iso` of an open alert's stored ``since``: read back at every step the alert is
found (thousands in a backtest, every cycle live), the same text each time. Larger than the
open alerts of a big network (≈ 6 000 at 10 000 sensors): a cache smaller than the alerts
read in turn misses every time."""


class LifecycleRows(Protocol):
    """What `apply_findings` reads and writes: a `Tx` (one transaction), or a
    `alerts.state.alerts.BufferedAlerts` over one (many steps, written in batches)."""

    def open_brief(self, rules: Sequence[str] | None) -> Sequence[OpenView]: ...

    def insert_alerts(
        self, opened: Sequence[tuple[Finding, AlertState]], now: datetime
    ) -> list[int]: ...

    def update_alerts(
        self, changes: Sequence[tuple[int, dict[str, Any]]], now: datetime
    ) -> None: ...

    def add_events(
        self, rows: Sequence[tuple[int, datetime, AlertState | None, AlertState, str, str]]
    ) -> None: ...


class ReadOnce:
    """A `LifecycleRows` over one transaction for several `apply_findings` calls of rule
    classes: the open alerts of every rule are read once, at the first call's read, and each
    call gets those of its rules from that read.

    Valid by construction: inside the transaction (which holds the write lock) the open alerts
    of a rule change only through the call that was handed them — a call writes only the
    alerts it read and the new alerts of its findings' rules. So a rule is handed out once;
    a rule asked for again, or one a call inserted alerts of without having asked for it,
    is read from the transaction again (from the database, or from the rows it keeps in step
    with its writes: `alerts.state.alerts.AlertRows.keep_open`)."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self._held: dict[str, list[OpenView]] | None = None
        self._spent: set[str] = set()
        self._all_spent = False

    def open_brief(self, rules: Sequence[str] | None) -> Sequence[OpenView]:
        if rules is None or self._all_spent:
            self._all_spent = True
            return self.tx.open_brief(rules)
        wanted = set(rules)
        if not wanted.isdisjoint(self._spent):
            self._spent.update(wanted)
            return self.tx.open_brief(rules)
        if self._held is None:
            self._held = {}
            for brief in self.tx.open_brief(None):
                self._held.setdefault(brief.rule, []).append(brief)
        self._spent.update(wanted)
        found = [brief for rule in wanted for brief in self._held.pop(rule, ())]
        if len(wanted) > 1:
            found.sort(key=lambda brief: brief.id)
        return found

    def insert_alerts(
        self, opened: Sequence[tuple[Finding, AlertState]], now: datetime
    ) -> list[int]:
        self._spent.update(finding.rule for finding, _ in opened)
        return self.tx.insert_alerts(opened, now)

    def update_alerts(self, changes: Sequence[tuple[int, dict[str, Any]]], now: datetime) -> None:
        self.tx.update_alerts(changes, now)

    def add_events(
        self, rows: Sequence[tuple[int, datetime, AlertState | None, AlertState, str, str]]
    ) -> None:
        self.tx.add_events(rows)


def _same(stored: float | None, found: float | None) -> bool:
    """Whether a finding's number is the one stored, so that writing it changes nothing: equal,
    and of the same sign (0.0 and -0.0 are equal but not the same; equal numbers other than
    zero have the same sign)."""
    return stored == found and (
        stored != 0 or math.copysign(1.0, stored) == math.copysign(1.0, found)  # type: ignore[arg-type]
    )


def _transition(
    alert_id: int,
    finding: Finding | Alert,
    when: datetime,
    src: AlertState | None,
    dst: AlertState,
) -> Transition:
    return Transition(
        alert_id=alert_id,
        rule=finding.rule,
        subject=finding.subject,
        time=when,
        from_state=src,
        to_state=dst,
        severity=finding.severity,
        value=finding.value,
        threshold=finding.threshold,
        unit=finding.unit,
        summary=finding.summary,
    )


def apply_findings(
    tx: LifecycleRows,
    findings: Sequence[Finding],
    rules: Collection[str],
    subjects: Collection[str],
    now: datetime,
    held: Collection[tuple[str, str]] = (),
    track_values: bool = True,
) -> list[Transition]:
    """Bring stored alerts of ``rules`` × ``subjects`` in line with ``findings`` at ``now``.

    ``subjects`` are the subject ids the rules were evaluated for; an open alert of another
    subject is left alone. ``held`` (rule, subject id) pairs could not be evaluated (no fresh
    data) and keep their state. An open alert whose finding is absent resolves at ``now`` if
    pending, or if its condition was last seen ``clear_s`` or more before ``now``.
    ``track_values`` false (catching up) skips storing the latest value and summary of alerts
    whose state and severity did not change; ``last_seen`` is stored always. A column whose
    value would not change is not written.

    The writes are batched: one read of the open alerts of ``rules``, then one multi-row
    insert of the new alerts, one executemany per set of changed columns and one of the events
    — a handful of statements per call, however many findings (`Changes`).
    """
    best: dict[tuple[str, str], Finding] = {}
    for finding in findings:
        key = (finding.rule, finding.subject.id)
        current = best.get(key)
        if current is None or finding.severity > current.severity:
            best[key] = finding
    open_alerts = {(a.rule, a.subject): a for a in tx.open_brief(list(rules))}
    opened = [finding for key, finding in best.items() if key not in open_alerts]
    new_ids = iter(tx.insert_alerts([(f, _opening_state(f, now)) for f in opened], now))
    changes = Changes()
    transitions: list[Transition] = []
    for key, finding in best.items():
        existing = open_alerts.get(key)
        if existing is None:
            transitions.extend(_open(changes, next(new_ids), finding, now))
        else:
            transitions.extend(_update(changes, existing, finding, now, track_values))
    # a set already (a class's subjects, the same at every step of a backtest): not copied
    subject_set = subjects if isinstance(subjects, AbstractSet) else set(subjects)
    held_set = set(held)
    for key, brief in open_alerts.items():
        if key in best or key in held_set or brief.subject not in subject_set:
            continue
        if brief.state is AlertState.PENDING:
            note = "cleared before firing"
        else:
            last_seen = None if brief.last_seen is None else parse_iso(brief.last_seen)
            if last_seen is None:
                note = "condition cleared"  # an alert from before the clear-hold existed
            elif now - last_seen < timedelta(seconds=brief.clear_s):
                continue  # held open: the condition may come back
            else:
                minutes = (now - last_seen).total_seconds() / 60.0
                note = f"condition cleared (absent for {minutes:.0f} min)"
        changes.update(brief.id, {"state": AlertState.RESOLVED, "resolved_at": now})
        changes.event(brief.id, brief.state, AlertState.RESOLVED, note)
        transitions.append(_resolved(brief, now))
    changes.write(tx, now)
    return transitions


class Changes:
    """The updates and events of one `apply_findings` call, written together by `write`:
    updates grouped by the columns they set (one executemany each), events in the order they
    happened (one executemany)."""

    def __init__(self) -> None:
        self.updates: list[tuple[int, dict[str, object]]] = []
        self.events: list[tuple[int, AlertState | None, AlertState, str]] = []

    def update(self, alert_id: int, fields: dict[str, object]) -> None:
        self.updates.append((alert_id, fields))

    def event(self, alert_id: int, src: AlertState | None, dst: AlertState, note: str) -> None:
        self.events.append((alert_id, src, dst, note))

    def write(self, tx: LifecycleRows, now: datetime) -> None:
        if self.updates:
            tx.update_alerts(self.updates, now)
        if self.events:
            tx.add_events(
                [
                    (alert_id, now, src, dst, ENGINE, note)
                    for alert_id, src, dst, note in self.events
                ]
            )


class _Open(Protocol):
    """An open alert's id and subject (an `Alert`, or an `alerts.state.alerts.OpenKey`)."""

    @property
    def id(self) -> int: ...
    @property
    def subject(self) -> Subject: ...


def resolve_removed(
    tx: Tx, open_alerts: Iterable[_Open], known: Collection[str], now: datetime
) -> list[Transition]:
    """Resolve those of ``open_alerts`` about sensors and rooms no longer in the registry.

    ``known`` holds the subject ids of every site, room and sensor evaluated now; an alert
    about anything else (its sensor or room was removed or renamed) could never clear by
    itself, so ``system`` resolves it and says why. Alerts about other things (notification
    channels: ``Subject.key``) are left alone.
    """
    transitions: list[Transition] = []
    for candidate in open_alerts:
        subject = candidate.subject
        if subject.key is not None or subject.id in known:
            continue
        # ``open_alerts`` may have been read before this transaction; another class's run
        # can have resolved or acknowledged the alert since, so act on its state now.
        alert, _ = tx.get(candidate.id)
        if alert.state is AlertState.RESOLVED:
            continue
        what = "sensor" if subject.sensor else "room" if subject.room else "site"
        tx.update_alert(alert.id, now, state=AlertState.RESOLVED, resolved_at=now)
        tx.add_event(
            alert.id, now, alert.state, AlertState.RESOLVED, SYSTEM, f"{what} removed from registry"
        )
        transitions.append(_transition(alert.id, alert, now, alert.state, AlertState.RESOLVED))
    return transitions


def _due(finding: Finding, since: datetime, now: datetime) -> bool:
    return now - since >= timedelta(seconds=finding.for_s)


def _opening_state(finding: Finding, now: datetime) -> AlertState:
    """A new alert fires at once if its condition has already held for ``for_s``."""
    return AlertState.FIRING if _due(finding, finding.since, now) else AlertState.PENDING


def _open(changes: Changes, alert_id: int, finding: Finding, now: datetime) -> list[Transition]:
    changes.event(alert_id, None, AlertState.PENDING, finding.summary)
    result = [_transition(alert_id, finding, now, None, AlertState.PENDING)]
    if _opening_state(finding, now) is AlertState.FIRING:
        changes.event(alert_id, AlertState.PENDING, AlertState.FIRING, finding.summary)
        result.append(_transition(alert_id, finding, now, AlertState.PENDING, AlertState.FIRING))
    return result


def _resolved(brief: OpenView, now: datetime) -> Transition:
    return Transition(
        alert_id=brief.id,
        rule=brief.rule,
        subject=brief.subject_of(),
        time=now,
        from_state=brief.state,
        to_state=AlertState.RESOLVED,
        severity=brief.severity,
        value=brief.value,
        threshold=brief.threshold,
        unit=brief.unit,
        summary=brief.summary,
    )


def _update(
    changes: Changes, alert: OpenView, finding: Finding, now: datetime, track_values: bool
) -> list[Transition]:
    fields: dict[str, object] = {"last_seen": now}
    if not _same(alert.clear_s, finding.clear_s):
        fields["clear_s"] = finding.clear_s
    stored_since = _stored_since(alert.since)
    since = min(stored_since, finding.since)
    if since != stored_since:
        fields["since"] = since
    if track_values:
        if not _same(alert.value, finding.value):
            fields["value"] = finding.value
        if not _same(alert.threshold, finding.threshold):
            fields["threshold"] = finding.threshold
        if alert.summary != finding.summary:
            fields["summary"] = finding.summary
        if alert.advice != finding.advice:
            fields["advice"] = finding.advice
        if not _same(alert.for_s, finding.for_s):
            fields["for_s"] = finding.for_s
        peak = alert.peak_value
        if peak is None or abs(finding.value - finding.threshold) > abs(peak - alert.threshold):
            fields["peak_value"] = finding.value
    result: list[Transition] = []
    if finding.severity != alert.severity:
        fields["severity"] = finding.severity
        changes.event(
            alert.id,
            alert.state,
            alert.state,
            f"severity {alert.severity.label} → {finding.severity.label}: {finding.summary}",
        )
    if alert.state is AlertState.PENDING and _due(finding, since, now):
        fields["state"] = AlertState.FIRING
        fields["fired_at"] = now
        changes.event(alert.id, AlertState.PENDING, AlertState.FIRING, finding.summary)
        result.append(_transition(alert.id, finding, now, AlertState.PENDING, AlertState.FIRING))
    changes.update(alert.id, fields)
    return result


def acknowledge(
    tx: Tx, alert_id: int, actor: str, now: datetime, note: str = "", token: str | None = None
) -> Alert:
    """Acknowledge a firing alert: escalation and reminders stop. With ``token`` (from an ack
    link) the token must match the alert's."""
    alert, _ = tx.get(alert_id)
    if token is not None and not hmac.compare_digest(token, alert.ack_token):
        raise TransitionError(f"alert {alert_id}: wrong acknowledgement token")
    if alert.state is AlertState.ACKNOWLEDGED:
        raise TransitionError(
            f"alert {alert_id} is already acknowledged by {alert.acknowledged_by}"
        )
    if alert.state is not AlertState.FIRING:
        raise TransitionError(f"alert {alert_id} is {alert.state.value}, not firing")
    tx.update_alert(
        alert_id, now, state=AlertState.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=actor
    )
    tx.add_event(alert_id, now, AlertState.FIRING, AlertState.ACKNOWLEDGED, actor, note)
    return tx.get(alert_id)[0]
