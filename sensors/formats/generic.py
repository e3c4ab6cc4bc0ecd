"""repoclimate's own JSON format ("generic"), for loggers and gateways a site programs itself.

Topic ``repoclimate/<site>/<room>/<sensor>``, or any topic when the message names its sensor::

    {
      "sensor": "s3-north",               # optional on repoclimate/<site>/<room>/<sensor> topics
      "time": "2026-11-20T03:15:00Z",     # optional; ISO 8601 or epoch s / ms (by magnitude)
      "temperature": 19.34,               # °C, or °F with "unit": "F"
      "humidity": 58.1,                   # %RH
      "battery": 93,                      # %, optional
      "linkquality": 120,                 # optional, any scale the device uses
      "unit": "C"                         # optional: "C" (default) or "F", for temperature
    }

- At least one of temperature, humidity, battery; numbers may be strings (``"19.3"``).
- ``sensor`` in the message wins over the topic's last level.
- A time without a UTC offset is local time in the site's time zone; no time → the time the
  message was received.
- Humidity is taken as %RH as sent: a sensor that sends a fraction (0.581) is marked
  ``humidity_fraction`` in the registry, which scales it.
- A batch: ``{"sensor": "s3-north", "readings": [{"time": …, "temperature": …}, …]}``; each item
  takes ``sensor``, ``unit`` and ``time`` from the outer object unless it has its own. The outer
  object then holds no quantities itself.
- Other keys are ignored. Site and room in the topic are for people and ACLs: the registry, not
  the topic, places the sensor.
"""

from __future__ import annotations

from typing import Any

from repoclimate.sensors.formats.base import (
    DecodeContext,
    device_time,
    fahrenheit_to_celsius,
    is_fahrenheit,
    load_json_object,
    number,
    sensor_id,
)
from repoclimate.sensors.reading import DecodeError, Reading

TOPIC_PREFIX = "repoclimate/"
_QUANTITY_KEYS = ("temperature", "humidity", "battery", "linkquality")


def decode(topic: str, payload: bytes, ctx: DecodeContext) -> list[Reading]:
    """Readings of one generic JSON message (one object, or a batch under ``readings``)."""
    if not payload:  # an empty retained message clears the retained one; it holds no reading
        return []
    document = load_json_object(payload)
    topic_sensor = _topic_sensor(topic)
    batch = document.get("readings")
    if batch is None:
        return [_reading(document, topic, topic_sensor, None, None, ctx)]
    if type(batch) is not list:
        raise DecodeError("wrong_type", "readings must be a list of objects")
    for key in _QUANTITY_KEYS:
        if key in document:
            raise DecodeError("wrong_type", f"{key} beside readings: put it in each reading")
    sensor = document.get("sensor", topic_sensor)
    unit = document.get("unit")
    time = document.get("time")
    readings = []
    for index, item in enumerate(batch):
        if type(item) is not dict:
            raise DecodeError("wrong_type", f"readings[{index}] is not an object")
        try:
            readings.append(_reading(item, topic, sensor, unit, time, ctx))
        except DecodeError as error:
            raise DecodeError(error.reason, f"readings[{index}]: {error}") from None
    return readings


def _topic_sensor(topic: str) -> str | None:
    """The sensor level of a ``repoclimate/<site>/<room>/<sensor>`` topic."""
    if topic.startswith(TOPIC_PREFIX) and topic.count("/") == 3:
        return topic.rpartition("/")[2] or None
    return None


def _reading(
    item: dict[str, Any],
    topic: str,
    default_sensor: object,
    default_unit: object,
    default_time: object,
    ctx: DecodeContext,
) -> Reading:
    sensor = item.get("sensor", default_sensor)
    if sensor is None:
        raise DecodeError(
            "missing_field",
            f"no sensor: topic {topic!r} is not repoclimate/<site>/<room>/<sensor> "
            'and the message has no "sensor" key',
        )
    temperature = number(item.get("temperature"), "temperature")
    humidity = number(item.get("humidity"), "humidity")
    battery = number(item.get("battery"), "battery")
    if temperature is None and humidity is None and battery is None:
        raise DecodeError("no_quantity", "message has none of temperature, humidity, battery")
    if is_fahrenheit(item.get("unit", default_unit)) and temperature is not None:
        temperature = fahrenheit_to_celsius(temperature)
    device = sensor_id(sensor)
    return Reading(
        device,
        device_time(item.get("time", default_time), "time", ctx, device),
        temperature,
        humidity,
        battery,
        number(item.get("linkquality"), "linkquality"),
    )
