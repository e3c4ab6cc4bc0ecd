"""Alert state in SQLite: alerts, their events, silences, the notification outbox, channel
health and the mould indices' checkpoints.

One `transaction()` wraps a state change together with the outbox rows it causes, so a crash can
neither lose a notification nor send one for a change that was rolled back. The SQL is plain
(no SQLite-only features beyond a partial unique index) so it can move to PostgreSQL.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from repoclimate.alerts.model import (
    Alert,
    AlertState,
    Event,
    Finding,
    Severity,
    Silence,
    Subject,
)
from repoclimate.alerts.rules.mould import Checkpoint
from repoclimate.preservation.mould import MrfState, VttState

SCHEMA_VERSION = 3
"""2 added ``alerts.clear_s`` and ``alerts.last_seen`` (the clear-hold); 3 the table
``mould_state`` (the mould indices carried from one live evaluation to the next)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    rule TEXT NOT NULL,
    subject TEXT NOT NULL,
    site TEXT, room TEXT, sensor TEXT, subject_key TEXT,
    state TEXT NOT NULL,
    severity INTEGER NOT NULL,
    since TEXT NOT NULL,
    value REAL NOT NULL,
    threshold REAL NOT NULL,
    peak_value REAL,
    unit TEXT NOT NULL,
    summary TEXT NOT NULL,
    advice TEXT NOT NULL,
    page INTEGER NOT NULL,
    for_s REAL NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    fired_at TEXT,
    acknowledged_at TEXT,
    acknowledged_by TEXT,
    resolved_at TEXT,
    ack_token TEXT NOT NULL,
    notified_state TEXT,
    notified_severity INTEGER,
    first_notified_at TEXT,
    last_notified_at TEXT,
    escalation_step INTEGER NOT NULL DEFAULT -1,
    recipients TEXT NOT NULL DEFAULT '[]',
    clear_s REAL NOT NULL DEFAULT 0,
    last_seen TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_open
    ON alerts (rule, subject) WHERE state != 'resolved';
CREATE INDEX IF NOT EXISTS alerts_state ON alerts (state);
CREATE INDEX IF NOT EXISTS alerts_notified ON alerts (notified_state);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL REFERENCES alerts(id),
    time TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_alert ON events (alert_id);
CREATE TABLE IF NOT EXISTS silences (
    id INTEGER PRIMARY KEY,
    site TEXT, room TEXT, sensor TEXT, rule TEXT,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    kind TEXT NOT NULL,
    group_key TEXT NOT NULL,
    alert_ids TEXT NOT NULL,
    person TEXT,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    subject TEXT NOT NULL,
    text TEXT NOT NULL,
    html TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    sent_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
CREATE TABLE IF NOT EXISTS channel_health (
    channel TEXT PRIMARY KEY,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    first_failure_at TEXT,
    last_failure_at TEXT,
    last_error TEXT,
    last_success_at TEXT
);
CREATE TABLE IF NOT EXISTS mould_state (
    sensor TEXT PRIMARY KEY,
    hour REAL NOT NULL,
    vtt_index REAL NOT NULL,
    vtt_hours_unfavourable REAL NOT NULL,
    mrf_value REAL NOT NULL,
    mrf_dry_hours REAL NOT NULL,
    fingerprint TEXT NOT NULL
);
"""


_ADDED_COLUMNS = (
    ("alerts", "clear_s", "REAL NOT NULL DEFAULT 0"),
    ("alerts", "last_seen", "TEXT"),
)
"""Columns added since a table was first created: state files of older versions gain them on
opening (a migrated alert has ``clear_s`` 0 and no ``last_seen``: it resolves as it used to)."""


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    for table, column, declaration in _ADDED_COLUMNS:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


def iso(when: datetime) -> str:
    """UTC ISO-8601 text with microseconds: sorts as it compares."""
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when!r}")
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _opt_time(text: str | None) -> datetime | None:
    return None if text is None else parse_iso(text)


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


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One message to one target on one channel, and its delivery state."""

    id: int
    created_at: datetime
    kind: str
    group_key: str
    alert_ids: tuple[int, ...]
    person: str | None
    channel: str
    target: str
    subject: str
    text: str
    html: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    channel: str
    consecutive_failures: int
    first_failure_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
    last_success_at: datetime | None


def _alert(row: sqlite3.Row) -> Alert:
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
        fired_at=_opt_time(row["fired_at"]),
        acknowledged_at=_opt_time(row["acknowledged_at"]),
        acknowledged_by=row["acknowledged_by"],
        resolved_at=_opt_time(row["resolved_at"]),
        ack_token=row["ack_token"],
        for_s=row["for_s"],
        peak_value=row["peak_value"],
        clear_s=row["clear_s"],
        last_seen=_opt_time(row["last_seen"]),
    )


def _bookkeeping(row: sqlite3.Row) -> Bookkeeping:
    severity = row["notified_severity"]
    return Bookkeeping(
        notified_state=row["notified_state"],
        notified_severity=None if severity is None else Severity(severity),
        first_notified_at=_opt_time(row["first_notified_at"]),
        last_notified_at=_opt_time(row["last_notified_at"]),
        escalation_step=row["escalation_step"],
        recipients=tuple(json.loads(row["recipients"])),
    )


def _outbox(row: sqlite3.Row) -> OutboxRow:
    return OutboxRow(
        id=row["id"],
        created_at=parse_iso(row["created_at"]),
        kind=row["kind"],
        group_key=row["group_key"],
        alert_ids=tuple(json.loads(row["alert_ids"])),
        person=row["person"],
        channel=row["channel"],
        target=row["target"],
        subject=row["subject"],
        text=row["text"],
        html=row["html"],
        payload=json.loads(row["payload"]),
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=parse_iso(row["next_attempt_at"]),
        last_error=row["last_error"],
        sent_at=_opt_time(row["sent_at"]),
    )


def _silence(row: sqlite3.Row) -> Silence:
    return Silence(
        id=row["id"],
        starts_at=parse_iso(row["starts_at"]),
        ends_at=parse_iso(row["ends_at"]),
        reason=row["reason"],
        created_by=row["created_by"],
        site=row["site"],
        room=row["room"],
        sensor=row["sensor"],
        rule=row["rule"],
        created_at=parse_iso(row["created_at"]),
    )


class Tx:
    """The writes of one transaction; get one from `AlertStore.transaction()`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # -- mould checkpoints ----------------------------------------------------------------
    def mould_checkpoints(self) -> dict[str, Checkpoint]:
        """Per sensor id, the mould indices' state after the last hour integrated."""
        rows = self.conn.execute(
            "SELECT sensor, hour, vtt_index, vtt_hours_unfavourable, mrf_value, mrf_dry_hours,"
            " fingerprint FROM mould_state"
        ).fetchall()
        return {
            r[0]: Checkpoint(r[1], VttState(r[2], r[3]), MrfState(r[4], r[5]), r[6]) for r in rows
        }

    def put_mould_checkpoints(self, checkpoints: dict[str, Checkpoint]) -> None:
        """Keep each sensor's latest checkpoint (replacing the one it had)."""
        self.conn.executemany(
            "INSERT INTO mould_state (sensor, hour, vtt_index, vtt_hours_unfavourable,"
            " mrf_value, mrf_dry_hours, fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(sensor) DO UPDATE SET hour = excluded.hour,"
            " vtt_index = excluded.vtt_index,"
            " vtt_hours_unfavourable = excluded.vtt_hours_unfavourable,"
            " mrf_value = excluded.mrf_value, mrf_dry_hours = excluded.mrf_dry_hours,"
            " fingerprint = excluded.fingerprint",
            [
                (
                    sensor,
                    c.hour,
                    c.vtt.index,
                    c.vtt.hours_unfavourable,
                    c.mrf.value,
                    c.mrf.dry_hours,
                    c.fingerprint,
                )
                for sensor, c in checkpoints.items()
            ],
        )

    # -- alerts ---------------------------------------------------------------------------
    def open_alerts(self, rules: Sequence[str] | None = None) -> list[tuple[Alert, Bookkeeping]]:
        sql = "SELECT * FROM alerts WHERE state != 'resolved'"
        params: list[Any] = []
        if rules is not None:
            if not rules:
                return []
            sql += f" AND rule IN ({','.join('?' * len(rules))})"
            params.extend(rules)
        rows = self.conn.execute(sql + " ORDER BY id", params).fetchall()
        return [(_alert(row), _bookkeeping(row)) for row in rows]

    def open_brief(self, rules: Sequence[str]) -> list[OpenBrief]:
        """The few columns of open alerts the lifecycle needs, without building `Alert`s."""
        if not rules:
            return []
        rows = self.conn.execute(
            "SELECT id, rule, subject, state, severity, since, peak_value, threshold, clear_s,"
            " last_seen"
            f" FROM alerts WHERE state != 'resolved' AND rule IN ({','.join('?' * len(rules))})"
            " ORDER BY id",
            list(rules),
        ).fetchall()
        return [
            OpenBrief(
                r[0], r[1], r[2], AlertState(r[3]), Severity(r[4]), r[5], r[6], r[7], r[8], r[9]
            )
            for r in rows
        ]

    def needing_dispatch(self) -> list[tuple[Alert, Bookkeeping]]:
        """Open alerts, and resolved ones whose resolution has not been told yet."""
        rows = self.conn.execute(
            "SELECT * FROM alerts WHERE state != 'resolved' "
            "OR (notified_state IS NOT NULL AND notified_state != 'resolved') ORDER BY id"
        ).fetchall()
        return [(_alert(row), _bookkeeping(row)) for row in rows]

    def get(self, alert_id: int) -> tuple[Alert, Bookkeeping]:
        row = self.conn.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        if row is None:
            raise AlertNotFoundError(f"no alert with id {alert_id}")
        return _alert(row), _bookkeeping(row)

    def insert_alert(self, finding: Finding, state: AlertState, now: datetime) -> int:
        subject = finding.subject
        cur = self.conn.execute(
            "INSERT INTO alerts (rule, subject, site, room, sensor, subject_key, state, severity,"
            " since, value, threshold, peak_value, unit, summary, advice, page, for_s,"
            " created_at, updated_at, fired_at, ack_token, clear_s, last_seen)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                finding.rule,
                subject.id,
                subject.site,
                subject.room,
                subject.sensor,
                subject.key,
                state.value,
                int(finding.severity),
                iso(finding.since),
                finding.value,
                finding.threshold,
                finding.value,
                finding.unit,
                finding.summary,
                finding.advice,
                int(finding.page),
                finding.for_s,
                iso(now),
                iso(now),
                iso(now) if state is AlertState.FIRING else None,
                secrets.token_urlsafe(16),
                finding.clear_s,
                iso(now),
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def update_alert(self, alert_id: int, now: datetime, **fields: Any) -> None:
        """Set columns of an alert (datetimes, enums and severities converted)."""
        assignments = ["updated_at = ?"]
        params: list[Any] = [iso(now)]
        for column, value in fields.items():
            assignments.append(f"{column} = ?")
            if isinstance(value, datetime):
                value = iso(value)
            elif isinstance(value, AlertState):
                value = value.value
            elif isinstance(value, Severity):
                value = int(value)
            elif isinstance(value, list | tuple):
                value = json.dumps(list(value))
            params.append(value)
        params.append(alert_id)
        self.conn.execute(f"UPDATE alerts SET {', '.join(assignments)} WHERE id = ?", params)

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
            "INSERT INTO events (alert_id, time, from_state, to_state, actor, note)"
            " VALUES (?,?,?,?,?,?)",
            (
                alert_id,
                iso(when),
                None if from_state is None else from_state.value,
                to_state.value,
                actor,
                note,
            ),
        )

    # -- silences -------------------------------------------------------------------------
    def silences_active(self, now: datetime) -> list[Silence]:
        rows = self.conn.execute(
            "SELECT * FROM silences WHERE starts_at <= ? AND ends_at > ? ORDER BY id",
            (iso(now), iso(now)),
        ).fetchall()
        return [_silence(row) for row in rows]

    def insert_silence(
        self,
        *,
        site: str | None,
        room: str | None,
        sensor: str | None,
        rule: str | None,
        starts_at: datetime,
        ends_at: datetime,
        reason: str,
        created_by: str,
        now: datetime,
    ) -> int:
        cur = self.conn.execute(
            "INSERT INTO silences (site, room, sensor, rule, starts_at, ends_at, reason,"
            " created_by, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (site, room, sensor, rule, iso(starts_at), iso(ends_at), reason, created_by, iso(now)),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def end_silence(self, silence_id: int, now: datetime) -> bool:
        cur = self.conn.execute(
            "UPDATE silences SET ends_at = ? WHERE id = ? AND ends_at > ?",
            (iso(now), silence_id, iso(now)),
        )
        return cur.rowcount > 0

    # -- outbox ---------------------------------------------------------------------------
    def enqueue(
        self,
        *,
        now: datetime,
        kind: str,
        group_key: str,
        alert_ids: Sequence[int],
        person: str | None,
        channel: str,
        target: str,
        subject: str,
        text: str,
        html: str,
        payload: dict[str, Any],
    ) -> int:
        cur = self.conn.execute(
            "INSERT INTO outbox (created_at, kind, group_key, alert_ids, person, channel, target,"
            " subject, text, html, payload, next_attempt_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                iso(now),
                kind,
                group_key,
                json.dumps(list(alert_ids)),
                person,
                channel,
                target,
                subject,
                text,
                html,
                json.dumps(payload, sort_keys=True),
                iso(now),
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def mark_sent(self, row_id: int, now: datetime) -> None:
        self.conn.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1,"
            " last_error = NULL WHERE id = ?",
            (iso(now), row_id),
        )

    def mark_retry(self, row_id: int, next_at: datetime, error: str) -> None:
        self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?"
            " WHERE id = ?",
            (iso(next_at), error[:1000], row_id),
        )

    def mark_failed(self, row_id: int, error: str) -> None:
        self.conn.execute(
            "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?"
            " WHERE id = ?",
            (error[:1000], row_id),
        )

    # -- channel health -------------------------------------------------------------------
    def channel_health(self, channel: str) -> ChannelHealth:
        row = self.conn.execute(
            "SELECT * FROM channel_health WHERE channel = ?", (channel,)
        ).fetchone()
        if row is None:
            return ChannelHealth(channel, 0, None, None, None, None)
        return ChannelHealth(
            channel=row["channel"],
            consecutive_failures=row["consecutive_failures"],
            first_failure_at=_opt_time(row["first_failure_at"]),
            last_failure_at=_opt_time(row["last_failure_at"]),
            last_error=row["last_error"],
            last_success_at=_opt_time(row["last_success_at"]),
        )

    def record_channel(self, channel: str, now: datetime, error: str | None) -> ChannelHealth:
        """Count a delivery attempt on a channel; return its health afterwards."""
        health = self.channel_health(channel)
        if error is None:
            self.conn.execute(
                "INSERT INTO channel_health (channel, consecutive_failures, last_success_at)"
                " VALUES (?, 0, ?) ON CONFLICT(channel) DO UPDATE SET consecutive_failures = 0,"
                " first_failure_at = NULL, last_success_at = excluded.last_success_at",
                (channel, iso(now)),
            )
        else:
            first = health.first_failure_at or now
            self.conn.execute(
                "INSERT INTO channel_health (channel, consecutive_failures, first_failure_at,"
                " last_failure_at, last_error) VALUES (?, 1, ?, ?, ?)"
                " ON CONFLICT(channel) DO UPDATE SET"
                " consecutive_failures = consecutive_failures + 1,"
                " first_failure_at = excluded.first_failure_at,"
                " last_failure_at = excluded.last_failure_at, last_error = excluded.last_error",
                (channel, iso(first), iso(now), error[:1000]),
            )
        return self.channel_health(channel)


class AlertStore:
    """The SQLite file holding alert state; ``":memory:"`` for a throwaway (backtest, tests).

    Safe to share between threads (one connection behind a lock) and between processes (WAL,
    busy timeout): the CLI acknowledges while the service runs.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._conn.row_factory = sqlite3.Row
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(_SCHEMA)
        with self.transaction() as tx:
            _add_missing_columns(tx.conn)
            tx.conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """An immediate (write-locking) transaction: committed on success, rolled back on error."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[Tx]:
        """A deferred (read) transaction: one consistent snapshot that takes no write lock, so
        the CLI, the API and the live view never wait for the engine's writers."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield Tx(self._conn)
            finally:
                self._conn.execute("COMMIT")

    # -- reads for the CLI, the API and the live view -------------------------------------
    def get(self, alert_id: int) -> Alert:
        with self._read() as tx:
            return tx.get(alert_id)[0]

    def open_alerts(self) -> list[Alert]:
        with self._read() as tx:
            return [alert for alert, _ in tx.open_alerts()]

    def mould_checkpoints(self) -> dict[str, Checkpoint]:
        """Per sensor id, the mould indices' state kept by the last evaluation."""
        with self._read() as tx:
            return tx.mould_checkpoints()

    def list_alerts(
        self,
        states: Sequence[AlertState] | None = None,
        since: datetime | None = None,
        limit: int = 200,
    ) -> list[Alert]:
        """Alerts newest first, optionally of some states or updated since a time."""
        sql = "SELECT * FROM alerts WHERE 1=1"
        params: list[Any] = []
        if states:
            sql += f" AND state IN ({','.join('?' * len(states))})"
            params.extend(state.value for state in states)
        if since is not None:
            sql += " AND updated_at >= ?"
            params.append(iso(since))
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [_alert(row) for row in rows]

    def events(self, alert_id: int | None = None) -> list[Event]:
        sql = "SELECT * FROM events"
        params: tuple[Any, ...] = ()
        if alert_id is not None:
            sql += " WHERE alert_id = ?"
            params = (alert_id,)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY id", params).fetchall()
        return [
            Event(
                alert_id=row["alert_id"],
                time=parse_iso(row["time"]),
                from_state=None if row["from_state"] is None else AlertState(row["from_state"]),
                to_state=AlertState(row["to_state"]),
                actor=row["actor"],
                note=row["note"],
            )
            for row in rows
        ]

    def silences(self, active_at: datetime | None = None) -> list[Silence]:
        with self._read() as tx:
            if active_at is not None:
                return tx.silences_active(active_at)
            rows = tx.conn.execute("SELECT * FROM silences ORDER BY id").fetchall()
            return [_silence(row) for row in rows]

    def outbox(self, status: str | None = None) -> list[OutboxRow]:
        sql = "SELECT * FROM outbox"
        params: tuple[Any, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            params = (status,)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY id", params).fetchall()
        return [_outbox(row) for row in rows]

    def outbox_due(self, now: datetime, limit: int = 500) -> list[OutboxRow]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?"
                " ORDER BY id LIMIT ?",
                (iso(now), limit),
            ).fetchall()
        return [_outbox(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
