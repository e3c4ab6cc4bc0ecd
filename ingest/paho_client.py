"""paho-mqtt's client with a fast receive path for a subscriber taking thousands of messages/s.

paho spends most of a small message's time on bookkeeping rather than on the message:

- it reads each packet with at least three ``recv`` calls (command byte, length, body) and goes
  back to ``select`` after every packet while it has nothing of its own in flight;
- for MQTT 5 it builds a `Properties` object per PUBLISH (two large dicts, a scan of 27 names)
  even when the packet carries no property;
- it builds an `MQTTMessage` with its own `MQTTMessageInfo` and `threading.Condition`, decodes
  the topic, and matches it against per-topic callbacks, under two locks.

`FastClient` reads the socket 64 KiB at a time and parses every whole packet buffered before
returning to ``select``; and, when a ``message_sink`` is set, hands a QoS 0/1 PUBLISH without
properties straight to it as ``(topic bytes, payload, mid, qos, dup)``. Anything else (QoS 2, MQTT 5
properties such as topic aliases, a malformed packet) takes paho's own path and ``on_message``.
`FastClient.ack_all` acknowledges a whole batch with one write instead of one per message.

This overrides the private ``_sock_recv`` and ``_handle_publish`` and calls ``_packet_queue``,
which are the same from paho 2.1 to 2.2 (the dependency is pinned to that range);
`fast_path_supported` checks them and the collector falls back to the plain client if they are
missing. The tests run on this class.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

READ_SIZE = 64 * 1024
_PUBACK = 0x40

MessageSink = Callable[[bytes, bytes, int, int, bool], None]
"""Receives ``(topic, payload, mid, qos, dup)`` of each PUBLISH on the fast path; ``dup`` is the
DUP flag (bit 3 of the fixed header): the broker delivered this message before (a redelivery)."""
_DUP = 0x08


def fast_path_supported() -> bool:
    """Whether this paho version has the private hooks `FastClient` overrides."""
    return all(
        callable(getattr(mqtt.Client, name, None))
        for name in ("_sock_recv", "_handle_publish", "_send_puback", "_packet_queue")
    )


class FastClient(mqtt.Client):
    """A paho `Client` with buffered reads and a direct PUBLISH path (see the module docstring).

    ``message_sink`` is called from the network thread, like ``on_message``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.message_sink: MessageSink | None = None
        self._rx_sock: object = None
        self._rx_data = b""
        self._rx_pos = 0

    def _sock_recv(self, bufsize: int) -> bytes:
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

    def _buffered(self) -> bool:
        return (
            self._sock is not None
            and self._sock is self._rx_sock
            and self._rx_pos < len(self._rx_data)
        )

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Read packets from the socket, then every whole packet already buffered."""
        rc = super().loop_read(max_packets)
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._buffered():
            rc = super().loop_read(max_packets)
        return rc

    def _handle_publish(self) -> MQTTErrorCode:
        sink = self.message_sink
        header: int = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        packet = self._in_packet["packet"]
        v5 = self._protocol == mqtt.MQTTv5
        if sink is None or qos == 2 or len(packet) < 2:
            return super()._handle_publish()
        start = 2 + ((packet[0] << 8) | packet[1])
        pos = start + (2 if qos else 0)
        # MQTT 5: a property length of 0 is one zero byte; anything else goes the slow way.
        if start == 2 or len(packet) < pos + v5 or (v5 and packet[pos] != 0):
            return super()._handle_publish()
        mid = (packet[start] << 8) | packet[start + 1] if qos else 0
        sink(bytes(packet[2:start]), bytes(packet[pos + v5 :]), mid, qos, bool(header & _DUP))
        if qos == 1 and not self._manual_ack:
            return self._send_puback(mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_all(self, mids: Sequence[int]) -> None:
        """Send the QoS 1 PUBACK of every ``mid``, in order, as one queued write.

        A PUBACK without reason code or properties is four bytes in MQTT 3.1.1 and 5 alike:
        ``0x40 0x02 <mid>``, so the batch packs as big-endian 32-bit words ``0x4002_0000 | mid``.
        """
        if not mids or not self._manual_ack:
            return
        words = [0x4002_0000 | mid for mid in mids]
        self._packet_queue(_PUBACK, struct.pack(f">{len(words)}I", *words), 0, 0)
