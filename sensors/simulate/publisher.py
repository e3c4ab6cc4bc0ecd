"""Publishing simulated messages to an MQTT broker, paced and acknowledged.

QoS 1 by default: a message counts as published only once the broker's PUBACK for it has come
back (and, with MQTT 5, its reason code is a success), so "N published" means the broker has N.
At most ``window`` messages are unacknowledged at any time (fewer when the broker's MQTT 5
Receive Maximum is lower: 20 in a stock Mosquitto); a message unacknowledged for
``ack_timeout_s`` fails the run. Pacing is by a callback giving each message its earliest wall
time, and by ``max_rate`` (messages per second).
"""

from __future__ import annotations

import os
import ssl
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from repoclimate.sensors.simulate.engine import SimMessage

PROTOCOLS = {"5": mqtt.MQTTv5, "3.1.1": mqtt.MQTTv311}
"""MQTT protocol versions by the names the settings use."""


class SimulatorError(RuntimeError):
    """The simulator could not publish: broker unreachable, refused, or not acknowledging."""


@dataclass
class SimulationReport:
    """What a run published, per encoding."""

    sent: int = 0
    """Messages handed to the MQTT client (acknowledged or not yet)."""
    published: Counter[str] = field(default_factory=Counter)
    """Messages the broker acknowledged (QoS 1) or that were sent (QoS 0), per encoding."""
    rejected: Counter[str] = field(default_factory=Counter)
    """Messages the broker refused (MQTT 5 PUBACK reason ≥ 0x80, e.g. not authorised)."""
    first_time: datetime | None = None
    """Simulated time of the first message."""
    last_time: datetime | None = None
    """Simulated time of the last message."""
    wall_s: float = 0.0
    """Wall-clock seconds the run took."""

    @property
    def total(self) -> int:
        """Messages published in all encodings."""
        return sum(self.published.values())

    @property
    def rate(self) -> float:
        """Published messages per wall-clock second."""
        return self.total / self.wall_s if self.wall_s > 0 else 0.0


class _Acks:
    """PUBACKs by message id, filled by the network thread, consumed in order by the sender."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._reasons: dict[int, int] = {}

    def record(self, mid: int, reason: int) -> None:
        with self._condition:
            self._reasons[mid] = reason
            self._condition.notify_all()

    def take(self, mid: int, timeout_s: float) -> int | None:
        with self._condition:
            if not self._condition.wait_for(lambda: mid in self._reasons, timeout_s):
                return None
            return self._reasons.pop(mid)


def _reason_value(reason_code: Any) -> int:
    value = getattr(reason_code, "value", reason_code)
    return int(value) if isinstance(value, int) else 0


def publish_messages(
    messages: Iterable[SimMessage],
    *,
    host: str,
    port: int,
    protocol: str = "5",
    client_id: str | None = None,
    username: str | None = None,
    password: str | None = None,
    tls: ssl.SSLContext | None = None,
    qos: int = 1,
    max_rate: float | None = None,
    release_at: Callable[[SimMessage], float] | None = None,
    window: int = 1000,
    ack_timeout_s: float = 30.0,
    connect_timeout_s: float = 10.0,
    stop: threading.Event | None = None,
    on_progress: Callable[[SimulationReport], None] | None = None,
    progress_every_s: float = 5.0,
) -> SimulationReport:
    """Publish ``messages`` and return the counts once every one is acknowledged.

    ``release_at(message)`` gives the earliest ``time.monotonic()`` at which a message may go;
    ``max_rate`` caps messages per second; ``stop`` ends the run early (what was sent is still
    awaited and counted). Raises ``SimulatorError`` when the broker cannot be reached, refuses
    the connection, or leaves a message unacknowledged for ``ack_timeout_s``.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if qos not in (0, 1):
        raise ValueError("qos must be 0 or 1")
    if max_rate is not None and max_rate <= 0:
        raise ValueError("max_rate must be positive")
    window = max(1, min(window, 60_000))
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or f"repoclimate-sim-{os.getpid()}-{uuid.uuid4().hex[:8]}",
        protocol=PROTOCOLS[protocol],
    )
    if username is not None:
        client.username_pw_set(username, password)
    if tls is not None:
        client.tls_set_context(tls)
    # paho refuses to change this once connected: set it now, from our own wish; a broker that
    # allows fewer (its Receive Maximum, 20 in a stock Mosquitto) narrows the sender's window.
    client.max_inflight_messages_set(window)
    client.max_queued_messages_set(0)
    acks = _Acks()
    connected = threading.Event()
    refused: list[str] = []
    report = SimulationReport()
    sender = _Sender(client, report, acks, qos, window, ack_timeout_s)

    def on_connect(
        client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        if _reason_value(reason_code) >= 0x80:
            refused.append(str(reason_code))
        else:
            receive_maximum = getattr(properties, "ReceiveMaximum", None)
            if isinstance(receive_maximum, int) and receive_maximum > 0:
                sender.window = min(window, receive_maximum)
        connected.set()

    def on_publish(
        client: mqtt.Client, userdata: Any, mid: int, reason_code: Any, properties: Any
    ) -> None:
        acks.record(mid, _reason_value(reason_code))

    client.on_connect = on_connect
    client.on_publish = on_publish
    try:
        client.connect(host, port, keepalive=60)
    except (OSError, ValueError) as exc:
        raise SimulatorError(f"cannot connect to MQTT broker {host}:{port}: {exc}") from exc
    client.loop_start()
    wall_start = time.monotonic()
    try:
        if not connected.wait(connect_timeout_s):
            raise SimulatorError(f"MQTT broker {host}:{port} did not answer CONNECT")
        if refused:
            raise SimulatorError(f"MQTT broker {host}:{port} refused the connection: {refused[0]}")
        sender.run(messages, max_rate, release_at, stop, on_progress, progress_every_s)
    finally:
        report.wall_s = time.monotonic() - wall_start
        client.disconnect()
        client.loop_stop()
    return report


class _Sender:
    """The publishing loop: pacing, the window of unacknowledged messages, the counts."""

    def __init__(
        self,
        client: mqtt.Client,
        report: SimulationReport,
        acks: _Acks,
        qos: int,
        window: int,
        ack_timeout_s: float,
    ) -> None:
        self.client = client
        self.report = report
        self.acks = acks
        self.qos = qos
        self.window = window
        self.ack_timeout_s = ack_timeout_s
        self.pending: deque[tuple[int, str]] = deque()
        self.stop: threading.Event | None = None

    def run(
        self,
        messages: Iterable[SimMessage],
        max_rate: float | None,
        release_at: Callable[[SimMessage], float] | None,
        stop: threading.Event | None,
        on_progress: Callable[[SimulationReport], None] | None,
        progress_every_s: float,
    ) -> None:
        self.stop = stop
        rate_origin = time.monotonic()
        next_progress = rate_origin + progress_every_s
        for sent, message in enumerate(messages):
            if stop is not None and stop.is_set():
                break
            if release_at is not None and not self._wait_until(release_at(message)):
                break
            if max_rate is not None:
                due = rate_origin + sent / max_rate
                now = time.monotonic()
                if now - due > 1.0:  # fell behind (a stall): do not burst to catch up
                    rate_origin = now - sent / max_rate
                    due = now
                if not self._wait_until(due):
                    break
            self._publish(message)
            if on_progress is not None and time.monotonic() >= next_progress:
                next_progress = time.monotonic() + progress_every_s
                on_progress(self.report)
        self._settle(0)
        if on_progress is not None:
            on_progress(self.report)

    def _publish(self, message: SimMessage) -> None:
        info = self.client.publish(message.topic, message.payload, qos=self.qos)
        report = self.report
        report.sent += 1
        if report.first_time is None:
            report.first_time = message.expected.time
        report.last_time = message.expected.time
        if self.qos == 0:
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                report.published[message.encoding] += 1
            return
        # Not connected (rc NO_CONN) is fine: paho keeps the message and sends it on reconnect.
        self.pending.append((info.mid, message.encoding))
        self._settle(self.window)

    def _settle(self, keep: int) -> None:
        """Wait for acknowledgements until at most ``keep`` messages are outstanding."""
        while len(self.pending) > keep:
            mid, encoding = self.pending.popleft()
            reason = self.acks.take(mid, self.ack_timeout_s)
            if reason is None:
                raise SimulatorError(
                    f"the broker did not acknowledge a message within {self.ack_timeout_s:g} s "
                    f"({self.report.total} acknowledged so far)"
                )
            if reason >= 0x80:
                self.report.rejected[encoding] += 1
            else:
                self.report.published[encoding] += 1

    def _wait_until(self, deadline: float) -> bool:
        """Sleep until ``time.monotonic()`` reaches ``deadline``; false if stopped meanwhile."""
        delay = deadline - time.monotonic()
        if delay <= 0:
            return True
        if self.stop is not None:
            return not self.stop.wait(delay)
        time.sleep(delay)
        return True
