"""The receive-stamp journal: a redelivered message gets the receive time it was first stamped with.

Many devices send no time of their own (Zigbee2MQTT, ESPHome, Shelly Gen1, generic JSON without
``time``, Tasmota without a clock); the collector stamps their readings with the time it received
the message. Idempotent writes make a redelivery harmless only if the copy lands on the same point,
so a message the broker delivers again — because the collector stored its readings and then died,
or lost the connection, before its PUBACK reached the broker — must get the *same* stamp again.

For every QoS 1 message whose readings were stamped on receipt the collector notes its packet
identifier, a digest of topic and payload and the stamp here, and the writer commits the batch's
entries to the ``stamp`` table of the spool file (WAL, ``synchronous=FULL``; one row and one
transaction per batch, the entries packed in a blob) *before* the batch goes to the store. A
message that arrives with the MQTT DUP flag is looked up in memory (loaded from the table at
start, kept in step with it) and, when found, decoded with its first stamp. A message without
DUP never consults the journal: the same payload sent twice by a stuck sensor is two readings.

The journal is indexed by packet identifier. MQTT 3.1.1 (4.4) and 5 (4.4) require a broker to
resend an unacknowledged PUBLISH with its *original* packet identifier (Mosquitto does, with
either protocol), and forbid reusing an identifier while its message is unacknowledged; so the
latest delivery under an identifier is the only one that can come again under it. One slot per
identifier (1 to 65 535) holds that delivery's digest (blake2b-128 of topic and payload) and stamp:
a redelivery matches when the digest is the same, and identical payloads of one sensor (common in
a well-kept store room) each keep their own stamp — a (topic, payload) look-up would hand a
redelivered copy the stamp of an earlier identical reading, merging the two into one point. The
slots take 1.5 MB whatever the rate.

A slot older than ``keep_s`` (the ``collector.stamp_journal_s`` setting) is not matched: it bounds
how long after a crash a redelivery is still recognised. The table is pruned as batches are
committed: a row goes when all its entries are older than ``keep_s`` or than the last
`MAX_IN_FLIGHT` entries (the most messages that can be unacknowledged at once; the collector
acknowledges in order, so an older message has been acknowledged and will not come again).

The journal must never stand between a healthy store and its readings: when its commit fails
(``database or disk is full`` on a full spool disk, an I/O error) the transaction is rolled
back, the failure is counted and logged, ``degraded`` is set until a commit succeeds again, and
`StampJournal.commit` returns False: the batch goes to the store all the same. The entries are
still matched in memory while the process lives; only a crash during a degraded spell can
store a redelivered reading a second time, at a later receive stamp.

One case is left: a redelivery whose first delivery was never journaled (received, but not yet in
a committed batch when the collector died) while its slot still holds an earlier, acknowledged
delivery under the same identifier with the same topic and payload. It takes that stamp, and its
reading merges with that one. With a broker that hands out identifiers in turn (Mosquitto), the
two deliveries are 65 535 messages apart.
"""

from __future__ import annotations

import logging
import sqlite3
import struct
import threading
from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from hashlib import blake2b

logger = logging.getLogger(__name__)

MAX_IN_FLIGHT = 65_535
"""Most QoS 1 messages that can be unacknowledged at once (16-bit packet identifiers, 0 unused)."""

_ENTRY = struct.Struct(">QH16sq")
"""One packed entry: sequence number, packet id, digest, stamp [µs since the epoch]."""
_DIGEST = 16
_ALL = 2**63 - 1  # a row id beyond every row

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stamp (
    id INTEGER PRIMARY KEY,
    newest_us INTEGER NOT NULL,
    entries BLOB NOT NULL
)
"""
"""One row per committed batch: ``id`` is the sequence number of its first entry, ``newest_us``
its last stamp, ``entries`` the batch's entries (`_ENTRY`, in order) end to end."""


@contextmanager
def immediate_transaction(db: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` on an autocommit connection; on any error (including a
    ``COMMIT`` that fails, e.g. on a full disk, which leaves the transaction open) roll back, so
    the connection's next statement does not silently join a transaction that never commits."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error as exc:
                logger.error("cannot roll back a spool transaction: %s", exc)
        raise


def stamp_key(topic: bytes, payload: bytes) -> bytes:
    """The digest of one message: blake2b-128 of its topic (UTF-8) and payload."""
    digest = blake2b(topic, digest_size=_DIGEST)
    digest.update(b"\x00")  # MQTT topics cannot contain U+0000
    digest.update(payload)
    return digest.digest()


class StampJournal:
    """Receive stamps of recent deliveries by packet id, durable in the spool's SQLite file.

    Threads: `lookup` and `note` belong to the collector's decoder thread (the slots are touched
    by that thread only); `commit` to its writer thread (under the spool's lock, on the spool's
    connection). ``keep_s`` of 0 turns the journal off: nothing is kept or found.
    ``degraded`` is True while commits fail (see the module docstring), ``failures`` counts
    failed commits.
    """

    def __init__(
        self,
        db: sqlite3.Connection,
        lock: threading.Lock,
        *,
        keep_s: float,
        keep_entries: int = MAX_IN_FLIGHT,
        now_us: int,
    ) -> None:
        self._db = db
        self._lock = lock
        self.enabled = keep_s > 0
        self._keep_us = round(keep_s * 1e6)
        self._keep_entries = keep_entries
        self._digests = bytearray(_DIGEST * (MAX_IN_FLIGHT + 1))
        self._stamps = array("q", [0]) * (MAX_IN_FLIGHT + 1)  # 0: empty slot
        self._next_seq = 1
        self.degraded = False
        self.failures = 0
        with lock:
            db.execute(_SCHEMA)
            if not self.enabled:
                db.execute("DELETE FROM stamp")
                return
            self._prune_rows(now_us)
            rows = db.execute("SELECT entries FROM stamp ORDER BY id").fetchall()
        for (entries,) in rows:
            for seq, mid, digest, stamp in _ENTRY.iter_unpack(entries):
                self._fill(mid, digest, stamp)
                self._next_seq = seq + 1

    def lookup(self, mid: int, key: bytes, now_us: int) -> int | None:
        """The stamp [µs since the epoch] the delivery under packet id ``mid`` with digest
        ``key`` got, if it is journaled and not older than ``keep_s`` at ``now_us``."""
        stamp = self._stamps[mid]
        if not stamp or stamp < now_us - self._keep_us:
            return None
        offset = mid * _DIGEST
        return stamp if self._digests[offset : offset + _DIGEST] == key else None

    def note(self, mid: int, key: bytes, stamp_us: int) -> bytes:
        """Record a delivery's stamp in its packet id's slot; the entry returned goes to
        `commit` with its batch."""
        seq = self._next_seq
        self._next_seq = seq + 1
        self._fill(mid, key, stamp_us)
        return _ENTRY.pack(seq, mid, key, stamp_us)

    def _fill(self, mid: int, key: bytes, stamp_us: int) -> None:
        offset = mid * _DIGEST
        self._digests[offset : offset + _DIGEST] = key
        self._stamps[mid] = stamp_us

    def commit(self, entries: Sequence[bytes]) -> bool:
        """Make a batch's entries (from `note`, in order) durable: one row, one transaction,
        fsynced; rows whose entries are all too old go in the same transaction.

        Returns whether they are durable. A failure is rolled back, counted, logged and makes
        the journal ``degraded``; it is never raised: the batch may go to the store anyway.
        """
        if not entries:
            return True
        first_seq = _ENTRY.unpack_from(entries[0])[0]
        newest_us = _ENTRY.unpack_from(entries[-1])[3]
        with self._lock:
            db = self._db
            try:
                with immediate_transaction(db):
                    db.execute(
                        "INSERT OR REPLACE INTO stamp (id, newest_us, entries) VALUES (?, ?, ?)",
                        (first_seq, newest_us, b"".join(entries)),
                    )
                    self._prune_rows(newest_us)
            except sqlite3.Error as exc:
                self.failures += 1
                if not self.degraded:
                    logger.error(
                        "receive-stamp journal cannot commit (%s); storing without it until it "
                        "can: a redelivery after a crash meanwhile may be stored twice",
                        exc,
                    )
                self.degraded = True
                return False
        if self.degraded:
            self.degraded = False
            logger.warning(
                "receive-stamp journal commits again (%d failed commits before)", self.failures
            )
        return True

    def _prune_rows(self, now_us: int) -> None:
        """Delete the rows before the one holding the oldest entry still kept (by count), and
        rows whose newest stamp is older than ``keep_s`` (under the lock, in a transaction)."""
        db = self._db
        db.execute(
            "DELETE FROM stamp WHERE id < (SELECT MAX(id) FROM stamp WHERE id <= ?)",
            (self._next_seq - self._keep_entries,),
        )
        db.execute(
            "DELETE FROM stamp WHERE id < COALESCE("
            "(SELECT id FROM stamp WHERE newest_us >= ? ORDER BY id LIMIT 1), ?)",
            (now_us - self._keep_us, _ALL),
        )
