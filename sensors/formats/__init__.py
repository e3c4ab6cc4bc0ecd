"""Decoders for real device payloads, one module per format, and how to pick one.

Every format module exposes ``decode(topic, payload, ctx) -> list[Reading]``: a pure function
that returns the readings of one MQTT message, ``[]`` for messages that carry none (status,
availability, LWT, join…), and raises `DecodeError` with a stable reason code for anything it
must refuse. `decode_message` picks the decoder by name, or by `detect_format` for ``"auto"``.
"""

from __future__ import annotations

from repoclimate.sensors.formats import (
    esphome,
    generic,
    lineprotocol,
    shelly,
    tasmota,
    ttn,
    zigbee2mqtt,
)
from repoclimate.sensors.formats.base import DecodeContext, Decoder
from repoclimate.sensors.reading import DecodeError, Reading

__all__ = ["FORMATS", "DecodeContext", "Decoder", "decode_message", "detect_format"]

FORMATS: dict[str, Decoder] = {
    "generic": generic.decode,
    "zigbee2mqtt": zigbee2mqtt.decode,
    "tasmota": tasmota.decode,
    "shelly": shelly.decode,
    "esphome": esphome.decode,
    "ttn": ttn.decode,
    "lineprotocol": lineprotocol.decode,
}

_BY_FIRST_LEVEL = {
    "zigbee2mqtt": "zigbee2mqtt",
    "tele": "tasmota",
    "stat": "tasmota",
    "shellies": "shelly",
    "v3": "ttn",
}


def detect_format(topic: str, payload: bytes) -> str:
    """The format of a message, from its topic's shape, else by sniffing its payload.

    Topics: ``zigbee2mqtt/…``; ``tele/…``, ``stat/…`` or ``…/tele/<x>`` (Tasmota);
    ``shellies/…``, ``…/events/rpc``, ``…/status/<component>:<n>``, ``…/online`` (Shelly);
    ``v3/…`` (The Things Stack); ``…/sensor/<object_id>/state`` and ``<node>/status`` (ESPHome);
    ``repoclimate/…`` (generic JSON, or line protocol when the payload looks like it).
    Payloads on other topics: a JSON object from The Things Stack, one naming its ``sensor``
    (generic), any other JSON object (Zigbee2MQTT with a renamed base topic), line protocol.
    """
    levels = topic.split("/")
    first = levels[0]
    if first in _BY_FIRST_LEVEL:
        return _BY_FIRST_LEVEL[first]
    if first == generic.TOPIC_PREFIX[:-1]:
        return "lineprotocol" if _looks_like_line_protocol(payload) else "generic"
    last = levels[-1]
    if len(levels) >= 3 and (
        (levels[-2] == "events" and last == "rpc") or (levels[-2] == "status" and ":" in last)
    ):
        return "shelly"
    if len(levels) >= 4 and last == "state" and levels[-3] == "sensor":
        return "esphome"
    if len(levels) >= 3 and levels[-2] in tasmota.PREFIXES:
        return "tasmota"
    if len(levels) == 2 and last == "status":
        return "esphome"
    if len(levels) == 2 and last == "online":
        return "shelly"
    start = payload.lstrip()[:1]
    if start == b"{":
        if b'"end_device_ids"' in payload or b'"uplink_message"' in payload:
            return "ttn"
        if b'"sensor"' in payload or b'"readings"' in payload:
            return "generic"
        return "zigbee2mqtt"
    if _looks_like_line_protocol(payload):
        return "lineprotocol"
    raise DecodeError(
        "unknown_format",
        f"cannot tell the format of topic {topic!r}: give the route a format",
    )


def decode_message(topic: str, payload: bytes, fmt: str, ctx: DecodeContext) -> list[Reading]:
    """Decode one message with the named format (``"auto"``: `detect_format`)."""
    if fmt == "auto":
        fmt = detect_format(topic, payload)
    decoder = FORMATS.get(fmt)
    if decoder is None:
        raise DecodeError(
            "unknown_format", f"unknown format {fmt!r}: one of auto, {', '.join(FORMATS)}"
        )
    return decoder(topic, payload, ctx)


def _looks_like_line_protocol(payload: bytes) -> bool:
    """Whether the first line that is not blank or a comment reads ``<key> <field>=…``."""
    for raw_line in payload.split(b"\n"):
        line = raw_line.strip()
        if not line or line[:1] == b"#":
            continue
        if line[:1] in (b"{", b"[", b'"'):
            return False
        _, space, fields = line.partition(b" ")
        return bool(space) and b"=" in fields.partition(b",")[0]
    return False
