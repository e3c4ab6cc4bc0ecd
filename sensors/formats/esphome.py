"""ESPHome MQTT state topics: one sensor's value per message.

::

    archive-node-2/sensor/stack_5_humidity/state     55.4
    archive-node-2/sensor/stack_5_temperature/state  17.8

- ``<node>/sensor/<object_id>/state`` (``<node>`` is the node's ``topic_prefix``, which may hold
  ``/``). The payload is the number as text; ``nan`` (what ESPHome sends for a failed read) is
  refused as ``not_a_number``.
- The quantity comes from the object id's suffix: ``_temperature``/``_temp`` → temperature
  [°C], ``_humidity``/``_hum``/``_rh`` → humidity [%RH], ``_battery``/``_battery_level`` →
  battery [%] (an object id that is only the word, ``temperature``, counts too). When the suffix
  does not say, the registry's ``quantity`` for the topic does (``ctx.quantity_for``).
- The sensor id is ``<node>/<object_id without the suffix>`` (``archive-node-2/stack_5``), so
  the temperature and humidity of one probe share it; ``<node>`` alone when nothing is left;
  ``<node>/<object_id>`` when the quantity came from the registry.
- ESPHome publishes in each sensor's unit of measurement: keep temperatures in °C on the node.
- ``<node>/status``, ``<node>/debug``, other domains (``binary_sensor``, ``switch``…) and sensors
  of other quantities (Wi-Fi signal, uptime, voltages) carry no readings.
"""

from __future__ import annotations

from repoclimate.sensors.formats.base import (
    DecodeContext,
    payload_number,
    quantity_reading,
    sensor_id,
)
from repoclimate.sensors.reading import DecodeError, Reading

QUANTITIES = frozenset({"temperature", "humidity", "battery"})
_SUFFIXES = {
    "temperature": "temperature",
    "temp": "temperature",
    "humidity": "humidity",
    "hum": "humidity",
    "rh": "humidity",
    "battery": "battery",
    "battery_level": "battery",
}
_NODE_TOPICS = frozenset({"status", "debug"})


def decode(topic: str, payload: bytes, ctx: DecodeContext) -> list[Reading]:
    """The reading in one ESPHome sensor state message, or none."""
    levels = topic.split("/")
    if len(levels) >= 4 and levels[-1] == "state":
        if levels[-3] != "sensor":
            return []
        node, object_id = "/".join(levels[:-3]), levels[-2]
    elif len(levels) >= 2 and levels[-1] in _NODE_TOPICS:
        return []
    else:
        raise DecodeError("bad_topic", f"topic {topic!r} is not <node>/sensor/<object_id>/state")
    quantity, base = _quantity_from_suffix(object_id)
    if quantity is None and ctx.quantity_for is not None:
        quantity, base = ctx.quantity_for(topic), object_id
        if quantity is not None and quantity not in QUANTITIES:
            raise DecodeError(
                "bad_quantity",
                f"quantity {quantity!r} for {topic!r} is not one of {sorted(QUANTITIES)}",
            )
    if quantity is None or not payload:
        return []
    sensor = sensor_id(f"{node}/{base}" if base else node, "ESPHome sensor")
    return [quantity_reading(sensor, ctx.received_at, quantity, payload_number(payload, quantity))]


def _quantity_from_suffix(object_id: str) -> tuple[str | None, str]:
    """(quantity, object id without its suffix), or (None, object id) when no suffix says."""
    if object_id in _SUFFIXES:
        return _SUFFIXES[object_id], ""
    for suffix, quantity in _SUFFIXES.items():
        if object_id.endswith(suffix) and object_id[-len(suffix) - 1] == "_":
            return quantity, object_id[: -len(suffix) - 1]
    return None, object_id
