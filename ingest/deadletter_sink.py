"""Where dead-letter records go: the broker, over a connection of their own, else a local file.

A rejected message is settled only when its dead-letter record is somewhere durable; until then
its acknowledgement waits, and a message left unacknowledged on a live connection is never sent
again (MQTT 3.1.1 and 5, 4.4: a broker redelivers only after a reconnect), so the receive window
would fill and the stream stop. So a record always ends somewhere within a bounded time:

- `DeadLetterSink.publish` sends it QoS 1 to the dead-letter topic, over the sink's own MQTT
  connection (client id ``<collector client id>-deadletter``, clean start, no session). A broker
  that refuses a record — PUBACK ≥ 0x80 (0x87 not authorised, 0x95 packet too large, 0x97 quota)
  or, as Mosquitto does, by dropping the connection — breaks only that connection, never the
  collector's subscription, and the record is not sent again: a broken connection is stopped
  and the next record opens a fresh one. Records published before the broker's CONNACK wait
  in the sink and go out from paho's ``on_connect``: paho sets its socket before it queues
  CONNECT, so a PUBLISH from another thread in between went out first and the broker dropped
  the connection. MQTT 3.1.1 cannot refuse a PUBLISH (a broker
  acknowledges it and drops it, Mosquitto then drops the connection): there a record whose
  connection breaks within `DOUBT_S` of its PUBACK counts as not taken.
- `DeadLetterSink.settle` waits (at most ``timeout``) for the broker's answer to a batch's
  records; every record the broker refused or did not confirm in time is appended to the local
  file (`LocalDeadLetters`: JSON lines, fsynced, under the spool directory), and counted and
  logged. After `settle` the collector acknowledges the originals, whatever the broker did.
- If even the local file cannot take a record (the disk is full), it is logged at ERROR with its
  reason, topic, length and digest (``lost`` in the counts): a rejected message carries no
  reading, and holding it back would stop every reading behind it.

With MQTT 5 each record carries the user property ``repoclimate-dead-letter: 1`` and the content
type ``application/json``; every record also starts with its marker key
(`ingest.deadletter.is_dead_letter`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from repoclimate.ingest.settings import MqttSettings

logger = logging.getLogger(__name__)

LOCAL_MAX_BYTES = 64 * 1024 * 1024
"""When the local dead-letter file passes this size it is renamed ``….1`` (replacing the older
one) and a new file is started."""

DOUBT_S = 0.25
"""MQTT 3.1.1: a connection that drops this soon after a record's PUBACK makes it not taken."""

USER_PROPERTY = ("repoclimate-dead-letter", "1")
"""The MQTT 5 user property every dead-letter record carries."""


class LocalDeadLetters:
    """Dead-letter records the broker did not take, as JSON lines in one file (fsynced).

    One record per line, exactly the JSON that was meant for the broker; read them with
    ``jq . FILE`` or any JSON-lines reader. Thread-safe.
    """

    def __init__(self, path: Path, *, max_bytes: int = LOCAL_MAX_BYTES) -> None:
        self.path = path
        self._max_bytes = max_bytes
        self._lock = threading.Lock()

    def keep(self, records: Sequence[bytes]) -> None:
        """Append records, one a line; durable (fsynced) on return. Raises `OSError`."""
        if not records:
            return
        body = b"".join(record.replace(b"\n", b"\\n") + b"\n" for record in records)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                size = self.path.stat().st_size
            except FileNotFoundError:
                size = 0
            if size and size + len(body) > self._max_bytes:
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
            try:
                view = memoryview(body)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)

    def records(self) -> list[dict[str, object]]:
        """Every record in the file (oldest first); for tests and tools."""
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]


@dataclass(frozen=True, slots=True)
class Settlement:
    """What became of dead-letter records: ``confirmed`` by the broker, ``refused`` by it
    (PUBACK ≥ 0x80), ``unconfirmed`` (no answer in time, the connection dropped, or paho could
    not send it), ``kept_locally`` (of the refused and unconfirmed ones, in the local file),
    ``lost`` (neither: only logged)."""

    confirmed: int = 0
    refused: int = 0
    unconfirmed: int = 0
    kept_locally: int = 0
    lost: int = 0

    def __add__(self, other: Settlement) -> Settlement:
        return Settlement(
            self.confirmed + other.confirmed,
            self.refused + other.refused,
            self.unconfirmed + other.unconfirmed,
            self.kept_locally + other.kept_locally,
            self.lost + other.lost,
        )


class _Connection:
    """One paho client of the sink, until it breaks: PUBACK outcomes by packet id."""

    def __init__(self, client: mqtt.Client) -> None:
        self.client = client
        self.outcomes: dict[int, ReasonCode] = {}
        self.abandoned: set[int] = set()
        """Packet ids of records settled without an answer: a late PUBACK is dropped, so it
        cannot settle a later record that reuses the id."""
        self.broken = False
        self.broken_reason = ""
        self.connected = False
        """The broker's CONNACK came: records go to paho from here on."""
        self.held: list[DeadLetter] = []
        """Records published before the CONNACK, handed to paho by ``on_connect``."""


@dataclass(slots=True)
class DeadLetter:
    """One record handed to `DeadLetterSink.publish`, to settle with its batch."""

    record: bytes
    connection: _Connection | None
    mid: int = 0  # HELD until paho has it, ABANDONED if settled before that
    failure: str | None = None  # why paho could not take it at all


HELD = 0
"""`DeadLetter.mid` of a record waiting for its connection's CONNACK."""

ABANDONED = -1
"""`DeadLetter.mid` of a held record that `settle` gave up on: it is not sent any more."""


class DeadLetterSink:
    """Publishes dead-letter records on a connection of their own; keeps refused ones locally.

    Threads: `publish` and `settle` may be called from any thread (the collector's decoder and
    writer both do); paho's network thread of the current connection calls back.
    """

    def __init__(
        self,
        settings: MqttSettings,
        local: LocalDeadLetters,
        *,
        reconnect_delay_s: tuple[int, int] = (1, 30),
        log_interval_s: float = 10.0,
    ) -> None:
        self.settings = settings
        self.topic = settings.dead_letter_topic
        self.local = local
        self._reconnect_delay_s = reconnect_delay_s
        self._cond = threading.Condition()
        self._connection: _Connection | None = None
        self._closed = False
        self._totals = Settlement()
        self._log_interval_s = log_interval_s
        self._last_log = -float("inf")
        self._unlogged = 0
        v5 = settings.protocol == "5"
        self._properties: Properties | None = None
        if v5:
            self._properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            self._properties.UserProperty = [USER_PROPERTY]
            self._properties.ContentType = "application/json"
            self._properties.PayloadFormatIndicator = 1

    @property
    def client_id(self) -> str:
        return f"{self.settings.client_id}-deadletter"

    def totals(self) -> Settlement:
        """Every record settled so far, summed."""
        with self._cond:
            return self._totals

    # -- connection --------------------------------------------------------------------------

    def _new_connection(self) -> _Connection:
        settings = self.settings
        v5 = settings.protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else True,
        )
        connection = _Connection(client)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(*self._reconnect_delay_s)
        if settings.username is not None:
            password = settings.password.get_secret_value() if settings.password else None
            client.username_pw_set(settings.username, password)
        context = settings.ssl_context()
        if context is not None:
            client.tls_set_context(context)

        def on_publish(
            client: mqtt.Client,
            userdata: object,
            mid: int,
            reason_code: ReasonCode,
            properties: Properties | None,
        ) -> None:
            with self._cond:
                if mid in connection.abandoned:
                    connection.abandoned.discard(mid)
                else:
                    connection.outcomes[mid] = reason_code
                self._cond.notify_all()

        def on_connect(
            client: mqtt.Client,
            userdata: object,
            flags: mqtt.ConnectFlags,
            reason_code: ReasonCode,
            properties: Properties | None,
        ) -> None:
            if reason_code.is_failure:
                return  # paho closes the connection: on_disconnect follows
            with self._cond:
                connection.connected = True
                held, connection.held = connection.held, []
            for letter in held:
                with self._cond:
                    if letter.mid == ABANDONED:
                        continue
                mid, failure = self._send(client, letter.record)
                with self._cond:
                    if letter.mid == ABANDONED:
                        connection.abandoned.add(mid)
                    else:
                        letter.mid, letter.failure = mid, failure
                        if failure is not None:
                            letter.connection = None
                    self._cond.notify_all()

        def on_disconnect(
            client: mqtt.Client,
            userdata: object,
            flags: mqtt.DisconnectFlags,
            reason_code: ReasonCode,
            properties: Properties | None,
        ) -> None:
            # Never reconnect this client: paho would send its unconfirmed records again, and
            # a record the broker drops the connection over would do so on every reconnect.
            client.disconnect()
            with self._cond:
                connection.broken = True
                connection.broken_reason = str(reason_code)
                self._cond.notify_all()

        client.on_publish = on_publish
        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        if v5:
            client.connect_async(
                settings.host, settings.port, keepalive=settings.keepalive_s, clean_start=True
            )
        else:  # 3.1.1: clean_session=True above
            client.connect_async(settings.host, settings.port, keepalive=settings.keepalive_s)
        client.loop_start()
        return connection

    def _current(self) -> tuple[_Connection, _Connection | None]:
        """The connection to publish on (a new one when the last broke), and the broken one
        to stop (outside the lock: its network thread may be waiting for it)."""
        with self._cond:
            retired = None
            connection = self._connection
            if connection is not None and connection.broken:
                retired, connection = connection, None
            if connection is None:
                connection = self._connection = self._new_connection()
            return connection, retired

    @staticmethod
    def _stop(connection: _Connection) -> None:
        connection.client.disconnect()
        connection.client.loop_stop()

    def close(self) -> None:
        """Disconnect (records not yet settled stay unsettled)."""
        with self._cond:
            self._closed = True
            connection, self._connection = self._connection, None
        if connection is not None:
            self._stop(connection)

    # -- records -----------------------------------------------------------------------------

    def publish(self, record: bytes) -> DeadLetter:
        """Send one record, QoS 1 (never raises); settle it with `settle`."""
        if self._closed:
            return DeadLetter(record, None, failure="the dead-letter sink is closed")
        connection, retired = self._current()
        if retired is not None:
            self._stop(retired)
        with self._cond:
            if not connection.connected:  # on_connect sends it (see the module's docstring)
                letter = DeadLetter(record, connection, mid=HELD)
                connection.held.append(letter)
                return letter
        mid, failure = self._send(connection.client, record)
        if failure is not None:
            return DeadLetter(record, None, failure=failure)
        return DeadLetter(record, connection, mid=mid)

    def _send(self, client: mqtt.Client, record: bytes) -> tuple[int, str | None]:
        """Hand one record to paho (never under ``self._cond``: paho calls ``on_publish`` with
        its own lock held); (packet id, why paho could not take it)."""
        try:
            info = client.publish(self.topic, record, qos=1, properties=self._properties)
        except (ValueError, RuntimeError, TypeError) as exc:  # e.g. paho's "Payload too large."
            return 0, f"not sent: {exc}"
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            return 0, f"not sent: {mqtt.error_string(info.rc)}"
        return info.mid, None

    def settle(self, letters: Sequence[DeadLetter], timeout: float) -> Settlement:
        """Wait up to ``timeout`` s for the broker's answers; keep every record it refused or
        did not confirm in the local file; return what became of them (also added to
        `totals`). When this returns, every record is confirmed, kept or logged."""
        if not letters:
            return Settlement()
        deadline = time.monotonic() + timeout
        refused = 0
        confirmed: list[DeadLetter] = []
        not_taken: list[tuple[DeadLetter, str]] = []
        with self._cond:
            pending = list(letters)
            while True:
                waiting: list[DeadLetter] = []
                for letter in pending:
                    connection = letter.connection
                    if connection is None:
                        not_taken.append((letter, letter.failure or "not sent"))
                        continue
                    outcome = (
                        None if letter.mid == HELD else connection.outcomes.pop(letter.mid, None)
                    )
                    if outcome is not None:
                        if outcome.is_failure:
                            refused += 1
                            not_taken.append((letter, f"refused by the broker: {outcome}"))
                        else:
                            confirmed.append(letter)
                    elif connection.broken:
                        not_taken.append(
                            (letter, f"connection dropped ({connection.broken_reason})")
                        )
                    else:
                        waiting.append(letter)
                pending = waiting
                remaining = deadline - time.monotonic()
                if not pending or remaining <= 0:
                    break
                self._cond.wait(remaining)
            if confirmed and self.settings.protocol == "3.1.1":
                confirmed = self._doubt_confirmations(confirmed, not_taken)
            given_up: dict[int, _Connection] = {}
            for letter in pending:
                if letter.connection is None:
                    continue
                if letter.mid == HELD:
                    letter.mid = ABANDONED
                    given_up[id(letter.connection)] = letter.connection
                else:
                    letter.connection.abandoned.add(letter.mid)
            for connection in given_up.values():
                connection.held = [h for h in connection.held if h.mid != ABANDONED]
        not_taken.extend((letter, f"not confirmed within {timeout:g} s") for letter in pending)
        kept = lost = 0
        if not_taken:
            kept, lost = self._keep(not_taken)
        result = Settlement(
            confirmed=len(confirmed),
            refused=refused,
            unconfirmed=len(not_taken) - refused,
            kept_locally=kept,
            lost=lost,
        )
        with self._cond:
            self._totals = self._totals + result
        return result

    def _doubt_confirmations(
        self, confirmed: list[DeadLetter], not_taken: list[tuple[DeadLetter, str]]
    ) -> list[DeadLetter]:
        """MQTT 3.1.1 cannot refuse a PUBLISH: a broker that will not take one (ACL, size)
        acknowledges it and drops it — Mosquitto then drops the connection too. So a record
        whose connection breaks within `DOUBT_S` of its PUBACK counts as not taken (under the
        lock; waits at most `DOUBT_S`)."""
        deadline = time.monotonic() + DOUBT_S
        connections = {id(letter.connection): letter.connection for letter in confirmed}
        while not any(c is not None and c.broken for c in connections.values()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return confirmed
            self._cond.wait(remaining)
        kept: list[DeadLetter] = []
        for letter in confirmed:
            connection = letter.connection
            if connection is not None and connection.broken:
                not_taken.append(
                    (letter, "connection dropped right after its PUBACK (MQTT 3.1.1: refused?)")
                )
            else:
                kept.append(letter)
        return kept

    def _keep(self, not_taken: Sequence[tuple[DeadLetter, str]]) -> tuple[int, int]:
        """Append records to the local file; (kept, lost)."""
        why = not_taken[0][1]
        try:
            self.local.keep([letter.record for letter, _ in not_taken])
        except OSError as exc:
            for letter, reason in not_taken:
                logger.error(
                    "dead-letter record lost: the broker did not take it (%s) and %s cannot "
                    "(%s): %s",
                    reason,
                    self.local.path,
                    exc,
                    _summary(letter.record),
                )
            return 0, len(not_taken)
        now = time.monotonic()
        if now - self._last_log >= self._log_interval_s:
            more = f" (and {self._unlogged} more since the last report)" if self._unlogged else ""
            logger.warning(
                "%d dead-letter record(s) for %r not taken by the broker (%s)%s; kept in %s",
                len(not_taken),
                self.topic,
                why,
                more,
                self.local.path,
            )
            self._last_log = now
            self._unlogged = 0
        else:
            self._unlogged += len(not_taken)
        return len(not_taken), 0


def _summary(record: bytes) -> str:
    """Reason, topic, payload length and digest of a record, for a log line."""
    try:
        fields = json.loads(record)
    except ValueError:
        return f"{len(record)} bytes, not JSON"
    if not isinstance(fields, dict):
        return f"{len(record)} bytes"
    keys = ("reason", "topic", "received_at", "payload_bytes", "payload_sha256")
    return ", ".join(f"{key}={fields.get(key)!r}" for key in keys)
