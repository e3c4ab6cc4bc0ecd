"""The collector's decoder stage: received messages in, batches of readings out.

The MQTT network thread only appends an `Inbound` record to the `Inbox`; the decoder thread
(`BatchDecoder.run`) takes them in order, runs `Pipeline.process` on each, dead-letters what it
rejects, notes receive stamps in the journal (see `repoclimate.ingest.stamps`) and cuts `Batch`es
— by size, by age, when the stream pauses, or when a message came on another connection (the
acknowledgements of a batch belong to the connection that delivered its messages).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from repoclimate.ingest.deadletter import RejectionLog, dead_letter_record
from repoclimate.ingest.deadletter_sink import DeadLetter
from repoclimate.ingest.pipeline import Pipeline
from repoclimate.ingest.stamps import StampJournal, stamp_key
from repoclimate.sensors.reading import DecodeError, Reading

logger = logging.getLogger(__name__)

_POLL_S = 0.002
"""How long the decoder sleeps when it has emptied the inbox while a batch is open."""


class Inbound(NamedTuple):
    """A received message, as the network thread queues it."""

    topic: bytes | str
    """As the broker sent it (bytes on the fast path, decoded on paho's own)."""
    payload: bytes
    mid: int
    qos: int
    received_us: int
    """Receive time in µs since the epoch, strictly increasing within a collector."""
    generation: int
    """Number of the connection that delivered it."""
    dup: bool
    """The DUP flag: a redelivery."""


class Origin(NamedTuple):
    """The message a reading came from, for its dead-letter record if the store refuses it."""

    topic: str
    payload: bytes
    received: datetime


PublishRecord = Callable[[bytes], DeadLetter]
"""Publishes a dead-letter record at QoS 1 (`DeadLetterSink.publish`); the writer settles it."""


@dataclass(slots=True)
class Batch:
    """Messages of one connection, cut by the decoder and handed to the writer."""

    generation: int
    readings: list[Reading] = field(default_factory=list)
    origins: list[int] = field(default_factory=list)
    """Per reading: its message's index in ``messages``."""
    messages: list[Origin] = field(default_factory=list)
    acks: list[int] = field(default_factory=list)
    """mids of QoS 1 messages, in arrival order."""
    dead_letters: list[DeadLetter] = field(default_factory=list)
    stamps: list[bytes] = field(default_factory=list)
    """Journal entries to commit before the store write."""
    received: int = 0
    ignored: int = 0
    restamped: int = 0
    """Redeliveries given their first receive stamp."""
    rejected: Counter[str] = field(default_factory=Counter)

    def origin(self, index: int) -> Origin:
        """The message reading ``index`` came from."""
        return self.messages[self.origins[index]]


class Inbox:
    """Messages from the network thread to the decoder, with a wake-up for an idle decoder."""

    def __init__(self) -> None:
        self.queue: deque[Inbound] = deque()
        self.wakeup = threading.Event()
        self.idle = False

    def put(self, inbound: Inbound) -> None:
        # The decoder wakes by itself while a stream flows, so a wake-up is signalled only when
        # it went to sleep on an idle stream.
        self.queue.append(inbound)
        if self.idle:
            self.idle = False
            self.wakeup.set()


class BatchDecoder:
    """Decodes inbound messages into batches (`run` is the decoder thread's body)."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        batch_size: int,
        batch_interval_s: float,
        idle_flush_s: float,
        dead_letter_topic: str,
        collector_id: str,
        publish: PublishRecord,
        rejections: RejectionLog,
    ) -> None:
        self.pipeline = pipeline
        self.batch_size = batch_size
        self.batch_interval_s = batch_interval_s
        self.idle_flush_s = min(idle_flush_s, batch_interval_s)
        self.dead_letter_topic = dead_letter_topic
        self.collector_id = collector_id
        self.journal: StampJournal | None = None
        """The receive-stamp journal, set once the spool is open (None: off)."""
        self._publish = publish
        self._rejections = rejections

    def run(
        self, inbox: Inbox, hand_over: Callable[[Batch | None], None], stopping: threading.Event
    ) -> None:
        """Decode until ``stopping`` is set; hand over each batch, then ``None`` at the end."""
        queue = inbox.queue
        batch_size = self.batch_size
        interval = self.batch_interval_s
        idle = self.idle_flush_s
        batch: Batch | None = None
        deadline = math.inf
        empty_since: float | None = None
        while True:
            if stopping.is_set():
                # Decode what has arrived, hand it over, and leave the rest to redelivery.
                for _ in range(len(queue)):
                    inbound = queue.popleft()
                    batch = self._batch_for(batch, inbound, hand_over)
                    self.decode(batch, inbound)
                if batch is not None:
                    hand_over(batch)
                hand_over(None)
                return
            if queue:
                empty_since = None
                inbound = queue.popleft()
                opened = self._batch_for(batch, inbound, hand_over)
                if opened is not batch:
                    batch = opened
                    deadline = time.monotonic() + interval
                self.decode(batch, inbound)
                if (
                    len(batch.readings) >= batch_size
                    or batch.received >= batch_size
                    or time.monotonic() >= deadline
                ):
                    hand_over(batch)
                    batch = None
                continue
            now = time.monotonic()
            if batch is not None:
                if empty_since is None:
                    empty_since = now
                if now < deadline and now - empty_since < idle:
                    time.sleep(_POLL_S)  # a stream flows: poll rather than be woken per message
                    continue
                hand_over(batch)
                batch = None
            inbox.idle = True
            if not queue:
                inbox.wakeup.wait(1.0)
            inbox.wakeup.clear()
            inbox.idle = False

    @staticmethod
    def _batch_for(
        batch: Batch | None, inbound: Inbound, hand_over: Callable[[Batch | None], None]
    ) -> Batch:
        """The batch a message joins: the open one, or a new one when there is none or the
        message came on another connection (the old batch is handed over)."""
        if batch is not None and batch.generation == inbound.generation:
            return batch
        if batch is not None:
            hand_over(batch)
        return Batch(inbound.generation)

    def decode(self, batch: Batch, inbound: Inbound) -> None:
        """Add one message to ``batch``: its readings, or its rejection."""
        raw_topic, payload, mid, qos, received_us, _, dup = inbound
        journal = self.journal
        key: bytes | None = None
        restamped = False
        if dup and journal is not None:
            # A redelivery: if its first delivery was stamped on receipt, stamp it the same.
            key = stamp_key(_topic_bytes(raw_topic), payload)
            first_stamp = journal.lookup(mid, key, received_us)
            if first_stamp is not None:
                received_us = first_stamp
                restamped = True
        # Exact: near today's epoch a double resolves well under half a microsecond.
        received = datetime.fromtimestamp(received_us / 1e6, UTC)
        batch.received += 1
        if qos:
            batch.acks.append(mid)
        try:
            topic = raw_topic if isinstance(raw_topic, str) else raw_topic.decode()
        except UnicodeDecodeError:
            self._reject(batch, "bad_topic", "topic is not UTF-8", None, payload, received)
            return
        if topic == self.dead_letter_topic:
            batch.ignored += 1
            return
        try:
            readings = self.pipeline.process(topic, payload, received)
        except DecodeError as exc:
            self._reject(batch, exc.reason, str(exc), topic, payload, received)
            return
        except Exception as exc:  # a decoder bug must not stop the stream: dead-letter and go on
            logger.exception("decoder failed on a message on %r", topic)
            self._reject(batch, "internal_error", repr(exc), topic, payload, received)
            return
        if not readings:
            batch.ignored += 1
            return
        if restamped:
            batch.restamped += 1
        elif qos and journal is not None and _receive_stamped(readings, received):
            if key is None:
                key = stamp_key(_topic_bytes(raw_topic), payload)
            batch.stamps.append(journal.note(mid, key, received_us))
        index = len(batch.messages)
        batch.messages.append(Origin(topic, payload, received))
        batch.readings.extend(readings)
        batch.origins.extend([index] * len(readings))

    def _reject(
        self,
        batch: Batch,
        reason: str,
        text: str,
        topic: str | None,
        payload: bytes,
        received: datetime,
    ) -> None:
        batch.rejected[reason] += 1
        self._rejections.rejected(reason, text, topic)
        record = dead_letter_record(
            reason=reason,
            message=text,
            topic=topic,
            payload=payload,
            received_at=received,
            collector=self.collector_id,
        )
        batch.dead_letters.append(self._publish(record))


def _topic_bytes(topic: bytes | str) -> bytes:
    """A topic as the broker sent it (paho's own path hands it over decoded)."""
    return topic if isinstance(topic, bytes) else topic.encode()


def _receive_stamped(readings: Sequence[Reading], received: datetime) -> bool:
    """Whether any reading took the receive time (its payload had no time of its own)."""
    for reading in readings:  # noqa: SIM110 - a plain loop is 4x faster than any() here
        if reading.time == received:
            return True
    return False
