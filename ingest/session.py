"""The collector's MQTT session: the client, its callbacks, acknowledgements and a watchdog.

`Session` owns the paho client (`FastClient` when the fast path is on and verified for the
installed paho, else the plain `WatchedClient`), subscribes on every connection, queues each
received message with its receive stamp in the `Inbox`, numbers connections (a batch's
acknowledgements are sent only on the connection that delivered it) and logs what a person
running the collector needs: each failed connection attempt with its reason and the next retry
delay (rate-limited), the connection established and lost.

A session taken over (MQTT 5 DISCONNECT reason 0x8E: another client connected with the same
client id — typically a copied configuration on a second host) is said plainly, counted
(``session_takeovers``) and followed by a growing pause (`TAKEOVER_BACKOFF_S`) before this
collector reconnects, instead of taking the session straight back: two collectors fighting for
one session make the broker move it a dozen times a minute and redeliver every unacknowledged
message each time. Mosquitto 2.0 sends no reason (it closes the old connection, with MQTT 3.1.1
and 5 alike), so a connection the broker closes within `FLAP_S` of accepting it without saying
why counts as a takeover too.

The watchdog thread checks every ``watchdog_interval_s`` that paho's network loop still runs in
a live thread and, while connected, that it read from the socket within ``stall_after_s`` (the
broker answers a PINGREQ at least every keep-alive interval). If not, it replaces the client with
a new one on the same persistent session: the broker redelivers what was not acknowledged.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from repoclimate.ingest.batching import Inbound, Inbox
from repoclimate.ingest.paho_client import FastClient, WatchedClient, make_client
from repoclimate.ingest.settings import MqttSettings
from repoclimate.ingest.stats import CollectorStats
from repoclimate.sensors.topics import covering_filters

logger = logging.getLogger(__name__)

CONNECT_LOG_INTERVAL_S = 60.0
"""At most one WARNING per this many seconds about failed connection attempts (the rest DEBUG)."""

SESSION_TAKEN_OVER = 0x8E
"""MQTT 5 reason code: another connection with the same client id took over the session."""

TAKEOVER_BACKOFF_S = (5, 300)
"""Pause before reconnecting after the n-th takeover: the first value, doubling to the second."""

FLAP_S = 10.0
"""A connection the broker closes this soon after accepting it, without a DISCONNECT saying why,
counts as a takeover too: Mosquitto 2.0 just closes the old connection when another client
connects with the same client id, as it does when it shuts down; only a takeover makes that
happen seconds after connecting."""

TAKEOVER_FORGET_S = 600.0
"""A takeover this long after the previous one starts the pauses from the first value again."""


def receive_maximum(batch_size: int) -> int:
    """MQTT 5 CONNECT ReceiveMaximum: how many unacknowledged messages the broker may send.

    Batching holds acknowledgements back until a batch is stored, so a small window (Mosquitto
    gives clients that do not ask its ``max_inflight_messages``, 20 by default) would stall every
    batch until its timer fires. Eight batches cover the decoder's batch, the two queued for the
    writer, the one being written and the inbox filling behind them; the window also bounds how
    many messages the collector holds in memory.
    """
    return max(1000, min(65535, 8 * batch_size))


@dataclass(frozen=True, slots=True)
class SessionHealth:
    """What the watchdog last saw of the network loop."""

    connected: bool
    network_loop: bool
    """paho's network loop runs in a live thread."""
    receiving: bool
    """Not stalled: the loop read from the socket recently enough (true while disconnected)."""


class Session:
    """The MQTT side of the collector (see the module docstring)."""

    def __init__(
        self,
        settings: MqttSettings,
        inbox: Inbox,
        stats: CollectorStats,
        *,
        batch_size: int,
        fast_path: bool,
        reconnect_delay_s: tuple[int, int],
        watchdog_interval_s: float = 1.0,
        stall_after_s: float | None = None,
    ) -> None:
        self.settings = settings
        self.inbox = inbox
        self.stats = stats
        self.batch_size = batch_size
        self.fast_path = fast_path
        self.generation = 0
        """Connection number: changes on every connect and disconnect."""
        self._connected = False
        self._reconnect_delay_s = reconnect_delay_s
        self._watchdog_interval_s = watchdog_interval_s
        self._stall_after_s = (
            2.0 * settings.keepalive_s + 5.0 if stall_after_s is None else stall_after_s
        )
        self._ack_lock = threading.Lock()
        self._client_lock = threading.Lock()
        self._last_stamp = 0
        self._stopping = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._failures = 0
        self._failures_unreported = 0
        self._last_failure_log = -float("inf")
        self._takeovers = 0
        self._last_takeover = -float("inf")
        self._connected_at = -float("inf")
        self.on_watch: Callable[[], None] | None = None
        """Called from the watchdog thread at every check (the collector's progress check)."""
        self.client: WatchedClient = self._make_client()

    @property
    def connected(self) -> bool:
        """Connected now: the broker accepted the connection and the network loop still runs."""
        return self._connected and self.client.loop_alive

    @property
    def _v5(self) -> bool:
        return self.settings.protocol == "5"

    def _make_client(self) -> WatchedClient:
        settings = self.settings
        client = make_client(
            self.fast_path,
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
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        if isinstance(client, FastClient):
            client.message_sink = self._on_publish
            client.on_fallback = self._on_fallback
        self.stats.set_flag("fast_path", client.fast_active)
        return client

    def subscriptions(self) -> list[str]:
        """The topic filters subscribed to (shared when ``shared_group`` is set)."""
        group = self.settings.shared_group
        filters = covering_filters([route.filter for route in self.settings.topics])
        return [f"$share/{group}/{f}" for f in filters] if group else filters

    # -- connecting ----------------------------------------------------------------------------

    def start(self) -> None:
        """Connect (retrying in the background) and start the watchdog."""
        self._connect(self.client)
        self._watchdog = threading.Thread(
            target=self._watch, name="collector-watchdog", daemon=True
        )
        self._watchdog.start()

    def _connect(self, client: WatchedClient) -> None:
        settings = self.settings
        properties = None
        if self._v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = settings.session_expiry_s
            properties.ReceiveMaximum = receive_maximum(self.batch_size)
        client.connect_async(
            settings.host,
            settings.port,
            keepalive=settings.keepalive_s,
            clean_start=False,
            properties=properties,
        )
        client.loop_start()

    def stop(self) -> None:
        """Stop the watchdog and disconnect (the persistent session stays on the broker)."""
        self._stopping.set()
        if self._watchdog is not None:
            self._watchdog.join(5.0)
        with self._client_lock:
            client = self.client
        client.disconnect()
        if client.loop_alive:
            client.loop_stop()
        self._set_connected(False)

    def _set_connected(self, connected: bool) -> None:
        with self._ack_lock:
            self.generation += 1
            self._connected = connected
        self.stats.set_connected(connected)

    def _current(self, client: mqtt.Client) -> bool:
        """Whether a callback comes from the client in use (not one the watchdog replaced)."""
        return client is self.client

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if not self._current(client):
            return
        if reason_code.is_failure:
            self._connect_failed(f"the broker refused the connection: {reason_code}")
            return
        self._set_connected(True)
        self._connected_at = time.monotonic()
        if self._takeovers:
            client.reconnect_delay_set(*self._reconnect_delay_s)  # undo the takeover pause
        failures, self._failures = self._failures, 0
        self._failures_unreported = 0
        self._last_failure_log = -float("inf")
        logger.info(
            "connected to %s as %r (session present: %s%s)",
            self.settings.url,
            self.settings.client_id,
            flags.session_present,
            f"; after {failures} failed attempts" if failures else "",
        )
        if self._v5:
            # Subscribing again on a resumed session keeps its queued messages and picks up
            # filters added to the configuration; retained messages only come for new filters.
            options = SubscribeOptions(
                qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB
            )
            client.subscribe([(f, options) for f in self.subscriptions()])
        elif not flags.session_present:
            client.subscribe([(f, 1) for f in self.subscriptions()])

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        if not self._current(client):
            return
        # paho calls this from inside its `except OSError:` around the connection attempt.
        error = sys.exc_info()[1]
        self._connect_failed(f"{type(error).__name__}: {error}" if error else "connection failed")

    def _connect_failed(self, reason: str) -> None:
        """Count and log (rate-limited) a failed attempt with the delay before the next one."""
        self._failures += 1
        self.stats.add(connect_failures=1)
        low, high = self._reconnect_delay_s
        delay = min(high, low * 2 ** min(self._failures - 1, 30))
        now = time.monotonic()
        if now - self._last_failure_log >= CONNECT_LOG_INTERVAL_S:
            more = self._failures_unreported
            logger.warning(
                "cannot connect to %s: %s; retrying in %d s%s",
                self.settings.url,
                reason,
                delay,
                f" ({more} more failed attempts since the last report)" if more else "",
            )
            self._last_failure_log = now
            self._failures_unreported = 0
        else:
            self._failures_unreported += 1
            logger.debug(
                "cannot connect to %s: %s; retrying in %d s", self.settings.url, reason, delay
            )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if not self._current(client):
            return
        was_connected = self._connected
        self._set_connected(False)
        if self._stopping.is_set():
            return
        lived = time.monotonic() - self._connected_at
        if reason_code.value == SESSION_TAKEN_OVER:
            self._taken_over(client, certain=True, lived=lived)
        elif was_connected and not flags.is_disconnect_packet_from_server and lived < FLAP_S:
            self._taken_over(client, certain=False, lived=lived)
        elif was_connected:
            logger.warning("lost the broker %s: %s", self.settings.url, reason_code)

    def _taken_over(self, client: mqtt.Client, *, certain: bool, lived: float) -> None:
        """Another client took this session (``certain``: the broker said so), or the broker
        closed a connection it had just accepted without a word, as Mosquitto does on a
        takeover: say so, and pause longer each time."""
        now = time.monotonic()
        if now - self._last_takeover > TAKEOVER_FORGET_S:
            self._takeovers = 0
        self._last_takeover = now
        self._takeovers += 1
        low, high = TAKEOVER_BACKOFF_S
        pause = min(high, low * 2 ** min(self._takeovers - 1, 30))
        # paho waits min_delay before its next attempt (the delay restarts from it when set).
        client.reconnect_delay_set(
            min_delay=pause, max_delay=max(pause, self._reconnect_delay_s[1])
        )
        self.stats.add(session_takeovers=1)
        if certain:
            logger.error(
                "another collector uses client id %r: broker %s handed this collector's session "
                "to it (session taken over, 0x8E); taking it back in %d s (pause %d). Give "
                "every collector its own mqtt.client_id, or share the load with "
                "mqtt.shared_group",
                self.settings.client_id,
                self.settings.url,
                pause,
                self._takeovers,
            )
        else:
            logger.error(
                "broker %s closed the connection %.1f s after accepting it, without a reason: "
                "probably another collector uses client id %r (a copied configuration?) and "
                "took the session; reconnecting in %d s (pause %d). Give every collector its "
                "own mqtt.client_id, or share the load with mqtt.shared_group",
                self.settings.url,
                lived,
                self.settings.client_id,
                pause,
                self._takeovers,
            )

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        for topic, code in zip(self.subscriptions(), reason_codes, strict=False):
            if code.is_failure:
                logger.error("broker refused the subscription to %r: %s", topic, code)

    def _on_fallback(self, hook: str, exc: Exception) -> None:
        logger.error(
            "paho's fast receive path failed in %s (%s: %s); continuing on paho's own path",
            hook,
            type(exc).__name__,
            exc,
            exc_info=exc,
        )
        self.stats.add(fast_path_fallbacks=1)
        self.stats.set_flag("fast_path", False)

    # -- receiving -----------------------------------------------------------------------------

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
        self.inbox.put(Inbound(topic, payload, mid, qos, self._stamp(), self.generation, dup))

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        """paho's own path (MQTT 5 properties, the fast path off, or an unverified paho)."""
        try:
            topic: bytes | str = message.topic
        except UnicodeDecodeError:
            topic = b"\xff"  # not UTF-8: refused as bad_topic by the decoder
        self._on_publish(topic, bytes(message.payload), message.mid, message.qos, bool(message.dup))

    # -- sending -------------------------------------------------------------------------------

    def acknowledge(self, generation: int, mids: Sequence[int]) -> bool:
        """Acknowledge ``mids`` if connection ``generation`` is still the current one."""
        with self._ack_lock:
            if generation != self.generation:
                return False
            self.client.ack_all(mids)
        return True

    # -- watchdog ------------------------------------------------------------------------------

    def health(self) -> SessionHealth:
        """The network loop's state now."""
        client = self.client
        stalled = self._connected and time.monotonic() - client.last_read > self._stall_after_s
        return SessionHealth(
            connected=self.connected, network_loop=client.loop_alive, receiving=not stalled
        )

    def _watch(self) -> None:
        while not self._stopping.wait(self._watchdog_interval_s):
            if self.on_watch is not None:
                self.on_watch()
            client = self.client
            if client.network_thread is None and not client.loop_running:
                continue  # loop_start's thread has not entered the loop yet
            health = self.health()
            self.stats.set_flag("stalled", not health.receiving)
            if not health.network_loop:
                error = client.loop_error
                logger.error(
                    "the MQTT network thread has stopped%s; reconnecting with a new client",
                    f" ({type(error).__name__}: {error})" if error else "",
                    exc_info=error,
                )
                self._replace(client, stalled=False)
            elif not health.receiving:
                logger.error(
                    "the MQTT receive loop read nothing for %.0f s while connected; "
                    "reconnecting with a new client",
                    time.monotonic() - client.last_read,
                )
                self._replace(client, stalled=True)

    def _replace(self, old: WatchedClient, *, stalled: bool) -> None:
        """Drop ``old`` (its unacknowledged messages will be redelivered) and connect anew."""
        with self._client_lock:
            if self._stopping.is_set():
                return
            new = self._make_client()
            self.client = new  # callbacks of the old client are ignored from here on
        self._set_connected(False)
        old.on_connect = old.on_disconnect = old.on_message = None
        if isinstance(old, FastClient):
            old.message_sink = None
        sock = old.socket()
        if isinstance(sock, socket.socket):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError as exc:
                logger.debug("closing the old client's socket: %s", exc)
        old.disconnect()
        if not old.loop_alive:
            old.loop_stop()
        self.stats.add(network_thread_restarts=1, stalls=int(stalled))
        self.stats.set_flag("stalled", False)
        self._connect(new)
