"""The MQTT collector: subscribe, decode, validate, calibrate, batch, store, acknowledge.

Three threads share the work, each stage in its own module:

- paho's network thread receives messages and only queues them with their receive time
  (`repoclimate.ingest.session`, which also holds the client, its callbacks and a watchdog that
  replaces a client whose network loop died or stalled);
- the *decoder* runs `Pipeline.process` on each, publishes rejected messages to the dead-letter
  topic and cuts batches by size, by age, or when the stream pauses
  (`repoclimate.ingest.batching`);
- the *writer* stores each batch (or spools it when the store is unavailable, or when the spool
  already holds older readings, so order is kept), drains the spool with backoff, dead-letters
  readings the store refuses, and only then acknowledges the batch's messages
  (`repoclimate.ingest.writer`).

No loss: the client uses QoS 1, a persistent session and ``manual_ack``. A message is
acknowledged after its readings are in the store or fsynced in the spool, and after its
dead-letter record (if any) is settled: confirmed by the broker, or — refused, or not confirmed
in time — kept in the local dead-letter file (`ingest.deadletter_sink`, which publishes over a
connection of its own, so a broker refusing a record never breaks the subscription).
Acknowledgements belong to the connection that delivered the message: after a reconnect the
broker redelivers what was not acknowledged, the readings are written again, and idempotent
writes (same sensor and time, same point) make that harmless. A payload without a time of its
own is stamped on receipt; so that its redelivered copy lands on the same point rather than a
second one at a later receive time, the decoder notes every such stamp in the receive-stamp
journal (`ingest.stamps`), the writer commits a batch's entries to the spool file before the
batch goes to the store, and a message arriving with the DUP flag is decoded with the stamp its
first delivery got.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

from repoclimate.history.store import Store
from repoclimate.ingest.batching import BatchDecoder, Inbox
from repoclimate.ingest.deadletter import RejectionLog
from repoclimate.ingest.deadletter_sink import DeadLetterSink, LocalDeadLetters
from repoclimate.ingest.paho_client import WatchedClient, fast_path_supported
from repoclimate.ingest.pipeline import Pipeline
from repoclimate.ingest.session import Session, receive_maximum
from repoclimate.ingest.settings import CollectorSettings, MqttSettings
from repoclimate.ingest.spool import Spool, spool_path
from repoclimate.ingest.stats import CollectorStats, StatsSnapshot
from repoclimate.ingest.writer import BatchWriter

__all__ = ["Collector", "CollectorHealth", "receive_maximum"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CollectorHealth:
    """Named checks of a running collector (what a readiness probe reports).

    ``running``: started and not stopped; ``mqtt_connected``; ``network_loop``: paho's network
    thread is alive in its loop; ``receive_loop``: it read from the socket recently (not
    stalled); ``decoder`` and ``writer``: their threads are alive; ``acknowledging``: no
    received message has waited longer than ``collector.stuck_after_s`` to be stored and
    acknowledged (a hung store or spool fills the receive window and the stream stops while
    the connection is up); ``stamp_journal``: the receive-stamp journal commits (failing: the
    spool disk is full or broken, readings are still stored, without it).
    """

    checks: Mapping[str, bool]

    @property
    def failing(self) -> list[str]:
        """Names of the checks that fail, in order."""
        return [name for name, ok in self.checks.items() if not ok]

    @property
    def ok(self) -> bool:
        return not self.failing


class Collector:
    """The MQTT collector; see the module docstring for how it avoids losing readings.

    ``start()`` connects and starts the worker threads; ``stop(timeout)`` flushes what was
    received, acknowledges it and disconnects (keeping the persistent session); ``run()`` does
    both around a wait for SIGTERM / SIGINT or `request_stop()`. ``stats.snapshot()`` gives the
    counters, ``health()`` the named checks; ``on_stats`` (if given) is called with a snapshot
    after every batch, from the writer thread. ``idle_flush_s``: a batch is also cut when no
    message arrived for this long, which keeps brokers with a small in-flight window (MQTT 3.1.1)
    moving. ``watchdog_interval_s`` and ``stall_after_s`` tune the network watchdog (see
    `repoclimate.ingest.session`).
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
        watchdog_interval_s: float = 1.0,
        stall_after_s: float | None = None,
    ) -> None:
        self.mqtt_settings = mqtt
        self.settings = collector
        self.store = store
        self.pipeline = pipeline
        self.stats = CollectorStats()
        rejections = RejectionLog(logger)
        self.inbox = Inbox()
        self.session = Session(
            mqtt,
            self.inbox,
            self.stats,
            batch_size=collector.batch_size,
            fast_path=collector.fast_path,
            reconnect_delay_s=reconnect_delay_s,
            watchdog_interval_s=watchdog_interval_s,
            stall_after_s=stall_after_s,
        )
        self.dead_letters = DeadLetterSink(
            mqtt,
            LocalDeadLetters(
                spool_path(collector.spool_dir, mqtt.client_id).with_suffix(".deadletters.jsonl")
            ),
            reconnect_delay_s=reconnect_delay_s,
        )
        """Where dead-letter records go: their own broker connection, else the local file."""
        self.decoder = BatchDecoder(
            pipeline,
            batch_size=collector.batch_size,
            batch_interval_s=collector.batch_interval_s,
            idle_flush_s=idle_flush_s,
            dead_letter_topic=mqtt.dead_letter_topic,
            collector_id=mqtt.client_id,
            publish=self.dead_letters.publish,
            rejections=rejections,
        )
        self._abort = threading.Event()
        self.writer = BatchWriter(
            store,
            self.session,
            self.stats,
            batch_size=collector.batch_size,
            dead_letters=self.dead_letters,
            collector_id=mqtt.client_id,
            rejections=rejections,
            retry_delay_s=retry_delay_s,
            abort=self._abort,
            on_stats=on_stats,
        )
        self._stop_decoding = threading.Event()
        self._started = False
        self._stopped = False
        self._stop_requested = threading.Event()
        self._spool: Spool | None = None
        self._threads: list[threading.Thread] = []
        self._stuck = False
        self.session.on_watch = self._check_progress

    @property
    def client(self) -> WatchedClient:
        """The paho client in use now (the watchdog may replace it)."""
        return self.session.client

    @property
    def connected(self) -> bool:
        """Whether the collector holds a connection to the broker right now."""
        return self.session.connected

    def health(self) -> CollectorHealth:
        """Named checks: see `CollectorHealth`."""
        session = self.session.health()
        threads = {thread.name: thread.is_alive() for thread in self._threads}
        return CollectorHealth(
            {
                "running": self._started and not self._stopped,
                "mqtt_connected": session.connected,
                "network_loop": session.network_loop,
                "receive_loop": session.receiving,
                "decoder": threads.get("collector-decoder", False),
                "writer": threads.get("collector-writer", False),
                "acknowledging": self._unsettled_for() <= self.settings.stuck_after_s,
                "stamp_journal": self._spool is None or not self._spool.stamps.degraded,
            }
        )

    def _unsettled_for(self) -> float:
        """How long [s] the oldest batch handed to the writer has waited to be stored and
        acknowledged (0 when none waits)."""
        since = self.writer.pending_since()
        return 0.0 if since is None else time.monotonic() - since

    def _check_progress(self) -> None:
        """Flag and log a collector that stopped acknowledging (from the watchdog thread)."""
        waited = self._unsettled_for()
        stuck = waited > self.settings.stuck_after_s
        if stuck == self._stuck:
            return
        self._stuck = stuck
        self.stats.set_flag("stuck", stuck)
        if stuck:
            logger.error(
                "collector stuck: messages received %.0f s ago are still unacknowledged while "
                "the broker holds back the rest (is the store or the spool disk not answering?)",
                waited,
            )
        else:
            logger.warning("collector acknowledging again")

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Open the spool, start the worker threads and connect (retrying in the background)."""
        if self._started:
            raise RuntimeError("a collector can be started only once")
        self._started = True
        mqtt, settings = self.mqtt_settings, self.settings
        self._spool = Spool(
            spool_path(settings.spool_dir, mqtt.client_id),
            stamp_journal_s=settings.stamp_journal_s,
        )
        self.writer.spool = self._spool
        self.decoder.journal = self._spool.stamps if self._spool.stamps.enabled else None
        self.stats.set_spool_pending(len(self._spool))
        logger.info(
            "collector %r starting: broker %s (MQTT %s), topics %s, spool %s, receive path %s",
            mqtt.client_id,
            mqtt.url,
            mqtt.protocol,
            ", ".join(self.session.subscriptions()),
            self._spool.path,
            _receive_path(settings.fast_path, self.client),
        )
        if len(self._spool):
            logger.info("spool holds %d readings from before; draining first", len(self._spool))
        if mqtt.protocol == "5" and mqtt.session_expiry_s == 0:
            logger.warning("session_expiry_s is 0: messages published while down will be lost")
        self._threads = [
            threading.Thread(
                target=self.decoder.run,
                args=(self.inbox, self.writer.hand_over, self._stop_decoding),
                name="collector-decoder",
                daemon=True,
            ),
            threading.Thread(target=self.writer.run, name="collector-writer", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self.session.start()

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
        self.inbox.wakeup.set()
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads):
            logger.error("collector threads did not finish within %.1f s; stopping anyway", timeout)
            self._abort.set()
        self.session.stop()
        self.dead_letters.close()
        for thread in self._threads:
            thread.join(1.0)
        if self._spool is not None:
            self._spool.close()
        self.writer.publish_stats()
        _log_summary(self.stats.snapshot())

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


def _receive_path(wanted: bool, client: WatchedClient) -> str:
    if client.fast_active:
        return "fast"
    if not wanted:
        return "paho (collector.fast_path is off)"
    if not fast_path_supported():
        return "paho (the fast path is not verified for this paho version)"
    return "paho"


def _log_summary(stats: StatsSnapshot) -> None:
    logger.info(
        "collector stopped: %d messages received, %d acknowledged, %d rejected, %d ignored; "
        "%d readings stored, %d spooled (%d still in the spool), %d refused by the store, "
        "%d dead-lettered (%d kept locally, %d lost); %d connections, %d failed connection "
        "attempts, %d session takeovers, %d network restarts, %d fast-path fallbacks",
        stats.received,
        stats.acked,
        stats.rejected_total,
        stats.ignored,
        stats.stored,
        stats.spooled,
        stats.spool_pending,
        stats.store_rejected,
        stats.dead_lettered,
        stats.dead_letters_local,
        stats.dead_letters_lost,
        stats.connections,
        stats.connect_failures,
        stats.session_takeovers,
        stats.network_thread_restarts,
        stats.fast_path_fallbacks,
    )
