"""paho-mqtt clients for the collector: a watched plain client and a fast receive path.

`WatchedClient` is paho's client with two *public* methods wrapped, so that the collector's
watchdog can tell whether the network loop still runs: ``loop_forever`` (the body of
``loop_start``'s thread) records its thread and whether it is running, ``loop_read`` the time of
the last socket read. It works on any paho 2.x; the collector uses it when the fast path is off.

`FastClient` adds a fast receive path for a subscriber taking thousands of messages/s. paho
spends most of a small message's time on bookkeeping rather than on the message:

- it reads each packet with at least three ``recv`` calls (command byte, length, body) and goes
  back to ``select`` after every packet while it has nothing of its own in flight;
- for MQTT 5 it builds a `Properties` object per PUBLISH (two large dicts, a scan of 27 names)
  even when the packet carries no property;
- it builds an `MQTTMessage` with its own `MQTTMessageInfo` and `threading.Condition`, decodes
  the topic, and matches it against per-topic callbacks, under two locks.

`FastClient` reads the socket 64 KiB at a time and parses every whole packet buffered before
returning to ``select``; and, when a ``message_sink`` is set on a ``manual_ack`` client, hands a
QoS 0/1 PUBLISH without properties straight to it as ``(topic bytes, payload, mid, qos, dup)``.
Anything else (QoS 2, MQTT 5 properties such as topic aliases, a malformed packet) takes paho's
own path and ``on_message``. `FastClient.ack_all` acknowledges a whole batch with one write
instead of one per message.

This overrides paho's private ``_sock_recv`` and ``_handle_publish`` and calls
``_packet_queue`` and reads ``_in_packet``, ``_protocol``, ``_manual_ack`` and ``_sock``: the
same in paho 2.1 and 2.2, where it was verified. `fast_path_supported` is true only for those
versions (``paho.mqtt.__version__``). Should an override raise all the same, it switches the
client to paho's own behaviour for good (``fast_active`` false), calls ``on_fallback`` with the
hook's name and the exception, and goes on with paho's path for the same packet.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

READ_SIZE = 64 * 1024
_PUBACK = 0x40

VERIFIED_VERSIONS = ("2.1.", "2.2.")
"""paho-mqtt release series the fast path was verified on (prefixes of ``__version__``)."""

_PRIVATE_HOOKS = ("_sock_recv", "_handle_publish", "_packet_queue")

MessageSink = Callable[[bytes, bytes, int, int, bool], None]
"""Receives ``(topic, payload, mid, qos, dup)`` of each PUBLISH on the fast path; ``dup`` is the
DUP flag (bit 3 of the fixed header): the broker delivered this message before (a redelivery)."""
FallbackHook = Callable[[str, Exception], None]
"""Told ``(hook name, exception)`` when a fast-path override raised and the client fell back."""
_DUP = 0x08


def fast_path_supported(version: str | None = None) -> bool:
    """Whether the fast path may run on this paho (``version``: default the installed one).

    True only for the release series in `VERIFIED_VERSIONS` whose client has the private hooks
    `FastClient` overrides; any other version gets the plain `WatchedClient`.
    """
    version = paho.mqtt.__version__ if version is None else version
    if not version.startswith(VERIFIED_VERSIONS):
        return False
    return all(callable(getattr(mqtt.Client, name, None)) for name in _PRIVATE_HOOKS)


class WatchedClient(mqtt.Client):
    """A paho `Client` whose network loop can be watched (public methods only).

    ``loop_running`` is true while ``loop_forever`` runs (it is what ``loop_start``'s thread
    does), ``network_thread`` the thread that ran it last, ``loop_error`` the exception that
    ended it, if one did; ``last_read`` is the ``time.monotonic()`` of the last socket read.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.network_thread: threading.Thread | None = None
        self.loop_running = False
        self.loop_error: BaseException | None = None
        self.last_read = time.monotonic()

    def loop_forever(
        self,
        timeout: float = 1.0,
        retry_first_connection: bool = False,
    ) -> MQTTErrorCode:
        self.network_thread = threading.current_thread()
        self.loop_running = True
        try:
            return super().loop_forever(timeout, retry_first_connection)
        except BaseException as exc:
            self.loop_error = exc
            raise
        finally:
            self.loop_running = False

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        self.last_read = time.monotonic()
        return super().loop_read(max_packets)

    @property
    def loop_alive(self) -> bool:
        """Whether the network loop runs in a live thread."""
        thread = self.network_thread
        return self.loop_running and thread is not None and thread.is_alive()

    @property
    def fast_active(self) -> bool:
        """Whether the fast receive path is in use (never, for this class)."""
        return False

    def ack_all(self, mids: Sequence[int]) -> None:
        """Send the QoS 1 PUBACK of every ``mid``, in order."""
        for mid in mids:
            self.ack(mid, 1)


class FastClient(WatchedClient):
    """A paho `Client` with buffered reads and a direct PUBLISH path (see the module docstring).

    ``message_sink`` is called from the network thread, like ``on_message``; ``on_fallback``
    (from whichever thread hit the failure) when an override raised and the client fell back.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.message_sink: MessageSink | None = None
        self.on_fallback: FallbackHook | None = None
        self._fast = True
        self._rx_sock: object = None
        self._rx_data = b""
        self._rx_pos = 0

    @property
    def fast_active(self) -> bool:
        return self._fast

    def _fall_back(self, hook: str, exc: Exception) -> None:
        if not self._fast:
            return
        self._fast = False
        if self.on_fallback is not None:
            self.on_fallback(hook, exc)

    def reconnect(self) -> MQTTErrorCode:
        self._rx_data = b""  # bytes of the old connection are void
        self._rx_pos = 0
        return super().reconnect()

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._fast:
            try:
                return self._fast_recv(bufsize)
            except OSError:  # BlockingIOError, a closed connection, TLS: paho's own cases
                raise
            except Exception as exc:
                self._fall_back("_sock_recv", exc)
        if self._rx_pos < len(self._rx_data):  # bytes read ahead before falling back
            end = min(self._rx_pos + bufsize, len(self._rx_data))
            data = self._rx_data[self._rx_pos : end]
            self._rx_pos = end
            return data
        return super()._sock_recv(bufsize)

    def _fast_recv(self, bufsize: int) -> bytes:
        sock = self._sock
        if sock is not self._rx_sock:  # a new connection: bytes of the old one are void
            self._rx_sock = sock
            self._rx_data = b""
            self._rx_pos = 0
        data = self._rx_data
        pos = self._rx_pos
        if pos >= len(data):
            data = super()._sock_recv(READ_SIZE)  # raises BlockingIOError when nothing is there
            if not data:
                return data  # the broker closed the connection
            self._rx_data = data
            pos = 0
        end = min(pos + bufsize, len(data))
        self._rx_pos = end
        return data[pos:end]

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Read packets from the socket, then every whole packet already buffered."""
        rc = super().loop_read(max_packets)
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._rx_pos < len(self._rx_data):
            rc = super().loop_read(max_packets)
        return rc

    def _handle_publish(self) -> MQTTErrorCode:
        sink = self.message_sink
        if sink is None or not self._fast:
            return super()._handle_publish()
        try:
            parsed = self._parse_publish()
        except Exception as exc:
            self._fall_back("_handle_publish", exc)
            return super()._handle_publish()
        if parsed is None:
            return super()._handle_publish()
        sink(*parsed)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _parse_publish(self) -> tuple[bytes, bytes, int, int, bool] | None:
        """The PUBLISH in ``_in_packet`` as the sink takes it; None if paho must handle it."""
        header: int = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        packet = self._in_packet["packet"]
        v5 = self._protocol == mqtt.MQTTv5
        if qos == 2 or len(packet) < 2 or not self._manual_ack:
            return None
        start = 2 + ((packet[0] << 8) | packet[1])
        pos = start + (2 if qos else 0)
        # MQTT 5: a property length of 0 is one zero byte; anything else goes the slow way.
        if start == 2 or len(packet) < pos + v5 or (v5 and packet[pos] != 0):
            return None
        mid = (packet[start] << 8) | packet[start + 1] if qos else 0
        return bytes(packet[2:start]), bytes(packet[pos + v5 :]), mid, qos, bool(header & _DUP)

    def ack_all(self, mids: Sequence[int]) -> None:
        """Send the QoS 1 PUBACK of every ``mid``, in order, as one queued write.

        A PUBACK without reason code or properties is four bytes in MQTT 3.1.1 and 5 alike:
        ``0x40 0x02 <mid>``, so the batch packs as big-endian 32-bit words ``0x4002_0000 | mid``.
        """
        if not mids:
            return
        if self._fast:
            try:
                if self._manual_ack:
                    words = [0x4002_0000 | mid for mid in mids]
                    self._packet_queue(_PUBACK, struct.pack(f">{len(words)}I", *words), 0, 0)
                return
            except Exception as exc:
                self._fall_back("_packet_queue", exc)
        super().ack_all(mids)


def make_client(fast_path: bool, *args: Any, **kwargs: Any) -> WatchedClient:
    """A `FastClient` when ``fast_path`` is asked for and `fast_path_supported`, else plain."""
    cls = FastClient if fast_path and fast_path_supported() else WatchedClient
    return cls(*args, **kwargs)
