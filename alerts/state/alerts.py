"""Alerts and their events: the rows the lifecycle, dispatch, the CLI and the API read and
write. Mixed into `Tx` (``self.conn`` is the transaction's connection)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, Update, bindparam, insert, or_, select, update

from repoclimate.alerts.model import Alert, AlertState, Event, Finding, Severity, Subject
from repoclimate.alerts.state.schema import alerts, events, iso, opt_time, parse_iso


class AlertNotFoundError(LookupError):
    """No alert with that id."""


class TransitionError(ValueError):
    """The requested change is not allowed from the alert's state."""


@dataclass(frozen=True, slots=True)
class Bookkeeping:
    """What has been told about an alert: drives dispatch (first page, escalation, reminders,
    all-clear)."""

    notified_state: str | None
    notified_severity: Severity | None
    first_notified_at: datetime | None
    last_notified_at: datetime | None
    escalation_step: int
    recipients: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OpenBrief:
    """An open alert as the lifecycle sees it (``since`` as stored ISO text)."""

    id: int
    rule: str
    subject: str
    state: AlertState
    severity: Severity
    since: str
    peak_value: float | None
    threshold: float
    clear_s: float = 0.0
    last_seen: str | None = None


def _alert(row: RowMapping) -> Alert:
    return Alert(
        id=row["id"],
        rule=row["rule"],
        subject=Subject(row["site"], row["room"], row["sensor"], row["subject_key"]),
        state=AlertState(row["state"]),
        severity=Severity(row["severity"]),
        since=parse_iso(row["since"]),
        value=row["value"],
        threshold=row["threshold"],
        unit=row["unit"],
        summary=row["summary"],
        advice=row["advice"],
        page=bool(row["page"]),
        created_at=parse_iso(row["created_at"]),
        fired_at=opt_time(row["fired_at"]),
        acknowledged_at=opt_time(row["acknowledged_at"]),
        acknowledged_by=row["acknowledged_by"],
        resolved_at=opt_time(row["resolved_at"]),
        ack_token=row["ack_token"],
        for_s=row["for_s"],
        peak_value=row["peak_value"],
        clear_s=row["clear_s"],
        last_seen=opt_time(row["last_seen"]),
    )


def _bookkeeping(row: RowMapping) -> Bookkeeping:
    severity = row["notified_severity"]
    return Bookkeeping(
        notified_state=row["notified_state"],
        notified_severity=None if severity is None else Severity(severity),
        first_notified_at=opt_time(row["first_notified_at"]),
        last_notified_at=opt_time(row["last_notified_at"]),
        escalation_step=row["escalation_step"],
        recipients=tuple(json.loads(row["recipients"])),
    )


def _stored(value: Any) -> Any:
    """A Python value as its column stores it."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, AlertState):
        return value.value
    if isinstance(value, Severity):
        return int(value)
    if isinstance(value, list | tuple):
        return json.dumps(list(value))
    return value


OPEN = alerts.c.state != AlertState.RESOLVED.value

# The statements run once per alert and evaluation are built once: building one costs more
# than running it.
_GET = select(alerts).where(alerts.c.id == bindparam("alert_id"))
_INSERT_EVENT = insert(events)
_INSERT_ALERT = insert(alerts)
_OPEN_BRIEF = (
    select(
        alerts.c.id,
        alerts.c.rule,
        alerts.c.subject,
        alerts.c.state,
        alerts.c.severity,
        alerts.c.since,
        alerts.c.peak_value,
        alerts.c.threshold,
        alerts.c.clear_s,
        alerts.c.last_seen,
    )
    .where(OPEN)
    .order_by(alerts.c.id)
)
"""Open alerts of every rule: the few open ones are filtered by rule here, cheaper than an
``IN`` list SQLAlchemy renders anew on every execution."""
_UPDATES: dict[frozenset[str], Update] = {}


def _update_statement(columns: frozenset[str]) -> Update:
    """``UPDATE alerts SET <columns> WHERE id = :alert_id``, one per set of columns."""
    statement = _UPDATES.get(columns)
    if statement is None:
        unknown = columns - set(alerts.c.keys())
        if unknown:
            raise ValueError(f"alerts has no column {', '.join(sorted(unknown))}")
        statement = (
            update(alerts)
            .where(alerts.c.id == bindparam("alert_id"))
            .values({name: bindparam(name) for name in columns})
        )
        _UPDATES[columns] = statement
    return statement


class AlertRows:
    """Reads and writes of ``alerts`` and ``events``."""

    conn: Connection

    def open_alerts(self, rules: Sequence[str] | None = None) -> list[tuple[Alert, Bookkeeping]]:
        query = select(alerts).where(OPEN)
        if rules is not None:
            if not rules:
                return []
            query = query.where(alerts.c.rule.in_(list(rules)))
        rows = self.conn.execute(query.order_by(alerts.c.id)).mappings()
        return [(_alert(row), _bookkeeping(row)) for row in rows]

    def open_brief(self, rules: Sequence[str]) -> list[OpenBrief]:
        """The few columns of open alerts the lifecycle needs, without building `Alert`s."""
        if not rules:
            return []
        wanted = set(rules)
        return [
            OpenBrief(
                r[0], r[1], r[2], AlertState(r[3]), Severity(r[4]), r[5], r[6], r[7], r[8], r[9]
            )
            for r in self.conn.execute(_OPEN_BRIEF)
            if r[1] in wanted
        ]

    def needing_dispatch(self) -> list[tuple[Alert, Bookkeeping]]:
        """Open alerts, and resolved ones whose resolution has not been told yet."""
        told = alerts.c.notified_state
        query = (
            select(alerts)
            .where(
                or_(OPEN, (told.is_not(None) & (told != AlertState.RESOLVED.value))),
            )
            .order_by(alerts.c.id)
        )
        return [(_alert(row), _bookkeeping(row)) for row in self.conn.execute(query).mappings()]

    def get(self, alert_id: int) -> tuple[Alert, Bookkeeping]:
        row = self.conn.execute(_GET, {"alert_id": alert_id}).mappings().first()
        if row is None:
            raise AlertNotFoundError(f"no alert with id {alert_id}")
        return _alert(row), _bookkeeping(row)

    def list_alerts(
        self,
        states: Sequence[AlertState] | None = None,
        since: datetime | None = None,
        limit: int = 200,
    ) -> list[Alert]:
        """Alerts newest first, optionally of some states or updated since a time."""
        query = select(alerts)
        if states:
            query = query.where(alerts.c.state.in_([state.value for state in states]))
        if since is not None:
            query = query.where(alerts.c.updated_at >= iso(since))
        query = query.order_by(alerts.c.id.desc()).limit(limit)
        return [_alert(row) for row in self.conn.execute(query).mappings()]

    def insert_alert(self, finding: Finding, state: AlertState, now: datetime) -> int:
        subject = finding.subject
        result = self.conn.execute(
            _INSERT_ALERT,
            dict(
                rule=finding.rule,
                subject=subject.id,
                site=subject.site,
                room=subject.room,
                sensor=subject.sensor,
                subject_key=subject.key,
                state=state.value,
                severity=int(finding.severity),
                since=iso(finding.since),
                value=finding.value,
                threshold=finding.threshold,
                peak_value=finding.value,
                unit=finding.unit,
                summary=finding.summary,
                advice=finding.advice,
                page=int(finding.page),
                for_s=finding.for_s,
                created_at=iso(now),
                updated_at=iso(now),
                fired_at=iso(now) if state is AlertState.FIRING else None,
                ack_token=secrets.token_urlsafe(16),
                clear_s=finding.clear_s,
                last_seen=iso(now),
            ),
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def update_alert(self, alert_id: int, now: datetime, **fields: Any) -> None:
        """Set columns of an alert (datetimes, enums, severities and lists converted)."""
        values = {column: _stored(value) for column, value in fields.items()}
        values["updated_at"] = iso(now)
        statement = _update_statement(frozenset(values))
        self.conn.execute(statement, {**values, "alert_id": alert_id})

    def add_event(
        self,
        alert_id: int,
        when: datetime,
        from_state: AlertState | None,
        to_state: AlertState,
        actor: str,
        note: str = "",
    ) -> None:
        self.conn.execute(
            _INSERT_EVENT,
            dict(
                alert_id=alert_id,
                time=iso(when),
                from_state=None if from_state is None else from_state.value,
                to_state=to_state.value,
                actor=actor,
                note=note,
            ),
        )

    def events(self, alert_id: int | None = None) -> list[Event]:
        query = select(events)
        if alert_id is not None:
            query = query.where(events.c.alert_id == alert_id)
        return [
            Event(
                alert_id=row["alert_id"],
                time=parse_iso(row["time"]),
                from_state=None if row["from_state"] is None else AlertState(row["from_state"]),
                to_state=AlertState(row["to_state"]),
                actor=row["actor"],
                note=row["note"],
            )
            for row in self.conn.execute(query.order_by(events.c.id)).mappings()
        ]
