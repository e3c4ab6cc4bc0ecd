"""The MQTT collector: subscribe, decode, validate, calibrate, batch, store, acknowledge.

Three threads share the work:

- paho's network thread receives messages and only queues them (with their receive time);
- the *decoder* runs `Pipeline.process` on each, publishes rejected messages to the dead-letter
  topic and cuts batches (by size, by age, or when the stream pauses);
- the *writer* stores each batch (or spools it when the store is unavailable, or when the spool
  already holds older readings, so order is kept), drains the spool with backoff, dead-letters
  readings the store refuses, and only then acknowledges the batch's messages.

No loss: the client uses QoS 1, a persistent session and ``manual_ack``. A message is
acknowledged after its readings are in the store or fsynced in the spool, and after its
dead-letter record (if any) was acknowledged by the broker. Acknowledgements belong to the
connection that delivered the message: after a reconnect the broker redelivers what was not
acknowledged, the readings are written again, and idempotent writes (same sensor and time, same
point) make that harmless. A payload without a time of its own is stamped on receipt; so that its
redelivered copy lands on the same point rather than a second one at a later receive time, the
decoder notes every such stamp in the receive-stamp journal (`ingest.stamps`), the writer commits
a batch's entries to the spool file before the batch goes to the store, and a message arriving
with the DUP flag is decoded with the stamp its first delivery got.
"""

from __future__ import annotations

import logging
import math
import queue
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from repoclimate.history.store import InvalidPoint, Store, StoreRejected, StoreUnavailable
from repoclimate.ingest.deadletter import RejectionLog, dead_letter_record
from repoclimate.ingest.paho_client import FastClient, fast_path_supported
from repoclimate.ingest.pipeline import Pipeline
from repoclimate.ingest.settings import CollectorSettings, MqttSettings
from repoclimate.ingest.spool import Spool, spool_path
from repoclimate.ingest.stamps import StampJournal, stamp_key
from repoclimate.ingest.stats import CollectorStats, StatsSnapshot
from repoclimate.sensors.reading import DecodeError, Reading

logger = logging.getLogger(__name__)


def receive_maximum(batch_size: int) -> int:
    """MQTT 5 CONNECT ReceiveMaximum: how many unacknowledged messages the broker may send.

    Batching holds acknowledgements back until a batch is stored, so a small window (Mosquitto
    gives clients that do not ask its ``max_inflight_messages``, 20 by default) would stall every
    batch until its timer fires. Eight batches cover the decoder's batch, the two queued for the
    writer, the one being written and the inbox filling behind them; the window also bounds how
    many messages the collector holds in memory.
    """
    return max(1000, min(65535, 8 * batch_size))


DEAD_LETTER_CONFIRM_S = 10.0
"""How long the writer waits for the broker to acknowledge a batch's dead-letter records."""

_Inbound = tuple[bytes | str, bytes, int, int, int, int, bool]
"""A received message: topic, payload, mid, QoS, receive time (µs since the epoch, strictly
increasing within a collector), connection number, DUP flag (a redelivery)."""

_STOP = object()
_DRAIN_BATCHES = 4
"""Spooled batches moved to the store per write when draining."""
_POLL_S = 0.002
"""How long the decoder sleeps when it has emptied the inbox while a batch is open."""


class _Batch:
    """Messages of one connection, cut by the decoder and handed to the writer."""

    __slots__ = (
        "acks",
        "dead_letters",
        "generation",
        "ignored",
        "messages",
        "origins",
        "readings",
        "received",
        "rejected",
        "restamped",
        "stamps",
    )

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.readings: list[Reading] = []
        self.origins: list[int] = []  # per reading: its message's index in ``messages``
        self.messages: list[tuple[str, bytes, datetime]] = []  # topic, payload, received at
        self.acks: list[int] = []  # mids of QoS 1 messages, in arrival order
        self.dead_letters: list[mqtt.MQTTMessageInfo] = []
        self.stamps: list[bytes] = []  # journal entries to commit before the store write
        self.received = 0
        self.ignored = 0
        self.restamped = 0  # redeliveries given their first receive stamp
        self.rejected: Counter[str] = Counter()


class Collector:
    """The MQTT collector; see the module docstring for how it avoids losing readings.

    ``start()`` connects and starts the worker threads; ``stop(timeout)`` flushes what was
    received, acknowledges it and disconnects (keeping the persistent session); ``run()`` does
    both around a wait for SIGTERM / SIGINT or `request_stop()`. ``stats.snapshot()`` gives the
    counters; ``on_stats`` (if given) is called with a snapshot after every batch, from the writer
    thread. ``idle_flush_s``: a batch is also cut when no message arrived for this long, which
    keeps brokers with a small in-flight window (MQTT 3.1.1) moving.
    """

    def __init__(
        self,
        mqtt: MqttSettings,
        collector: CollectorSettings,
        store: Store,
        pipeline: Pipeline,
        *,
        on_stats: Callable[[StatsSnapshot], None] | None = None,
        idle_flush_s: float = 0.05,
        reconnect_delay_s: tuple[int, int] = (1, 30),
        retry_delay_s: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        self.mqtt_settings = mqtt
        self.settings = collector
        self.store = store
        self.pipeline = pipeline
        self.stats = CollectorStats()
        self._on_stats = on_stats
        self._idle_flush_s = min(idle_flush_s, collector.batch_interval_s)
        self._reconnect_delay_s = reconnect_delay_s
        self._retry_min_s, self._retry_max_s = retry_delay_s
        self._dead_letter_topic = mqtt.dead_letter_topic
        self._rejections = RejectionLog(logger)

        self._inbox: deque[_Inbound] = deque()
        self._decoder_idle = False
        self._last_stamp = 0
        self._wakeup = threading.Event()
        self._stop_decoding = threading.Event()
        self._batches: queue.Queue[Any] = queue.Queue(maxsize=2)
        self._ack_lock = threading.Lock()
        self._generation = 0
        self._connected = False
        self._started = False
        self._stopped = False
        self._stop_requested = threading.Event()
        self._abort = threading.Event()
        self._spool: Spool | None = None
        self._journal: StampJournal | None = None
        self._threads: list[threading.Thread] = []
        self._next_drain = 0.0
        self._drain_delay = self._retry_min_s
        self.client = self._make_client()

    # -- MQTT client -------------------------------------------------------------------------

    @property
    def _v5(self) -> bool:
        return self.mqtt_settings.protocol == "5"

    def _make_client(self) -> mqtt.Client:
        settings = self.mqtt_settings
        client = (FastClient if fast_path_supported() else mqtt.Client)(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=mqtt.MQTTv5 if self._v5 else mqtt.MQTTv311,
            clean_session=None if self._v5 else False,
            manual_ack=True,
        )
        client.max_queued_messages_set(0)
        client.max_inflight_messages_set(1000)
        client.reconnect_delay_set(
            min_delay=self._reconnect_delay_s[0], max_delay=self._reconnect_delay_s[1]
        )
        if settings.username is not None:
            password = settings.password.get_secret_value() if settings.password else None
            client.username_pw_set(settings.username, password)
        context = settings.ssl_context()
        if context is not None:
            # paho derives its own host-name check from context.check_hostname (tls.insecure)
            client.tls_set_context(context)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        if isinstance(client, FastClient):
            client.message_sink = self._on_publish
        return client

    def _subscriptions(self) -> list[str]:
        group = self.mqtt_settings.shared_group
        filters = covering_filters([route.filter for route in self.mqtt_settings.topics])
        return [f"$share/{group}/{f}" for f in filters] if group else filters

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            logger.error(
                "broker %s refused the connection: %s", self.mqtt_settings.url, reason_code
            )
            return
        with self._ack_lock:
            self._generation += 1
            self._connected = True
        self.stats.set_connected(True)
        logger.info(
            "connected to %s as %r (session present: %s)",
            self.mqtt_settings.url,
            self.mqtt_settings.client_id,
            flags.session_present,
        )
        if self._v5:
            # Subscribing again on a resumed session keeps its queued messages and picks up
            # filters added to the configuration; retained messages only come for new filters.
            options = SubscribeOptions(
                qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB
            )
            client.subscribe([(f, options) for f in self._subscriptions()])
        elif not flags.session_present:
            client.subscribe([(f, 1) for f in self._subscriptions()])

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._ack_lock:
            self._generation += 1
            was_connected, self._connected = self._connected, False
        self.stats.set_connected(False)
        if was_connected and not self._stop_requested.is_set():
            logger.warning("lost the broker %s: %s", self.mqtt_settings.url, reason_code)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        for topic, code in zip(self._subscriptions(), reason_codes, strict=False):
            if code.is_failure:
                logger.error("broker refused the subscription to %r: %s", topic, code)

    def _stamp(self) -> int:
        """Receive time in µs, strictly increasing, so that two time-less readings of one sensor
        received within the same microsecond stay two points (network thread only)."""
        now = time.time_ns() // 1000
        if now <= self._last_stamp:
            now = self._last_stamp + 1
        self._last_stamp = now
        return now

    def _on_publish(
        self, topic: bytes | str, payload: bytes, mid: int, qos: int, dup: bool
    ) -> None:
        # The network thread only queues; the decoder wakes by itself while a stream flows, so
        # a wake-up is signalled only when it went to sleep on an idle stream.
        self._inbox.append((topic, payload, mid, qos, self._stamp(), self._generation, dup))
        if self._decoder_idle:
            self._decoder_idle = False
            self._wakeup.set()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        """paho's own path (MQTT 5 properties, or a paho without `FastClient`'s hooks)."""
        try:
            topic: bytes | str = message.topic
        except UnicodeDecodeError:
            topic = b"\xff"  # not UTF-8: refused as bad_topic by the decoder
        self._on_publish(topic, bytes(message.payload), message.mid, message.qos, bool(message.dup))

    @property
    def connected(self) -> bool:
        """Whether the collector holds a connection to the broker right now."""
        return self._connected

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Open the spool, start the worker threads and connect (retrying in the background)."""
        if self._started:
            raise RuntimeError("a collector can be started only once")
        self._started = True
        settings = self.mqtt_settings
        self._spool = Spool(
            spool_path(self.settings.spool_dir, settings.client_id),
            stamp_journal_s=self.settings.stamp_journal_s,
        )
        self._journal = self._spool.stamps if self._spool.stamps.enabled else None
        self.stats.set_spool_pending(len(self._spool))
        if len(self._spool):
            logger.info("spool holds %d readings from before; draining first", len(self._spool))
        if self._v5 and settings.session_expiry_s == 0:
            logger.warning("session_expiry_s is 0: messages published while down will be lost")
        self._threads = [
            threading.Thread(target=self._decode_loop, name="collector-decoder", daemon=True),
            threading.Thread(target=self._write_loop, name="collector-writer", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        properties = None
        if self._v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = settings.session_expiry_s
            properties.ReceiveMaximum = receive_maximum(self.settings.batch_size)
        self.client.connect_async(
            settings.host,
            settings.port,
            keepalive=settings.keepalive_s,
            clean_start=False,
            properties=properties,
        )
        self.client.loop_start()

    def request_stop(self) -> None:
        """Make `run()` return (it then stops the collector); safe from any thread or signal."""
        self._stop_requested.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Store or spool everything received, acknowledge it, and disconnect.

        The persistent session stays on the broker, so messages that arrive meanwhile wait there
        for the next start with the same client id.
        """
        if not self._started or self._stopped:
            return
        self._stopped = True
        self._stop_requested.set()
        deadline = time.monotonic() + timeout
        self._stop_decoding.set()
        self._wakeup.set()
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads):
            logger.error("collector threads did not finish within %.1f s; stopping anyway", timeout)
            self._abort.set()
        self.client.disconnect()
        self.client.loop_stop()
        for thread in self._threads:
            thread.join(1.0)
        if self._spool is not None:
            self._spool.close()
        self.stats.set_connected(False)
        self._publish_stats()

    def run(self) -> None:
        """Start, wait for SIGTERM / SIGINT (when in the main thread) or `request_stop()`, stop."""
        previous: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():

            def handle(signum: int, frame: FrameType | None) -> None:
                logger.info("signal %d: stopping the collector", signum)
                self.request_stop()

            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, handle)
        try:
            self.start()
            while not self._stop_requested.wait(1.0):
                pass
        finally:
            try:
                self.stop()
            finally:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)

    def __enter__(self) -> Collector:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- decoder thread ----------------------------------------------------------------------

    def _decode_loop(self) -> None:
        inbox = self._inbox
        stopping = self._stop_decoding
        batch_size = self.settings.batch_size
        interval = self.settings.batch_interval_s
        idle = self._idle_flush_s
        batch: _Batch | None = None
        deadline = math.inf
        empty_since: float | None = None
        while True:
            if stopping.is_set():
                # Decode what has arrived, hand it over, and leave the rest to redelivery.
                for _ in range(len(inbox)):
                    inbound = inbox.popleft()
                    batch = self._batch_for(batch, inbound)
                    self._decode(batch, inbound)
                if batch is not None:
                    self._hand_over(batch)
                self._hand_over(_STOP)
                return
            if inbox:
                empty_since = None
                inbound = inbox.popleft()
                opened = self._batch_for(batch, inbound)
                if opened is not batch:
                    batch = opened
                    deadline = time.monotonic() + interval
                self._decode(batch, inbound)
                if (
                    len(batch.readings) >= batch_size
                    or batch.received >= batch_size
                    or time.monotonic() >= deadline
                ):
                    self._hand_over(batch)
                    batch = None
                continue
            now = time.monotonic()
            if batch is not None:
                if empty_since is None:
                    empty_since = now
                if now < deadline and now - empty_since < idle:
                    time.sleep(
                        _POLL_S
                    )  # a stream is flowing: poll rather than be woken per message
                    continue
                self._hand_over(batch)
                batch = None
            self._decoder_idle = True
            if not inbox:
                self._wakeup.wait(1.0)
            self._wakeup.clear()
            self._decoder_idle = False

    def _batch_for(self, batch: _Batch | None, inbound: _Inbound) -> _Batch:
        """The batch a message joins: the open one, or a new one when there is none or the
        message came on another connection (acknowledgements belong to their connection; the
        old batch is handed over)."""
        if batch is not None and batch.generation == inbound[5]:
            return batch
        if batch is not None:
            self._hand_over(batch)
        return _Batch(inbound[5])

    def _decode(self, batch: _Batch, inbound: _Inbound) -> None:
        raw_topic, payload, mid, qos, received_us, _, dup = inbound
        journal = self._journal
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
        if topic == self._dead_letter_topic:
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
        batch.messages.append((topic, payload, received))
        batch.readings.extend(readings)
        batch.origins.extend([index] * len(readings))

    def _reject(
        self,
        batch: _Batch,
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
            collector=self.mqtt_settings.client_id,
        )
        batch.dead_letters.append(self.client.publish(self._dead_letter_topic, record, qos=1))

    def _hand_over(self, item: object) -> None:
        """Pass a batch (or the stop mark) to the writer, waiting while it is busy."""
        while not self._abort.is_set():
            try:
                self._batches.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    # -- writer thread -----------------------------------------------------------------------

    def _write_loop(self) -> None:
        spool = self._spool
        assert spool is not None
        while True:
            timeout = 1.0
            if len(spool):
                timeout = max(0.0, min(timeout, self._next_drain - time.monotonic()))
            try:
                item = self._batches.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _STOP:
                self._drain_once(final=True)
                return
            if item is not None:
                self._handle_batch(item)
            if len(spool) and time.monotonic() >= self._next_drain:
                self._drain_once()

    def _handle_batch(self, batch: _Batch) -> None:
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
        acked = self._acknowledge(batch)
        self.stats.add(
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
        self._publish_stats()

    def _store_batch(self, batch: _Batch) -> dict[str, int]:
        spool = self._spool
        assert spool is not None
        readings = batch.readings
        if not readings:
            return {}
        if batch.stamps:
            # Durable before any reading can reach the store: a redelivery after a crash from
            # here on finds the stamps its readings were stored with.
            spool.stamps.commit(batch.stamps)
            batch.stamps = []
        if len(spool):  # older readings wait in the spool: queue behind them to keep the order
            spool.append(readings)
            self.stats.set_spool_pending(len(spool))
            return {"spooled": len(readings)}

        def origin(index: int) -> tuple[str, bytes, datetime]:
            return batch.messages[batch.origins[index]]

        result = self._write_all(readings, origin, batch.dead_letters)
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

    def _acknowledge(self, batch: _Batch) -> int:
        """Acknowledge a batch's messages if the connection that delivered them is still up."""
        if batch.generation != self._generation:
            return 0
        deadline = time.monotonic() + DEAD_LETTER_CONFIRM_S
        for info in batch.dead_letters:
            if not _confirmed(info, deadline):
                logger.warning(
                    "dead-letter record not confirmed by the broker; leaving the batch "
                    "unacknowledged for redelivery"
                )
                return 0
        client = self.client
        with self._ack_lock:
            if batch.generation != self._generation:
                return 0
            if isinstance(client, FastClient):
                client.ack_all(batch.acks)
            else:
                for mid in batch.acks:
                    client.ack(mid, 1)
        return len(batch.acks)

    def _write_all(
        self,
        readings: Sequence[Reading],
        origin: Callable[[int], tuple[str, bytes, datetime]] | None,
        dead_letters: list[mqtt.MQTTMessageInfo],
    ) -> _WriteResult:
        """Write readings, isolating and dead-lettering any the store refuses.

        Ranges are written left to right; a refused range is split (or, when the store names the
        bad point, that point is cut out) until each bad reading stands alone. On the first
        `StoreUnavailable` the writing stops: every reading from that index on is unwritten.
        """
        result = _WriteResult(unavailable_from=len(readings))
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
        origin: Callable[[int], tuple[str, bytes, datetime]] | None,
        dead_letters: list[mqtt.MQTTMessageInfo],
    ) -> None:
        topic: str | None = None
        payload: bytes | None = None
        received_at: datetime | None = None
        if origin is not None:
            topic, payload, received_at = origin(index)
        text = f"store refused the reading: {exc}"
        self._rejections.rejected("store_rejected", text, topic)
        record = dead_letter_record(
            reason="store_rejected",
            message=text,
            topic=topic,
            payload=payload,
            received_at=received_at,
            collector=self.mqtt_settings.client_id,
            reading=reading,
        )
        dead_letters.append(self.client.publish(self._dead_letter_topic, record, qos=1))

    def _schedule_drain(self, *, failed: bool) -> None:
        if failed:
            self._next_drain = time.monotonic() + self._drain_delay
            self._drain_delay = min(self._drain_delay * 2, self._retry_max_s)
        else:
            self._drain_delay = self._retry_min_s
            self._next_drain = 0.0

    def _drain_once(self, *, final: bool = False) -> None:
        """Move the oldest spooled readings (up to a batch) to the store, if it takes them."""
        spool = self._spool
        assert spool is not None
        if not len(spool) or (final and time.monotonic() < self._next_drain):
            return
        # Several batches per write, so the spool catches up while new batches still arrive.
        chunk = spool.peek(self.settings.batch_size * _DRAIN_BATCHES)
        dead_letters: list[mqtt.MQTTMessageInfo] = []
        result = self._write_all(chunk.readings, None, dead_letters)
        if result.unavailable_from < len(chunk.readings):
            self._schedule_drain(failed=True)
            self.stats.add(store_errors=result.errors)
            return
        deadline = time.monotonic() + DEAD_LETTER_CONFIRM_S
        if not all(_confirmed(info, deadline) for info in dead_letters):
            logger.warning("dead-letter records of spooled readings unconfirmed; will retry")
            self._schedule_drain(failed=True)
            return
        spool.remove(chunk)
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

    def _publish_stats(self) -> None:
        if self._on_stats is None:
            return
        try:
            self._on_stats(self.stats.snapshot())
        except Exception:
            logger.exception("on_stats callback failed")


class _WriteResult:
    __slots__ = ("errors", "rejected", "stored", "unavailable_from")

    def __init__(self, unavailable_from: int) -> None:
        self.unavailable_from = unavailable_from
        self.stored = 0
        self.rejected = 0
        self.errors = 0


def filter_covers(wide: str, narrow: str) -> bool:
    """Whether every topic MQTT filter ``narrow`` matches is also matched by filter ``wide``."""
    if narrow.startswith("$") and wide[:1] in ("+", "#"):
        return False
    wide_levels = wide.split("/")
    narrow_levels = narrow.split("/")
    for index, level in enumerate(wide_levels):
        if level == "#":
            return True
        if index >= len(narrow_levels) or narrow_levels[index] == "#":
            return False
        if level != "+" and level != narrow_levels[index]:
            return False
    return len(wide_levels) == len(narrow_levels)


def covering_filters(filters: Sequence[str]) -> list[str]:
    """The filters to subscribe to: those not covered by another (first of equal ones kept).

    Routes may overlap (``repoclimate/+/lines`` for line protocol before ``repoclimate/#``);
    subscribing to both would make brokers deliver such messages twice.
    """
    kept: list[str] = []
    for index, candidate in enumerate(filters):
        covered = any(
            filter_covers(other, candidate) and (not filter_covers(candidate, other) or j < index)
            for j, other in enumerate(filters)
            if j != index
        )
        if not covered:
            kept.append(candidate)
    return kept


def _topic_bytes(topic: bytes | str) -> bytes:
    """A topic as the broker sent it (paho's own path hands it over decoded)."""
    return topic if isinstance(topic, bytes) else topic.encode()


def _receive_stamped(readings: Sequence[Reading], received: datetime) -> bool:
    """Whether any reading took the receive time (its payload had no time of its own)."""
    for reading in readings:  # noqa: SIM110 - a plain loop is 4x faster than any() here
        if reading.time == received:
            return True
    return False


def _named_index(exc: Exception, low: int, high: int) -> int | None:
    """The absolute index of the reading a store named as the bad one, when it did."""
    if isinstance(exc, InvalidPoint) and exc.index is not None and 0 <= exc.index < high - low:
        return low + exc.index
    return None


def _confirmed(info: mqtt.MQTTMessageInfo, deadline: float) -> bool:
    """Whether the broker acknowledged a QoS 1 publish before ``deadline`` (monotonic)."""
    if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
        return False
    try:
        info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        return info.is_published()
    except (RuntimeError, ValueError):
        return False
