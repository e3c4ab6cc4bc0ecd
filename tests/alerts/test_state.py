"""Alert state migrations: a new database is created at the newest revision; a file written
before migrations (schema 1–3 in its ``meta`` table) is adopted without losing a row; a file of
a revision this version does not know is refused, byte for byte unchanged; SQLite's durability
settings; reads that do not wait for a writer."""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from repoclimate.alerts.lifecycle import apply_findings
from repoclimate.alerts.model import AlertState, Finding, Severity, Subject
from repoclimate.alerts.rules.mould import Checkpoint
from repoclimate.alerts.state import AlertStore, StateFileError, StateVersionError
from repoclimate.alerts.state.database import alembic_config, head, known_revisions
from repoclimate.alerts.state.schema import METADATA
from repoclimate.preservation.mould import MrfState, VttState
from tests.alerts.conftest import T0

OLD_SCHEMA = """
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
"""The schema the last version before migrations created (its schema 3), copied verbatim from
its ``alerts/state.py``: with it, a test makes the files that version left on disk."""

OLD_ALERT = (
    "INSERT INTO alerts (id, rule, subject, site, room, sensor, state, severity, since, value,"
    " threshold, peak_value, unit, summary, advice, page, for_s, created_at, updated_at,"
    " fired_at, ack_token, notified_state, notified_severity, first_notified_at,"
    " last_notified_at, escalation_step, recipients{extra}) VALUES (7, 'excursion.humidity_high',"
    " 'city/stack-3/s1', 'city', 'stack-3', 's1', 'firing', 2, '2026-01-05T00:00:00.000000+00:00',"
    " 72.5, 60.0, 75.0, '%RH', 'RH 72.5', 'check the dehumidifier', 1, 3600.0,"
    " '2026-01-05T00:00:00.000000+00:00', '2026-01-05T01:00:00.000000+00:00',"
    " '2026-01-05T01:00:00.000000+00:00', 'token-7', 'firing', 2,"
    " '2026-01-05T01:00:00.000000+00:00', '2026-01-05T01:00:00.000000+00:00', 0,"
    " '[\"alice\"]'{extra_values})"
)
OLD_ROWS = (
    "INSERT INTO events (alert_id, time, from_state, to_state, actor, note) VALUES"
    " (7, '2026-01-05T00:00:00.000000+00:00', NULL, 'pending', 'engine', 'RH 70'),"
    " (7, '2026-01-05T01:00:00.000000+00:00', 'pending', 'firing', 'engine', 'RH 72.5')",
    "INSERT INTO silences (site, room, sensor, rule, starts_at, ends_at, reason, created_by,"
    " created_at) VALUES ('city', NULL, NULL, NULL, '2026-01-05T00:00:00.000000+00:00',"
    " '2026-01-06T00:00:00.000000+00:00', 'roof works', 'bob', '2026-01-04T00:00:00.000000+00:00')",
    "INSERT INTO outbox (created_at, kind, group_key, alert_ids, person, channel, target, subject,"
    " text, html, payload, status, attempts, next_attempt_at) VALUES"
    " ('2026-01-05T01:00:00.000000+00:00', 'firing', 'city', '[7]', 'alice', 'email',"
    " 'alice@example.org', 'RH high', 'text', '<p>html</p>', '{\"n\": 1}', 'pending', 2,"
    " '2026-01-05T01:05:00.000000+00:00')",
    "INSERT INTO channel_health (channel, consecutive_failures, first_failure_at,"
    " last_failure_at, last_error) VALUES ('email', 2, '2026-01-05T01:00:00.000000+00:00',"
    " '2026-01-05T01:01:00.000000+00:00', 'refused')",
)
OLD_CHECKPOINT = "INSERT INTO mould_state VALUES ('s1', 1234.0, 0.5, 12.0, 0.25, 3.0, 'fp-1')"


def old_file(path: Path, version: int) -> None:
    """A state file as the version before migrations left it at its ``schema_version``: 1 had
    neither the clear-hold columns nor ``mould_state``, 2 lacked ``mould_state``."""
    schema = OLD_SCHEMA
    if version < 3:
        schema = schema[: schema.index("CREATE TABLE IF NOT EXISTS mould_state")]
    if version < 2:
        schema = schema.replace(
            ",\n    clear_s REAL NOT NULL DEFAULT 0,\n    last_seen TEXT\n", "\n"
        )
        assert "clear_s" not in schema and "last_seen" not in schema
    with sqlite3.connect(path) as db:
        db.executescript(schema)
        extra = (
            ("", "")
            if version < 2
            else (", clear_s, last_seen", ", 3600.0, '2026-01-05T01:00:00.000000+00:00'")
        )
        db.execute(OLD_ALERT.format(extra=extra[0], extra_values=extra[1]))
        for statement in OLD_ROWS:
            db.execute(statement)
        if version >= 3:
            db.execute(OLD_CHECKPOINT)
        db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(version),))
    db.close()


def schema_drift(path: Path, adopted: bool = False) -> list[object]:
    """Differences between the database and `schema.METADATA` (what the queries expect).

    An ``adopted`` file keeps the old declarations where SQLite treats them alike: ``REAL``
    for ``FLOAT`` (both REAL affinity) and primary keys without ``NOT NULL``.
    """
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), METADATA)
    engine.dispose()
    if not adopted:
        return list(diff)
    primary = {(t.name, c.name) for t in METADATA.tables.values() for c in t.primary_key}

    def alike(change: object) -> bool:
        if not isinstance(change, list) or len(change) != 1:
            return False
        kind, _, table, column, _existing, old, new = change[0]
        if kind == "modify_type":
            return str(old) == "REAL" and str(new) == "FLOAT"
        return kind == "modify_nullable" and (table, column) in primary

    return [change for change in diff if not alike(change)]


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    return names


def revision(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        rows = [r[0] for r in db.execute("SELECT version_num FROM alembic_version")]
    db.close()
    return rows


def test_a_new_file_is_at_the_newest_revision_and_durable(tmp_path: Path) -> None:
    path = tmp_path / "state" / "alerts.sqlite"
    store = AlertStore(path)
    with store.transaction() as tx:
        pragma = {
            name: tx.conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
        }
    store.close()
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 2,
        "busy_timeout": 30000,
        "foreign_keys": 1,
    }
    assert revision(path) == [head()]
    assert "meta" not in tables(path)
    assert schema_drift(path) == []
    AlertStore(path).close()  # opening again changes nothing
    assert revision(path) == [head()]


@pytest.mark.parametrize("version", [1, 2, 3])
def test_a_file_from_before_migrations_is_adopted_with_every_row(
    tmp_path: Path, version: int
) -> None:
    path = tmp_path / "alerts.sqlite"
    old_file(path, version)
    store = AlertStore(path)
    (alert,) = store.list_alerts()
    assert (alert.id, alert.state, alert.severity) == (7, AlertState.FIRING, Severity.WARNING)
    assert (alert.value, alert.peak_value, alert.ack_token) == (72.5, 75.0, "token-7")
    assert alert.fired_at == T0 + timedelta(hours=1)
    if version == 1:  # before the clear-hold: it resolves as it used to
        assert (alert.clear_s, alert.last_seen) == (0.0, None)
    else:
        assert (alert.clear_s, alert.last_seen) == (3600.0, T0 + timedelta(hours=1))
    assert [(e.from_state, e.to_state, e.note) for e in store.events(7)] == [
        (None, AlertState.PENDING, "RH 70"),
        (AlertState.PENDING, AlertState.FIRING, "RH 72.5"),
    ]
    (silence,) = store.silences()
    assert (silence.site, silence.reason, silence.created_by) == ("city", "roof works", "bob")
    (row,) = store.outbox()
    assert (row.alert_ids, row.payload, row.attempts, row.status) == ((7,), {"n": 1}, 2, "pending")
    assert (row.claimed_by, row.claimed_until) == (None, None)
    with store.transaction() as tx:
        health = tx.channel_health("email")
        bookkeeping = tx.get(7)[1]
    assert (health.consecutive_failures, health.last_error) == (2, "refused")
    assert (bookkeeping.notified_state, bookkeeping.recipients) == ("firing", ("alice",))
    expected = {"s1": Checkpoint(1234.0, VttState(0.5, 12.0), MrfState(0.25, 3.0), "fp-1")}
    assert store.mould_checkpoints() == (expected if version == 3 else {})
    store.close()
    assert revision(path) == [head()]
    assert "meta" not in tables(path)
    assert schema_drift(path, adopted=True) == []


def test_an_alert_from_before_the_clear_hold_resolves_as_it_used_to(tmp_path: Path) -> None:
    path = tmp_path / "alerts.sqlite"
    old_file(path, 1)
    store = AlertStore(path)
    rule, subject = "excursion.humidity_high", Subject("city", "stack-3", "s1")

    def apply(found: list[Finding], hours: float) -> list[AlertState]:
        with store.transaction() as tx:
            changes = apply_findings(tx, found, [rule], [subject.id], T0 + timedelta(hours=hours))
        return [c.to_state for c in changes]

    held = Finding(
        rule,
        subject,
        Severity.WARNING,
        T0 + timedelta(hours=2),
        70.0,
        60.0,
        "%RH",
        "RH 70",
        "check",
        3600.0,
        clear_s=3600.0,
    )
    assert apply([], 1.5) == [AlertState.RESOLVED]
    assert store.events(7)[-1].note == "condition cleared"
    assert apply([held], 3.0) == [AlertState.PENDING, AlertState.FIRING]
    assert apply([], 3.5) == []  # new alerts carry the hold
    store.close()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_file_from_a_newer_version_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "alerts.sqlite"
    store = AlertStore(path)
    with store.transaction() as tx:
        apply_findings(
            tx,
            [
                Finding(
                    "excursion.humidity_high",
                    Subject("city", "stack-3", "s1"),
                    Severity.WARNING,
                    T0,
                    70.0,
                    60.0,
                    "%RH",
                    "RH 70",
                    "check",
                    0.0,
                )
            ],
            ["excursion.humidity_high"],
            ["city/stack-3/s1"],
            T0,
        )
    store.close()
    with sqlite3.connect(path) as db:  # as a newer version would leave it
        db.execute("ALTER TABLE alerts ADD COLUMN owner TEXT")
        db.execute("UPDATE alembic_version SET version_num = '0099'")
    db.close()
    before = snapshot(tmp_path)
    assert list(before) == ["alerts.sqlite"]
    with pytest.raises(StateVersionError) as refused:
        AlertStore(path)
    message = str(refused.value)
    assert str(path) in message and "0099" in message and head() in message
    assert (refused.value.found, refused.value.newest) == ("0099", head())
    assert snapshot(tmp_path) == before


def test_a_pre_migration_file_of_an_unknown_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "alerts.sqlite"
    old_file(path, 3)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    db.close()
    before = snapshot(tmp_path)
    with pytest.raises(StateVersionError, match=r"revision 4 \(pre-alembic schema_version\)"):
        AlertStore(path)
    assert snapshot(tmp_path) == before


def test_a_file_that_is_no_database_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "alerts.sqlite"
    path.write_bytes(b"rules:\n  - excursion\n" * 100)
    before = snapshot(tmp_path)
    with pytest.raises(StateFileError, match=str(path)):
        AlertStore(path)
    assert snapshot(tmp_path) == before


def test_migrations_go_down_and_up_again(tmp_path: Path) -> None:
    path = tmp_path / "alerts.sqlite"
    AlertStore(path).close()
    config = alembic_config(url=f"sqlite:///{path}")
    command.downgrade(config, "0001")
    assert revision(path) == ["0001"]
    with sqlite3.connect(path) as db:
        columns = {r[1] for r in db.execute("PRAGMA table_info(outbox)")}
    db.close()
    assert "claimed_by" not in columns
    store = AlertStore(path)  # an older revision of this version: brought up to date
    assert store.outbox() == []
    store.close()
    assert revision(path) == [head()]
    command.downgrade(config, "base")
    assert tables(path) == {"alembic_version"}
    assert known_revisions() >= {"0001", "0002"}


def test_reads_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "alerts.sqlite"
    engine, cli = AlertStore(path), AlertStore(path)
    with engine.transaction() as tx:
        tx.insert_silence(
            site="city",
            room=None,
            sensor=None,
            rule=None,
            starts_at=T0,
            ends_at=T0 + timedelta(hours=1),
            reason="works",
            created_by="bob",
            now=T0,
        )
        began = time.monotonic()
        assert cli.silences() == []  # the other process's snapshot: nothing committed yet
        assert cli.list_alerts() == []
        assert time.monotonic() - began < 1.0  # not the 30 s busy timeout
    assert [s.reason for s in cli.silences()] == ["works"]
    engine.close()
    cli.close()
