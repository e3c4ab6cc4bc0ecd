"""Alerts and their events: the rows the lifecycle, dispatch, the CLI and the API read and
write. Mixed into `Tx` (``self.conn`` is the transaction's connection)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple, Protocol

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    RowMapping,
    Text,
    Update,
    and_,
    bindparam,
    false,
    insert,
    literal_column,
    or_,
    select,
    update,
)

from repoclimate.alerts.model import (
    Alert,
    AlertState,
    Event,
    Finding,
    Severity,
    Subject,
    slot_writers,
)
from repoclimate.alerts.state.database import driver_fetch, driver_many
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


class OpenBrief(NamedTuple):
    """An open alert as the lifecycle sees it (``since`` as stored ISO text). A named tuple:
    the lifecycle reads thousands per evaluation, built in a fraction of a frozen
    dataclass's time."""

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
    site: str | None = None
    room: str | None = None
    sensor: str | None = None
    subject_key: str | None = None
    value: float = 0.0
    unit: str = ""
    summary: str = ""
    advice: str = ""
    for_s: float = 0.0

    def subject_of(self) -> Subject:
        """The alert's subject, as `Alert.subject` holds it."""
        return Subject(self.site, self.room, self.sensor, self.subject_key)


class OpenKey(NamedTuple):
    """An open alert as the engine reads it before an evaluation: what the rules' hysteresis
    (`alerts.engine.active_states`) and `alerts.lifecycle.resolve_removed` need of it."""

    id: int
    rule: str
    subject: Subject
    severity: Severity


@dataclass(frozen=True, slots=True)
class FollowUpDue:
    """When a told, open, paging alert can need a follow-up (`alerts.dispatch`) at one time:
    the latest ``first_notified_at`` (stored text) at which escalation from each
    ``escalation_step`` is due, and the latest ``last_notified_at`` at which a reminder is
    (None: no reminders). `AlertRows.needing_dispatch` leaves out the alerts that can need
    nothing; the dispatcher still decides for those it reads."""

    escalation: tuple[tuple[int, str], ...]
    reminder: str | None


class OpenView(Protocol):
    """What the lifecycle reads of an open alert: an `OpenBrief`, or the live record
    `BufferedAlerts` keeps of one."""

    @property
    def id(self) -> int: ...
    @property
    def rule(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def state(self) -> AlertState: ...
    @property
    def severity(self) -> Severity: ...
    @property
    def since(self) -> str: ...
    @property
    def peak_value(self) -> float | None: ...
    @property
    def threshold(self) -> float: ...
    @property
    def clear_s(self) -> float: ...
    @property
    def last_seen(self) -> str | None: ...
    @property
    def value(self) -> float: ...
    @property
    def unit(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def advice(self) -> str: ...
    @property
    def for_s(self) -> float: ...
    def subject_of(self) -> Subject: ...


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


_STATES = {state.value: state for state in AlertState}
_SEVERITIES = {int(severity): severity for severity in Severity}
_COLUMNS = tuple(alerts.c.keys())
_SELECT_ALL = select(*alerts.c)
"""Every column, in `_COLUMNS` order, for `driver_fetch` (text, integers and floats only)."""


_ALERT_FIELDS = (
    "id",
    "rule",
    "subject",
    "state",
    "severity",
    "since",
    "value",
    "threshold",
    "unit",
    "summary",
    "advice",
    "page",
    "created_at",
    "fired_at",
    "acknowledged_at",
    "acknowledged_by",
    "resolved_at",
    "ack_token",
    "for_s",
    "peak_value",
    "clear_s",
    "last_seen",
)
_ROW = (
    *("id", "rule", "subject", "site", "room", "sensor", "subject_key", "state", "severity"),
    *("since", "value", "threshold", "peak_value", "unit", "summary", "advice", "page", "for_s"),
    *("created_at", "updated_at", "fired_at", "acknowledged_at", "acknowledged_by"),
    *("resolved_at", "ack_token", "notified_state", "notified_severity", "first_notified_at"),
    *("last_notified_at", "escalation_step", "recipients", "clear_s", "last_seen"),
)
"""The alerts columns by position, as `_RowReader.pair` reads them."""
_BOOK_FIELDS = (
    "notified_state",
    "notified_severity",
    "first_notified_at",
    "last_notified_at",
    "escalation_step",
    "recipients",
)
if _COLUMNS != _ROW:
    raise TypeError(
        "alerts.state.alerts._RowReader reads the alerts columns by position as "
        f"{_ROW}, but they are now {_COLUMNS}: update _RowReader.pair"
    )
_ALERT_SLOTS = slot_writers(Alert, _ALERT_FIELDS, "alerts.state.alerts._RowReader.pair")
_BOOK_SLOTS = slot_writers(Bookkeeping, _BOOK_FIELDS, "alerts.state.alerts._RowReader.pair")
"""Writers of the slots in field order (`alerts.model.slot_writers`): `_RowReader` builds
thousands of open alerts per evaluation by writing them, in a fraction of ``Alert(...)``'s
time."""


class _RowReader:
    """Builds `Alert`s and `Bookkeeping`s from plain rows (`_COLUMNS` order) as `_alert` and
    `_bookkeeping` do from mappings, converting each distinct time text and recipient list
    once per read (many open alerts share ``last_seen``, ``updated_at``, recipients…)."""

    def __init__(self) -> None:
        self.times: dict[str, datetime] = {}
        self.lists: dict[str, tuple[str, ...]] = {}
        self.subjects: dict[tuple[Any, ...], Subject] = {}

    def known(self, text: str) -> datetime:
        found = self.times.get(text)
        if found is None:
            found = self.times[text] = parse_iso(text)
        return found

    def time(self, text: str | None) -> datetime | None:
        return None if text is None else self.known(text)

    def pair(self, r: tuple[Any, ...]) -> tuple[Alert, Bookkeeping]:
        time = self.time
        where = r[3:7]
        subject = self.subjects.get(where)
        if subject is None:
            subject = self.subjects[where] = Subject(*where)
        recipients = r[30]
        told_to = self.lists.get(recipients)
        if told_to is None:
            told_to = self.lists[recipients] = tuple(json.loads(recipients))
        alert = object.__new__(Alert)
        for write, value in zip(
            _ALERT_SLOTS,
            (
                r[0],  # id
                r[1],  # rule
                subject,
                _STATES[r[7]],
                _SEVERITIES[r[8]],
                self.known(r[9]),  # since
                r[10],  # value
                r[11],  # threshold
                r[13],  # unit
                r[14],  # summary
                r[15],  # advice
                bool(r[16]),  # page
                self.known(r[18]),  # created_at
                time(r[20]),  # fired_at
                time(r[21]),  # acknowledged_at
                r[22],  # acknowledged_by
                time(r[23]),  # resolved_at
                r[24],  # ack_token
                r[17],  # for_s
                r[12],  # peak_value
                r[31],  # clear_s
                time(r[32]),  # last_seen
            ),
            strict=True,
        ):
            write(alert, value)
        book = object.__new__(Bookkeeping)
        notified_severity = r[26]
        for write, value in zip(
            _BOOK_SLOTS,
            (
                r[25],  # notified_state
                None if notified_severity is None else _SEVERITIES[notified_severity],
                time(r[27]),  # first_notified_at
                time(r[28]),  # last_notified_at
                r[29],  # escalation_step
                told_to,
            ),
            strict=True,
        ):
            write(book, value)
        return alert, book


class OpenRead:
    """The open alerts as one read found them (`AlertRows.open_read`), kept as plain rows:
    the `Alert`s are built on first use, for a caller that may never look at them (the
    scheduler drops `alerts.engine.AlertEngine.run`'s report; building 6 000 alerts costs
    more than reading them)."""

    __slots__ = ("_alerts", "_rows")

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows
        self._alerts: list[Alert] | None = None

    def __len__(self) -> int:
        return len(self._rows) if self._alerts is None else len(self._alerts)

    def alerts(self) -> list[Alert]:
        """The open alerts, in id order, as `AlertRows.open_alerts` builds them (built once;
        the same list at every call)."""
        if self._alerts is None:
            reader = _RowReader()
            self._alerts = [reader.pair(r)[0] for r in self._rows]
            self._rows = []
        return self._alerts


def _stored(value: Any) -> Any:
    """A Python value as its column stores it."""
    if value is None or type(value) is float or type(value) is str:
        return value
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, AlertState):
        return value.value
    if isinstance(value, Severity):
        return int(value)
    if isinstance(value, list | tuple):
        return json.dumps(list(value))
    return value


def _new_alert(finding: Finding, state: AlertState, now: datetime) -> dict[str, Any]:
    """The row of a new alert opened by ``finding`` at ``now``."""
    subject = finding.subject
    return dict(
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
    )


def replayed_alert(
    alert_id: int, first: Finding, opened_at: datetime, **final: Any
) -> dict[str, Any]:
    """The row of alert ``alert_id``, opened by ``first`` at ``opened_at``, as its later
    updates left it: ``final`` holds the columns they set (Python values, converted as
    `AlertRows.update_alert` converts them) — what `alerts.replay` writes at once."""
    unknown = final.keys() - set(alerts.c.keys())
    if unknown:
        raise ValueError(f"alerts has no column {', '.join(sorted(unknown))}")
    row = _new_alert(first, AlertState.PENDING, opened_at)
    row.update({column: _stored(value) for column, value in final.items()})
    row["id"] = alert_id
    return row


def _event(
    alert_id: int,
    when: datetime,
    from_state: AlertState | None,
    to_state: AlertState,
    actor: str,
    note: str = "",
) -> dict[str, Any]:
    return dict(
        alert_id=alert_id,
        time=iso(when),
        from_state=None if from_state is None else from_state.value,
        to_state=to_state.value,
        actor=actor,
        note=note,
    )


OPEN = alerts.c.state != literal_column(f"'{AlertState.RESOLVED.value}'")
"""Open alerts. The literal, not a bound parameter: SQLite prepares a statement again at every
execution when a parameter is compared with a column of a partial index's condition (here
``alerts_one_open``'s ``state != 'resolved'``), which made reading the open alerts 7 × slower."""

# The statements run once per alert and evaluation are built once: building one costs more
# than running it.
_GET = select(alerts).where(alerts.c.id == bindparam("alert_id"))
_INSERT_EVENT = insert(events)
_EVENT_COLUMNS = ("alert_id", "time", "from_state", "to_state", "actor", "note")
_INSERT_EVENTS = insert(events).values({name: bindparam(name) for name in _EVENT_COLUMNS})
_INSERT_ALERT = insert(alerts)
_INSERT_ALERTS = insert(alerts).returning(alerts.c.id, alerts.c.rule, alerts.c.subject)
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
        alerts.c.site,
        alerts.c.room,
        alerts.c.sensor,
        alerts.c.subject_key,
        alerts.c.value,
        alerts.c.unit,
        alerts.c.summary,
        alerts.c.advice,
        alerts.c.for_s,
    )
    .where(OPEN)
    .order_by(alerts.c.id)
)
"""Open alerts of every rule: the few open ones are filtered by rule here, cheaper than an
``IN`` list SQLAlchemy renders anew on every execution."""
if tuple(column.name for column in _OPEN_BRIEF.selected_columns) != OpenBrief._fields:
    raise TypeError(
        "alerts.state.alerts.AlertRows.open_brief builds OpenBrief from _OPEN_BRIEF's row by "
        "position: their fields must be the same, in the same order"
    )
_OPEN_KEYS = (
    select(
        alerts.c.id,
        alerts.c.rule,
        alerts.c.site,
        alerts.c.room,
        alerts.c.sensor,
        alerts.c.subject_key,
        alerts.c.severity,
    )
    .where(OPEN)
    .order_by(alerts.c.id)
)
_OPEN_ALL = _SELECT_ALL.where(OPEN).order_by(alerts.c.id)
_POSITION = {name: k for k, name in enumerate(_COLUMNS)}
_STATE_AT = _POSITION["state"]
_BRIEF_OF_ROW = itemgetter(*(_POSITION[name] for name in OpenBrief._fields))
"""An `OpenBrief`'s values from a whole row (`_COLUMNS` order), state and severity as
stored."""
_PATCHED = frozenset(c.name for c in alerts.c if isinstance(c.type, Text)) - {"state"}
"""Columns whose written texts `_KeptOpen` puts in its rows as they are: text columns give
back the text written, on SQLite and PostgreSQL; not ``state``, which decides whether the
alert is open."""
_told = alerts.c.notified_state
_NEEDING_DISPATCH = or_(OPEN, (_told.is_not(None) & (_told != AlertState.RESOLVED.value)))
_UPDATES: dict[frozenset[str], Update] = {}
_SHARED_UPDATES: dict[frozenset[str], Update] = {}
SHARED_CHUNK = 500
"""Alert ids per ``UPDATE … WHERE id IN (…)`` of `AlertRows.update_alerts` (well inside
SQLite's 32 766 and PostgreSQL's 65 535 parameters a statement)."""


def _can_need_dispatch(due: FollowUpDue) -> ColumnElement[bool]:
    """Of the alerts `_NEEDING_DISPATCH` selects, those `alerts.dispatch.Dispatcher` can act on
    at the time ``due`` describes — a superset, condition by condition of its decisions:
    resolved ones (all-clear or bookkeeping), untold ones not pending (first page, digest,
    acknowledged quietly), and of the told paging ones: acknowledged after a page, severity
    raised, escalation or reminder due. Pending alerts and told non-paging ones need nothing.
    The times compare as stored text (`schema.iso`: fixed width, sorts as it compares)."""
    c = alerts.c
    follow: list[ColumnElement[bool]] = [c.escalation_step < -1]  # indexes the rota from its end
    follow += [
        (c.escalation_step == step) & (c.first_notified_at <= latest)
        for step, latest in due.escalation
    ]
    if due.reminder is not None:
        follow.append(c.last_notified_at.is_not(None) & (c.last_notified_at <= due.reminder))
    firing = c.state == literal_column(f"'{AlertState.FIRING.value}'")
    paging = and_(
        c.page != 0,
        or_(
            (c.state == literal_column(f"'{AlertState.ACKNOWLEDGED.value}'")) & (_told == "firing"),
            c.notified_severity.is_not(None) & (c.severity > c.notified_severity),
            firing & c.first_notified_at.is_not(None) & or_(false(), *follow),
        ),
    )
    resolved = c.state == literal_column(f"'{AlertState.RESOLVED.value}'")
    pending = c.state == literal_column(f"'{AlertState.PENDING.value}'")
    return _NEEDING_DISPATCH & or_(resolved, ~pending & or_(_told.is_(None), paging))


def follow_up_due(
    now: datetime, escalation_minutes: Sequence[float], reminder_minutes: float | None
) -> FollowUpDue:
    """`FollowUpDue` at ``now`` for a rota whose escalation steps come ``escalation_minutes``
    after the first page and whose reminders ``reminder_minutes`` after the last
    notification: escalation from step k is due once ``first_notified_at + minutes[k + 1] <=
    now``, i.e. ``first_notified_at <= now - minutes[k + 1]`` (exact in `datetime`'s
    microseconds). A step so far ahead that ``now - minutes`` is before year 1 is never due."""

    def latest(minutes: float) -> str | None:
        try:
            return iso(now - timedelta(minutes=minutes))
        except OverflowError:
            return None

    escalation = tuple(
        (step - 1, cut)
        for step, minutes in enumerate(escalation_minutes)
        if (cut := latest(minutes)) is not None
    )
    reminder = None if reminder_minutes is None else latest(reminder_minutes)
    return FollowUpDue(escalation, reminder)


def _known(columns: frozenset[str]) -> None:
    """Refuse a column the alerts table does not have, naming it."""
    unknown = columns - set(alerts.c.keys())
    if unknown:
        raise ValueError(f"alerts has no column {', '.join(sorted(unknown))}")


def _update_statement(columns: frozenset[str]) -> Update:
    """``UPDATE alerts SET <columns> WHERE id = :alert_id``, one per set of columns."""
    statement = _UPDATES.get(columns)
    if statement is None:
        _known(columns)
        statement = (
            update(alerts)
            .where(alerts.c.id == bindparam("alert_id"))
            .values({name: bindparam(name) for name in columns})
        )
        _UPDATES[columns] = statement
    return statement


def _shared_update_statement(columns: frozenset[str]) -> Update:
    """``UPDATE alerts SET <columns> WHERE id IN (:id_0, … :id_<SHARED_CHUNK - 1>)``."""
    statement = _SHARED_UPDATES.get(columns)
    if statement is None:
        _known(columns)
        ids: list[BindParameter[int]] = [bindparam(f"id_{k}") for k in range(SHARED_CHUNK)]
        statement = (
            update(alerts)
            .where(alerts.c.id.in_(ids))
            .values({name: bindparam(name) for name in columns})
        )
        _SHARED_UPDATES[columns] = statement
    return statement


def _shared_chunks(ids: Sequence[int], values: dict[str, Any]) -> list[dict[str, Any]]:
    """The parameters of `_shared_update_statement` setting ``values`` on ``ids``: one set
    per `SHARED_CHUNK` ids, the last one filled up by repeating its last id (an id twice in
    ``IN`` is the same row once)."""
    params = []
    for start in range(0, len(ids), SHARED_CHUNK):
        chunk = list(ids[start : start + SHARED_CHUNK])
        chunk += [chunk[-1]] * (SHARED_CHUNK - len(chunk))
        params.append({**values, **{f"id_{k}": alert_id for k, alert_id in enumerate(chunk)}})
    return params


_BY_IDS = _SELECT_ALL.where(alerts.c.id.in_([bindparam(f"id_{k}") for k in range(SHARED_CHUNK)]))
"""Whole rows of up to `SHARED_CHUNK` alerts by id (`_shared_chunks` parameters)."""


class _KeptOpen:
    """The open alerts' whole rows in one write transaction (`AlertRows.keep_open`): read
    once, then kept in step with the transaction's writes, all of which go through
    `AlertRows` — texts it wrote to all of many alerts at once are put in the rows (`_PATCHED`
    columns), every other write marks the alert ``stale``, read again before the rows are next
    used. Inside the transaction nobody else writes (it holds the write lock)."""

    __slots__ = ("rows", "stale")

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = {row[0]: row for row in rows}
        self.stale: set[int] = set()

    def patch(self, ids: Sequence[int], values: dict[str, Any]) -> None:
        """``values`` (texts or None; `_PATCHED` columns) were written to ``ids``."""
        positions = [(_POSITION[column], value) for column, value in values.items()]
        rows = self.rows
        for alert_id in ids:
            row = rows.get(alert_id)
            if row is None:
                continue  # not open, and the write leaves it so
            changed = list(row)
            for position, value in positions:
                changed[position] = value
            rows[alert_id] = tuple(changed)


class AlertRows:
    """Reads and writes of ``alerts`` and ``events``."""

    conn: Connection
    _kept: _KeptOpen | None = None

    def keep_open(self) -> None:
        """From now on in this transaction, answer `open_brief` and `open_read` from the
        open alerts' rows read once now (`_KeptOpen`) instead of reading them at every call:
        for the engine's evaluation, which reads them for the lifecycle and again, after its
        writes, for its report."""
        if self._kept is None:
            self._kept = _KeptOpen(driver_fetch(self.conn, _OPEN_ALL))

    def written(self, ids: Sequence[int]) -> None:
        """Alerts ``ids`` were written in this transaction (other than by these methods)."""
        if self._kept is not None:
            self._kept.stale.update(ids)

    def _kept_rows(self) -> list[tuple[Any, ...]] | None:
        """The kept open rows, in id order, the stale ones read again (None: not kept)."""
        kept = self._kept
        if kept is None:
            return None
        if kept.stale:
            ids = sorted(kept.stale)
            kept.stale = set()
            found: dict[int, tuple[Any, ...]] = {}
            for params in _shared_chunks(ids, {}):
                found.update((row[0], row) for row in driver_fetch(self.conn, _BY_IDS, params))
            resolved = AlertState.RESOLVED.value
            for alert_id in ids:
                row = found.get(alert_id)
                if row is None or row[_STATE_AT] == resolved:
                    kept.rows.pop(alert_id, None)
                else:
                    kept.rows[alert_id] = row
        rows = kept.rows
        return [rows[alert_id] for alert_id in sorted(rows)]

    def open_alerts(self, rules: Sequence[str] | None = None) -> list[tuple[Alert, Bookkeeping]]:
        """The open alerts (of ``rules``; None: of every rule), in id order."""
        if rules is not None and not rules:
            return []
        wanted = None if rules is None else set(rules)
        reader = _RowReader()
        return [
            reader.pair(r)
            for r in driver_fetch(self.conn, _OPEN_ALL)
            if wanted is None or r[1] in wanted
        ]

    def open_read(self) -> OpenRead:
        """The open alerts, read now (or kept: `keep_open`), built on first use
        (`OpenRead`)."""
        kept = self._kept_rows()
        return OpenRead(driver_fetch(self.conn, _OPEN_ALL) if kept is None else kept)

    def open_keys(self) -> list[OpenKey]:
        """The open alerts' ids, rules, subjects and severities, in id order (no `Alert`s)."""
        subjects: dict[tuple[Any, ...], Subject] = {}
        keys = []
        for alert_id, rule, site, room, sensor, key, severity in driver_fetch(
            self.conn, _OPEN_KEYS
        ):
            where = (site, room, sensor, key)
            subject = subjects.get(where)
            if subject is None:
                subject = subjects[where] = Subject(site, room, sensor, key)
            keys.append(OpenKey(alert_id, rule, subject, _SEVERITIES[severity]))
        return keys

    def open_brief(self, rules: Sequence[str] | None) -> list[OpenBrief]:
        """The few columns of open alerts the lifecycle needs, without building `Alert`s
        (those of ``rules``; None: of every rule), in id order."""
        if rules is not None and not rules:
            return []
        wanted = None if rules is None else set(rules)
        states, severities, new = _STATES, _SEVERITIES, tuple.__new__
        kept = self._kept_rows()
        if kept is not None:
            briefs = [_BRIEF_OF_ROW(row) for row in kept if wanted is None or row[1] in wanted]
            return [
                new(OpenBrief, (b[0], b[1], b[2], states[b[3]], severities[b[4]], *b[5:]))
                for b in briefs
            ]
        return [
            new(OpenBrief, (r[0], r[1], r[2], states[r[3]], severities[r[4]], *r[5:]))
            for r in driver_fetch(self.conn, _OPEN_BRIEF)
            if wanted is None or r[1] in wanted
        ]

    def needing_dispatch(self, due: FollowUpDue | None = None) -> list[tuple[Alert, Bookkeeping]]:
        """Open alerts, and resolved ones whose resolution has not been told yet, in id order;
        with ``due`` only those the dispatcher can act on then (`_can_need_dispatch`)."""
        condition = _NEEDING_DISPATCH if due is None else _can_need_dispatch(due)
        query = _SELECT_ALL.where(condition).order_by(alerts.c.id)
        reader = _RowReader()
        return [reader.pair(tuple(row)) for row in self.conn.execute(query)]

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
        result = self.conn.execute(_INSERT_ALERT, _new_alert(finding, state, now))
        key = result.inserted_primary_key
        assert key is not None
        self.written([int(key[0])])
        return int(key[0])

    def insert_alerts(
        self, opened: Sequence[tuple[Finding, AlertState]], now: datetime
    ) -> list[int]:
        """Insert new alerts in one statement (a multi-row insert); their ids, in order.

        Each (rule, subject) is new among the open alerts (the unique index ``alerts_one_open``
        says so), so the ids are matched to the alerts by it, whatever order the database
        returns the rows in."""
        if not opened:
            return []
        if len(opened) == 1:
            finding, state = opened[0]
            return [self.insert_alert(finding, state, now)]
        rows = self.conn.execute(
            _INSERT_ALERTS, [_new_alert(finding, state, now) for finding, state in opened]
        )
        ids = {(rule, subject): int(alert_id) for alert_id, rule, subject in rows}
        self.written(list(ids.values()))
        return [ids[(finding.rule, finding.subject.id)] for finding, _ in opened]

    def update_alerts(self, changes: Sequence[tuple[int, dict[str, Any]]], now: datetime) -> None:
        """`update_alert` for many alerts (each at most once): one executemany per set of
        columns changed, except that alerts given the same texts (times) and nothing else —
        every alert found as it was, whose ``last_seen`` moves to ``now`` — share
        ``UPDATE … WHERE id IN (…)`` statements of `SHARED_CHUNK` ids."""
        now_text = iso(now)
        groups: dict[frozenset[str], list[dict[str, Any]]] = {}
        shared: dict[tuple[tuple[str, str | None], ...], list[int]] = {}
        for alert_id, fields in changes:
            values = {
                column: now_text if value is now else _stored(value)
                for column, value in fields.items()
            }
            values["updated_at"] = now_text
            if all(type(value) is str or value is None for value in values.values()):
                # equal texts are the same value (not so 0.0 and -0.0, or True and 1)
                shared.setdefault(tuple(values.items()), []).append(alert_id)
                continue
            values["alert_id"] = alert_id
            groups.setdefault(frozenset(values), []).append(values)
        for items, ids in shared.items():
            values = dict(items)
            if len(ids) == 1:
                groups.setdefault(frozenset(values) | {"alert_id"}, []).append(
                    {**values, "alert_id": ids[0]}
                )
                continue
            statement = _shared_update_statement(frozenset(values))
            driver_many(self.conn, statement, _shared_chunks(ids, values))
            if self._kept is not None:
                if _PATCHED.issuperset(values):
                    self._kept.patch(ids, values)
                else:
                    self._kept.stale.update(ids)
        for columns, params in groups.items():
            driver_many(self.conn, _update_statement(columns - {"alert_id"}), params)
            self.written([p["alert_id"] for p in params])

    def add_events(
        self,
        rows: Sequence[tuple[int, datetime, AlertState | None, AlertState, str, str]],
    ) -> None:
        """Insert events (alert id, time, from, to, actor, note) in one executemany, in order."""
        if rows:
            driver_many(self.conn, _INSERT_EVENTS, [_event(*row) for row in rows])

    def insert_replayed(
        self,
        alert_rows: Sequence[dict[str, Any]],
        event_rows: Sequence[tuple[int, datetime, AlertState | None, AlertState, str, str]],
    ) -> None:
        """Insert whole alerts (`replayed_alert` rows, ids given) and their events (in order),
        one executemany each: a replayed lifecycle's result (`alerts.replay`)."""
        if alert_rows:
            driver_many(
                self.conn,
                _INSERT_ALERT.values({name: bindparam(name) for name in alert_rows[0]}),
                list(alert_rows),
            )
            self.written([row["id"] for row in alert_rows])
        self.add_events(event_rows)

    def update_alert(self, alert_id: int, now: datetime, **fields: Any) -> None:
        """Set columns of an alert (datetimes, enums, severities and lists converted)."""
        values = {column: _stored(value) for column, value in fields.items()}
        values["updated_at"] = iso(now)
        statement = _update_statement(frozenset(values))
        self.conn.execute(statement, {**values, "alert_id": alert_id})
        self.written([alert_id])

    def add_event(
        self,
        alert_id: int,
        when: datetime,
        from_state: AlertState | None,
        to_state: AlertState,
        actor: str,
        note: str = "",
    ) -> None:
        self.conn.execute(_INSERT_EVENT, _event(alert_id, when, from_state, to_state, actor, note))

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


_BRIEF_NAMES = OpenBrief._fields
_BRIEF_VALUES = attrgetter(*_BRIEF_NAMES)
_BRIEF_COLUMNS: dict[str, Any] = {
    "state": AlertState,
    "severity": Severity,
    "since": iso,
    "last_seen": iso,
    "value": float,
    "threshold": float,
    "peak_value": float,
    "clear_s": float,
    "summary": str,
    "unit": str,
    "advice": str,
    "for_s": float,
}
"""The `OpenBrief` columns the lifecycle sets, and how a value reads back from the database."""
_BRIEF_FIXED = frozenset(_BRIEF_NAMES) - _BRIEF_COLUMNS.keys()


class _OpenRecord:
    """`BufferedAlerts`' own, mutable copy of an open alert's `OpenBrief` fields: updated in
    place at every step (a frozen brief of 17 fields rebuilt per update was half the
    lifecycle's time in a backtest); `frozen` gives the `OpenBrief`."""

    __slots__ = _BRIEF_NAMES

    id: int
    rule: str
    subject: str
    state: AlertState
    severity: Severity
    since: str
    peak_value: float | None
    threshold: float
    clear_s: float
    last_seen: str | None
    site: str | None
    room: str | None
    sensor: str | None
    subject_key: str | None
    value: float
    unit: str
    summary: str
    advice: str
    for_s: float

    def __init__(self, *values: Any) -> None:
        for name, value in zip(_BRIEF_NAMES, values, strict=True):
            setattr(self, name, value)

    def subject_of(self) -> Subject:
        return Subject(self.site, self.room, self.sensor, self.subject_key)

    def frozen(self) -> OpenBrief:
        return OpenBrief(*_BRIEF_VALUES(self))


class BufferedAlerts:
    """The lifecycle's reads and writes of alerts (`alerts.lifecycle.LifecycleRows`) kept in
    memory inside one long write transaction and written in batches by `flush`.

    For a state nobody else writes while it runs (the backtest's private one): the open alerts
    are read once, then kept in step with every insert and update, so `open_brief` answers
    what the database would; new alerts are inserted at once (their ids are needed), after
    the pending updates when one of them resolves an alert of the same rule and subject (the
    unique index ``alerts_one_open``); updates are merged per alert (the later value of a
    column wins, as running them in turn would leave it) and events kept in order, both
    written by `flush` — a handful of statements for any number of steps.
    """

    def __init__(self, rows: AlertRows) -> None:
        self.rows = rows
        self._open: dict[int, _OpenRecord] = {
            brief.id: _OpenRecord(*_BRIEF_VALUES(brief)) for brief in rows.open_brief(None)
        }
        self._updates: dict[int, dict[str, Any]] = {}
        self._resolving: set[tuple[str, str]] = set()
        self._events: list[tuple[int, datetime, AlertState | None, AlertState, str, str]] = []
        self._last_now: tuple[datetime | None, str] = (None, "")

    def open_brief(self, rules: Sequence[str] | None) -> list[OpenView]:
        """As `AlertRows.open_brief`, from memory: live records, valid until the next
        `update_alerts` (the lifecycle reads them before it writes); `snapshot` or `brief`
        for `OpenBrief`s to keep."""
        if rules is None:
            return list(self._open.values())
        wanted = set(rules)
        return [record for record in self._open.values() if record.rule in wanted]

    def snapshot(self) -> list[OpenBrief]:
        """The open alerts now, as `AlertRows.open_brief(None)` would read them."""
        return [record.frozen() for record in self._open.values()]

    def brief(self, alert_id: int) -> OpenBrief | None:
        """The open alert ``alert_id`` as the lifecycle sees it now (None: not open)."""
        record = self._open.get(alert_id)
        return None if record is None else record.frozen()

    def insert_alerts(
        self, opened: Sequence[tuple[Finding, AlertState]], now: datetime
    ) -> list[int]:
        """As `AlertRows.insert_alerts` (written at once)."""
        if not opened:
            return []
        if self._resolving.intersection((f.rule, f.subject.id) for f, _ in opened):
            self._write_updates()
        ids = self.rows.insert_alerts(opened, now)
        for alert_id, (finding, state) in sorted(
            zip(ids, opened, strict=True), key=lambda item: item[0]
        ):
            subject = finding.subject
            self._open[alert_id] = _OpenRecord(
                alert_id,
                finding.rule,
                subject.id,
                state,
                Severity(finding.severity),
                iso(finding.since),
                float(finding.value),
                float(finding.threshold),
                float(finding.clear_s),
                iso(now),
                subject.site,
                subject.room,
                subject.sensor,
                subject.key,
                float(finding.value),
                finding.unit,
                finding.summary,
                finding.advice,
                float(finding.for_s),
            )
        return ids

    def update_alerts(self, changes: Sequence[tuple[int, dict[str, Any]]], now: datetime) -> None:
        """As `AlertRows.update_alerts`: applied to the open alerts in memory at once, written
        by `flush`."""
        for alert_id, changed in changes:
            record = self._open.get(alert_id)
            if record is None:
                raise AlertNotFoundError(f"alert {alert_id} is not open: not buffered")
            if not _BRIEF_FIXED.isdisjoint(changed):
                fixed = ", ".join(sorted(_BRIEF_FIXED.intersection(changed)))
                raise ValueError(f"alert {alert_id}: buffered alerts keep their {fixed}")
            pending = self._updates.get(alert_id)
            if pending is None:
                pending = self._updates[alert_id] = {}
            pending.update(changed)
            pending["updated_at"] = now
            for column, value in changed.items():
                read = _BRIEF_COLUMNS.get(column)
                if read is None:
                    continue
                if value is None:
                    setattr(record, column, None)
                elif value is now:
                    setattr(record, column, self._now_iso(now))
                else:
                    setattr(record, column, read(value))
            if record.state is AlertState.RESOLVED:
                del self._open[alert_id]
                self._resolving.add((record.rule, record.subject))

    def _now_iso(self, now: datetime) -> str:
        """``iso(now)``, converted once for the many alerts one step updates."""
        if self._last_now[0] is not now:
            self._last_now = (now, iso(now))
        return self._last_now[1]

    def add_events(
        self, rows: Sequence[tuple[int, datetime, AlertState | None, AlertState, str, str]]
    ) -> None:
        """As `AlertRows.add_events`, written by `flush` (in order)."""
        self._events.extend(rows)

    def flush(self) -> None:
        """Write the pending updates (one executemany per set of columns) and events."""
        self._write_updates()
        if self._events:
            self.rows.add_events(self._events)
            self._events = []

    def _write_updates(self) -> None:
        groups: dict[frozenset[str], list[dict[str, Any]]] = {}
        for alert_id, changed in self._updates.items():
            values = {column: _stored(value) for column, value in changed.items()}
            groups.setdefault(frozenset(values), []).append({**values, "alert_id": alert_id})
        for columns, params in groups.items():
            driver_many(self.rows.conn, _update_statement(columns), params)
        self.rows.written(list(self._updates))
        self._updates = {}
        self._resolving = set()
