"""The durable spool: readings the store could not take, kept on disk until it can, in order.

The spool is a SQLite file in WAL mode with ``synchronous=FULL``: `Spool.append` returns only
after the batch is committed and fsynced, so the collector may acknowledge the MQTT messages
behind it, and a SIGKILL (or power loss) right after loses nothing. Each batch is one row; row ids
only grow (``AUTOINCREMENT``), so `Spool.peek` hands batches back oldest first and the store
receives readings in the order the collector spooled them. A row is deleted only after the store
confirmed its readings (`Spool.remove`), so a crash mid-drain re-sends at most the rows in flight,
which idempotent writes make harmless.

One spool file belongs to one collector (its MQTT client id names the file); an exclusive
``flock`` on a lock file beside it stops a second process with the same client id from sharing it.
The same file holds the collector's receive-stamp journal (`ingest.stamps`, ``Spool.stamps``).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from repoclimate.ingest.stamps import StampJournal, immediate_transaction
from repoclimate.sensors.reading import Reading

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    readings INTEGER NOT NULL,
    body TEXT NOT NULL
)
"""


class SpoolError(RuntimeError):
    """The spool cannot be opened (locked by another process, unreadable, not a spool)."""


@dataclass(frozen=True, slots=True)
class SpoolChunk:
    """The oldest spooled batches, joined: their row ids and their readings, in spool order."""

    ids: tuple[int, ...]
    readings: list[Reading]


def encode_readings(readings: Sequence[Reading]) -> str:
    """Readings as JSON rows ``[sensor, µs since epoch, t, rh, battery, lq, site, room]``."""
    return json.dumps(
        [
            [
                r.sensor,
                (r.time - _EPOCH) // _MICROSECOND,
                r.temperature,
                r.humidity,
                r.battery,
                r.linkquality,
                r.site,
                r.room,
            ]
            for r in readings
        ],
        separators=(",", ":"),
        allow_nan=False,
    )


def decode_readings(body: str) -> list[Reading]:
    """The inverse of `encode_readings` (times exact to the microsecond)."""
    return [
        Reading(
            sensor=sensor,
            time=_EPOCH + timedelta(microseconds=micros),
            temperature=temperature,
            humidity=humidity,
            battery=battery,
            linkquality=linkquality,
            site=site,
            room=room,
        )
        for sensor, micros, temperature, humidity, battery, linkquality, site, room in json.loads(
            body
        )
    ]


def spool_path(directory: Path, client_id: str) -> Path:
    """The spool file of a collector: ``<directory>/<client id, made file-name safe>.sqlite``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", client_id) or "collector"
    return directory / f"{safe}.sqlite"


DEFAULT_STAMP_JOURNAL_S = 86_400.0
"""How long receive stamps are kept for redeliveries by default (``collector.stamp_journal_s``)."""


class Spool:
    """An ordered, durable queue of reading batches in one SQLite file.

    Thread-safe (one lock around the connection). `len()` is the number of readings waiting.
    ``stamps`` is the receive-stamp journal in the same file, keeping entries for
    ``stamp_journal_s`` seconds (0: off).
    """

    def __init__(self, path: Path, *, stamp_journal_s: float = DEFAULT_STAMP_JOURNAL_S) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_file: IO[bytes] | None = open(path.with_suffix(".lock"), "ab")  # noqa: SIM115
        except OSError as exc:
            raise SpoolError(f"cannot create the spool in {path.parent}: {exc}") from exc
        try:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock_file.close()
            self._lock_file = None
            raise SpoolError(
                f"spool {path} is in use by another process (same collector client id?)"
            ) from exc
        created = not path.exists()
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
            row = self._db.execute("SELECT COALESCE(SUM(readings), 0) FROM batch").fetchone()
            self.stamps = StampJournal(
                self._db, self._lock, keep_s=stamp_journal_s, now_us=time.time_ns() // 1000
            )
        except sqlite3.DatabaseError as exc:
            self._release_lock()
            raise SpoolError(f"cannot open spool {path}: {exc}") from exc
        self._pending = int(row[0])
        if created:
            _fsync_directory(path.parent)

    def __len__(self) -> int:
        return self._pending

    def append(self, readings: Sequence[Reading]) -> None:
        """Add a batch behind everything spooled; durable (committed and fsynced) on return.

        Raises `sqlite3.Error` when it cannot (e.g. ``database or disk is full``).
        """
        if not readings:
            return
        body = encode_readings(readings)
        with self._lock:
            with immediate_transaction(self._db):
                self._db.execute(
                    "INSERT INTO batch (readings, body) VALUES (?, ?)", (len(readings), body)
                )
            self._pending += len(readings)

    def peek(self, max_readings: int) -> SpoolChunk:
        """The oldest batches, as many as fit in ``max_readings`` (always at least one)."""
        ids: list[int] = []
        readings: list[Reading] = []
        with self._lock:
            cursor = self._db.execute("SELECT id, readings, body FROM batch ORDER BY id")
            for row_id, count, body in cursor:
                if ids and len(readings) + count > max_readings:
                    break
                ids.append(row_id)
                readings.extend(decode_readings(body))
            cursor.close()
        return SpoolChunk(tuple(ids), readings)

    def remove(self, chunk: SpoolChunk) -> None:
        """Delete batches the store has confirmed (one transaction)."""
        if not chunk.ids:
            return
        with self._lock:
            with immediate_transaction(self._db):
                self._db.executemany("DELETE FROM batch WHERE id = ?", [(i,) for i in chunk.ids])
            row = self._db.execute("SELECT COALESCE(SUM(readings), 0) FROM batch").fetchone()
            self._pending = int(row[0])

    def close(self) -> None:
        """Checkpoint the WAL into the main file and release the file and its lock."""
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:  # e.g. a full disk: the WAL is checkpointed next time
                logger.warning("spool %s: cannot checkpoint its WAL on close: %s", self.path, exc)
            finally:
                self._db.close()
                self._release_lock()

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _fsync_directory(directory: Path) -> None:
    """Make a newly created file's directory entry durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
