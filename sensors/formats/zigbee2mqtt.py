"""Zigbee2MQTT device state messages.

Zigbee2MQTT publishes each device's state as one JSON object on ``<base>/<friendly name>``
(default base topic ``zigbee2mqtt``; friendly names may contain ``/``)::

    zigbee2mqtt/stack-3-north  {"battery":100,"humidity":58.12,"linkquality":120,
                                "temperature":19.34,"voltage":3025}

- The sensor id is the friendly name: what follows the ``zigbee2mqtt`` level, or the first level
  when the base topic is named otherwise.
- ``temperature`` [°C] and ``humidity`` [%RH] as Zigbee2MQTT reports them, ``battery`` [%],
  ``linkquality`` [LQI 0–255]. ``last_seen`` (when enabled: ISO 8601 or epoch ms) is the time,
  else the time the message was received.
- No readings from ``bridge/…``, ``…/availability``, ``…/set``, ``…/get``, from devices that
  report neither temperature nor humidity (door contacts, plugs, buttons: their battery alone is
  not a climate reading), nor from per-attribute topics (``output: attribute``): with
  ``attribute_and_json`` the JSON state carries the same values, which would count them twice.
"""

from __future__ import annotations

from repoclimate.sensors.formats.base import (
    DecodeContext,
    device_time,
    load_json_object,
    number,
    sensor_id,
)
from repoclimate.sensors.reading import DecodeError, Reading

BASE_TOPIC = "zigbee2mqtt"
_COMMAND_LEVELS = frozenset({"set", "get"})


def decode(topic: str, payload: bytes, ctx: DecodeContext) -> list[Reading]:
    """The reading in one Zigbee2MQTT device state message, or none."""
    name = _friendly_name(topic)
    if name == "bridge" or name.startswith("bridge/"):
        return []
    if "/" in name:
        levels = name.split("/")
        if levels[-1] == "availability" or not _COMMAND_LEVELS.isdisjoint(levels[1:]):
            return []
        if payload[:1] != b"{":  # one attribute's value (output: attribute)
            return []
    if not payload:
        return []
    state = load_json_object(payload)
    temperature = number(state.get("temperature"), "temperature")
    humidity = number(state.get("humidity"), "humidity")
    if temperature is None and humidity is None:
        return []
    device = sensor_id(name, "friendly name")
    return [
        Reading(
            device,
            device_time(state.get("last_seen"), "last_seen", ctx, device),
            temperature,
            humidity,
            number(state.get("battery"), "battery"),
            number(state.get("linkquality"), "linkquality"),
        )
    ]


def _friendly_name(topic: str) -> str:
    head, found, name = topic.partition(BASE_TOPIC + "/")
    if not found or (head and not head.endswith("/")):
        name = topic.partition("/")[2]
    if not name:
        raise DecodeError("bad_topic", f"topic {topic!r} is not <base topic>/<friendly name>")
    return name
