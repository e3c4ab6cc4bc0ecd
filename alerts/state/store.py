"""`AlertStore`, the facade over the alert state, and `Tx`, the writes of one transaction.

One `AlertStore.transaction()` wraps a state change together with the outbox rows it causes,
so a crash can neither lose a notification nor send one for a change that was rolled back.
Reads (`get`, `list_alerts`, …) each run in one read transaction: a consistent snapshot that
takes no write lock, so the CLI, the API and the live view never wait for the engine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, Engine

from repoclimate.alerts.model import Alert, AlertState, Event, Silence
from repoclimate.alerts.rules.mould import Checkpoint
from repoclimate.alerts.state.alerts import AlertRows, OpenKey
from repoclimate.alerts.state.checkpoints import CheckpointRows
from repoclimate.alerts.state.database import begin, describe, open_state
from repoclimate.alerts.state.delivery import DeliveryRows, OutboxRow
from repoclimate.alerts.state.silences import SilenceRows


class Tx(AlertRows, SilenceRows, DeliveryRows, CheckpointRows):
    """The reads and writes of one transaction; get one from `AlertStore.transaction()`.
    ``conn`` is its SQLAlchemy connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn


class AlertStore:
    """The alert state: an SQLite file (the default), ``":memory:"`` for a throwaway
    (backtest, tests), or an SQLAlchemy URL (``postgresql+psycopg://…``).

    Opening migrates the schema (`database.open_state`; a state written by a newer version is
    refused with `StateVersionError`). Safe to share between threads (SQLite: a connection per
    thread from the pool; in memory: one connection behind a lock) and between processes (WAL,
    busy timeout): the CLI acknowledges while the service runs.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self.where = describe(path)
        self._engine = open_state(path)
        # An in-memory database is one connection, kept open; its users take turns.
        self._memory: Connection | None = None
        self._lock = threading.RLock()
        if self.path == ":memory:":
            self._memory = self._engine.connect()

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        if self._memory is None:
            with self._engine.connect() as conn:
                yield conn
        else:
            with self._lock:
                yield self._memory

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (`alerts.partition` takes its locks on a connection of it)."""
        return self._engine

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A write transaction, committed on success, rolled back on error. Write transactions
        take turns, on SQLite (``BEGIN IMMEDIATE``) and on PostgreSQL alike (see `begin`)."""
        with self._connection() as conn, conn.begin():
            begin(conn, write=True)
            yield Tx(conn)

    @contextmanager
    def _read(self) -> Iterator[Tx]:
        """A read transaction: one consistent snapshot, no write lock."""
        with self._connection() as conn, conn.begin():
            begin(conn, write=False)
            yield Tx(conn)

    # -- reads for the CLI, the API and the live view -------------------------------------
    def get(self, alert_id: int) -> Alert:
        with self._read() as tx:
            return tx.get(alert_id)[0]

    def open_alerts(self) -> list[Alert]:
        with self._read() as tx:
            return [alert for alert, _ in tx.open_alerts()]

    def open_keys(self) -> list[OpenKey]:
        """The open alerts' ids, rules, subjects and severities (`Tx.open_keys`)."""
        with self._read() as tx:
            return tx.open_keys()

    def mould_checkpoints(self) -> dict[str, Checkpoint]:
        """Per sensor id, the mould indices' state kept by the last evaluation."""
        with self._read() as tx:
            return tx.mould_checkpoints()

    def list_alerts(
        self,
        states: list[AlertState] | tuple[AlertState, ...] | None = None,
        since: datetime | None = None,
        limit: int = 200,
    ) -> list[Alert]:
        """Alerts newest first, optionally of some states or updated since a time."""
        with self._read() as tx:
            return tx.list_alerts(states, since, limit)

    def events(self, alert_id: int | None = None) -> list[Event]:
        with self._read() as tx:
            return tx.events(alert_id)

    def silences(self, active_at: datetime | None = None) -> list[Silence]:
        with self._read() as tx:
            return tx.all_silences() if active_at is None else tx.silences_active(active_at)

    def outbox(self, status: str | None = None) -> list[OutboxRow]:
        with self._read() as tx:
            return tx.outbox_rows(status)

    def outbox_due(self, now: datetime, limit: int = 500) -> list[OutboxRow]:
        """Rows to try at ``now`` (not those another worker has claimed)."""
        with self._read() as tx:
            return tx.outbox_due(now, limit)

    def claim_outbox(
        self, row_id: int, worker: str, now: datetime, lease: timedelta
    ) -> OutboxRow | None:
        """Claim one due row for ``worker`` in its own transaction (see `Tx.claim_outbox`)."""
        with self.transaction() as tx:
            return tx.claim_outbox(row_id, worker, now, lease)

    def close(self) -> None:
        with self._lock:
            if self._memory is not None:
                self._memory.close()
            self._engine.dispose()
