"""The collector's writer stage: store or spool each batch, then acknowledge its messages.

`BatchWriter.run` is the writer thread's body. A batch goes to the store — or to the spool when
the store is unavailable, or when the spool already holds older readings, so order is kept. The
spool drains with backoff. Readings the store refuses are isolated by bisection (or cut out when
the store names the bad point) and dead-lettered. Only then, and once the batch's dead-letter
records are settled — confirmed by the broker, or kept in the local dead-letter file when it
refuses them or does not answer within `DEAD_LETTER_CONFIRM_S` (`ingest.deadletter_sink`) — are
the batch's messages acknowledged, on the connection that delivered them. A batch is never left
unacknowledged on a live connection in the hope of a redelivery: a broker redelivers only after
a reconnect (MQTT 4.4), so its receive window would fill and the stream stop.

`BatchWriter.pending_since` tells how long the oldest batch handed over has waited to be
settled: the collector's measure of being stuck.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from repoclimate.history.store import InvalidPoint, Store, StoreRejected, StoreUnavailable
from repoclimate.ingest.batching import Batch, Origin
from repoclimate.ingest.deadletter import RejectionLog, dead_letter_record
from repoclimate.ingest.deadletter_sink import DeadLetter, DeadLetterSink, Settlement
from repoclimate.ingest.session import Session
from repoclimate.ingest.spool import Spool
from repoclimate.ingest.stats import CollectorStats, StatsSnapshot
from repoclimate.sensors.reading import Reading

logger = logging.getLogger(__name__)

DEAD_LETTER_CONFIRM_S = 10.0
"""How long the writer waits for the broker to confirm a batch's dead-letter records before it
keeps them locally and acknowledges the batch."""
_DRAIN_BATCHES = 4
"""Spooled batches moved to the store per write when draining."""


@dataclass(slots=True)
class WriteResult:
    """What `BatchWriter.write_all` did with a sequence of readings."""

    unavailable_from: int
    """Index of the first reading not written because the store was unavailable (or the end)."""
    stored: int = 0
    rejected: int = 0
    """Readings the store refused (dead-lettered)."""
    errors: int = 0
    """Failed store writes."""


class BatchWriter:
    """Stores, spools, drains and acknowledges (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        session: Session,
        stats: CollectorStats,
        *,
        batch_size: int,
        dead_letters: DeadLetterSink,
        collector_id: str,
        rejections: RejectionLog,
        retry_delay_s: tuple[float, float],
        abort: threading.Event,
        on_stats: Callable[[StatsSnapshot], None] | None = None,
    ) -> None:
        self.store = store
        self.session = session
        self.stats = stats
        self.batch_size = batch_size
        self.dead_letters = dead_letters
        self.collector_id = collector_id
        self._pending: deque[float] = deque()  # monotonic hand-over time of unsettled batches
        self.batches: queue.Queue[Batch | None] = queue.Queue(maxsize=2)
        """Batches from the decoder; ``None`` is the end of the stream."""
        self.spool: Spool | None = None
        """Set before the writer thread starts."""
        self._rejections = rejections
        self._retry_min_s, self._retry_max_s = retry_delay_s
        self._abort = abort
        self._on_stats = on_stats
        self._next_drain = 0.0
        self._drain_delay = self._retry_min_s

    def hand_over(self, batch: Batch | None) -> None:
        """Pass a batch (or the end mark) to the writer, waiting while it is busy."""
        if batch is not None:
            self._pending.append(time.monotonic())
        while not self._abort.is_set():
            try:
                self.batches.put(batch, timeout=0.5)
                return
            except queue.Full:
                continue

    def _open_spool(self) -> Spool:
        if self.spool is None:
            raise RuntimeError("the writer's spool is not open")
        return self.spool

    def run(self) -> None:
        """Handle batches until the end mark, draining the spool when its time comes."""
        spool = self._open_spool()
        while True:
            timeout = 1.0
            if len(spool):
                timeout = max(0.0, min(timeout, self._next_drain - time.monotonic()))
            try:
                batch = self.batches.get(timeout=timeout)
            except queue.Empty:
                pass
            else:
                if batch is None:
                    self._drain_once(final=True)
                    return
                try:
                    self._handle_batch(batch)
                finally:
                    self._pending.popleft()
            if len(spool) and time.monotonic() >= self._next_drain:
                self._drain_once()

    def pending_since(self) -> float | None:
        """When (monotonic) the oldest batch not yet settled was handed over, if any."""
        try:
            return self._pending[0]
        except IndexError:
            return None

    def _handle_batch(self, batch: Batch) -> None:
        """Store or spool a batch, then acknowledge it; retry while neither is possible."""
        delay = self._retry_min_s
        while True:
            try:
                counts = self._store_batch(batch)
                break
            except Exception:  # e.g. the spool's disk is full: keep the messages unacknowledged
                logger.exception("cannot store or spool a batch; retrying in %.1f s", delay)
                self.stats.add(store_errors=1)
                if self._abort.wait(delay):
                    return
                delay = min(delay * 2, self._retry_max_s)
        acked, settled = self._acknowledge(batch)
        self.stats.add(
            dead_letters_refused=settled.refused,
            dead_letters_local=settled.kept_locally,
            dead_letters_lost=settled.lost,
            received=batch.received,
            ignored=batch.ignored,
            rejected=batch.rejected,
            restamped=batch.restamped,
            readings=len(batch.readings),
            dead_lettered=len(batch.dead_letters),
            batches=1,
            acked=acked,
            **counts,
        )
        self.publish_stats()

    def _store_batch(self, batch: Batch) -> dict[str, int]:
        spool = self._open_spool()
        readings = batch.readings
        if not readings:
            return {}
        if batch.stamps:
            # Durable before any reading can reach the store: a redelivery after a crash from
            # here on finds the stamps its readings were stored with. A journal that cannot
            # commit (a full spool disk) is degraded, never in the way of the store.
            journal = spool.stamps
            if not journal.commit(batch.stamps):
                self.stats.add(stamp_journal_failures=1)
            self.stats.set_flag("stamp_journal_degraded", journal.degraded)
            batch.stamps = []
        if len(spool):  # older readings wait in the spool: queue behind them to keep the order
            try:
                spool.append(readings)
            except sqlite3.Error as exc:
                # The spool's disk is full (or broken): rather than nothing going anywhere, the
                # store may take them now, ahead of the spooled ones.
                self.stats.add(spool_errors=1)
                logger.warning(
                    "cannot spool behind %d spooled readings (%s); writing to the store directly",
                    len(spool),
                    exc,
                )
            else:
                self.stats.set_spool_pending(len(spool))
                return {"spooled": len(readings)}
        result = self.write_all(readings, batch.origin, batch.dead_letters)
        if result.unavailable_from < len(readings):
            rest = readings[result.unavailable_from :]
            spool.append(rest)
            self.stats.set_spool_pending(len(spool))
            self._schedule_drain(failed=True)
            logger.warning("store unavailable; spooled %d readings", len(rest))
        return {
            "stored": result.stored,
            "spooled": len(readings) - result.unavailable_from,
            "store_rejected": result.rejected,
            "store_errors": result.errors,
        }

    def _acknowledge(self, batch: Batch) -> tuple[int, Settlement]:
        """Settle a batch's dead-letter records, then acknowledge its messages if the
        connection that delivered them is still up; (messages acknowledged, settlement)."""
        settled = self.dead_letters.settle(batch.dead_letters, DEAD_LETTER_CONFIRM_S)
        if not self.session.acknowledge(batch.generation, batch.acks):
            return 0, settled
        return len(batch.acks), settled

    def write_all(
        self,
        readings: Sequence[Reading],
        origin: Callable[[int], Origin] | None,
        dead_letters: list[DeadLetter],
    ) -> WriteResult:
        """Write readings, isolating and dead-lettering any the store refuses.

        Ranges are written left to right; a refused range is split (or, when the store names the
        bad point, that point is cut out) until each bad reading stands alone. On the first
        `StoreUnavailable` the writing stops: every reading from that index on is unwritten.
        """
        result = WriteResult(unavailable_from=len(readings))
        ranges = [(0, len(readings))]  # a stack: the leftmost range on top
        while ranges:
            low, high = ranges.pop()
            try:
                self.store.write(readings[low:high])
            except (StoreUnavailable, OSError) as exc:
                result.errors += 1
                result.unavailable_from = low
                logger.debug("store unavailable: %s", exc)
                return result
            except Exception as exc:
                result.errors += 1
                if not isinstance(exc, StoreRejected):
                    logger.exception("store failed on a write of %d readings", high - low)
                bad = _named_index(exc, low, high)
                if bad is not None:
                    self._dead_letter_reading(readings[bad], bad, exc, origin, dead_letters)
                    result.rejected += 1
                    ranges.extend(r for r in ((bad + 1, high), (low, bad)) if r[0] < r[1])
                elif high - low == 1:
                    self._dead_letter_reading(readings[low], low, exc, origin, dead_letters)
                    result.rejected += 1
                else:
                    middle = (low + high) // 2
                    ranges.extend([(middle, high), (low, middle)])
                continue
            result.stored += high - low
        return result

    def _dead_letter_reading(
        self,
        reading: Reading,
        index: int,
        exc: Exception,
        origin: Callable[[int], Origin] | None,
        dead_letters: list[DeadLetter],
    ) -> None:
        source = origin(index) if origin is not None else None
        topic = source.topic if source is not None else None
        text = f"store refused the reading: {exc}"
        self._rejections.rejected("store_rejected", text, topic)
        record = dead_letter_record(
            reason="store_rejected",
            message=text,
            topic=topic,
            payload=source.payload if source is not None else None,
            received_at=source.received if source is not None else None,
            collector=self.collector_id,
            reading=reading,
        )
        dead_letters.append(self.dead_letters.publish(record))

    def _schedule_drain(self, *, failed: bool) -> None:
        if failed:
            self._next_drain = time.monotonic() + self._drain_delay
            self._drain_delay = min(self._drain_delay * 2, self._retry_max_s)
        else:
            self._drain_delay = self._retry_min_s
            self._next_drain = 0.0

    def _drain_once(self, *, final: bool = False) -> None:
        """Move the oldest spooled readings (up to a batch) to the store, if it takes them."""
        spool = self._open_spool()
        if not len(spool) or (final and time.monotonic() < self._next_drain):
            return
        # Several batches per write, so the spool catches up while new batches still arrive.
        chunk = spool.peek(self.batch_size * _DRAIN_BATCHES)
        dead_letters: list[DeadLetter] = []
        result = self.write_all(chunk.readings, None, dead_letters)
        settled = self.dead_letters.settle(dead_letters, DEAD_LETTER_CONFIRM_S)
        self.stats.add(
            dead_letters_refused=settled.refused,
            dead_letters_local=settled.kept_locally,
            dead_letters_lost=settled.lost,
        )
        if result.unavailable_from < len(chunk.readings):
            self._schedule_drain(failed=True)
            self.stats.add(store_errors=result.errors)
            return
        try:
            spool.remove(chunk)
        except sqlite3.Error as exc:  # e.g. a full disk: stored already, so sent again later
            self.stats.add(spool_errors=1)
            logger.warning("cannot remove drained readings from the spool (%s); will retry", exc)
            self._schedule_drain(failed=True)
            return
        self._schedule_drain(failed=False)
        self.stats.set_spool_pending(len(spool))
        self.stats.add(
            stored=result.stored,
            drained=result.stored,
            store_rejected=result.rejected,
            dead_lettered=len(dead_letters),
            store_errors=result.errors,
        )
        if not len(spool):
            logger.info("spool drained")

    def publish_stats(self) -> None:
        """Hand a snapshot of the counters to ``on_stats``, if there is one."""
        if self._on_stats is None:
            return
        try:
            self._on_stats(self.stats.snapshot())
        except Exception:
            logger.exception("on_stats callback failed")


def _named_index(exc: Exception, low: int, high: int) -> int | None:
    """The absolute index of the reading a store named as the bad one, when it did."""
    if isinstance(exc, InvalidPoint) and exc.index is not None and 0 <= exc.index < high - low:
        return low + exc.index
    return None
