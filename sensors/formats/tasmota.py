"""Tasmota telemetry: ``tele/<topic>/SENSOR`` (and ``stat/<topic>/STATUS10`` replies).

::

    tele/stack1/SENSOR  {"Time":"2026-11-20T11:15:00","AM2301":{"Temperature":18.6,
                         "Humidity":52.4,"DewPoint":8.6},"TempUnit":"C"}

- Every top-level object with a ``Temperature`` or ``Humidity`` is a sensor chip: AM2301,
  DHT11, SHT3X, SHT3X-0x44, BME280, BME680, SI7021, HTU21, DS18B20-1, SCD30… except ``ESP32``
  (the microcontroller's own die temperature) and ``Global`` (Tasmota's summary of the others).
- One reading per chip: sensor id ``<topic>`` when the message has one chip,
  ``<topic>/<chip>`` when it has several (``stack1/SHT3X-0x44``, ``stack1/DS18B20-2``).
- ``"TempUnit":"F"`` → converted to °C. Humidity is %RH.
- ``Time`` is the device's local time without a zone (unless ``SetOption52`` adds the offset):
  it is read in the site's time zone. Before its first NTP sync Tasmota counts from
  1970-01-01; such a time (before 2000) is replaced by the time the message was received.
- The FullTopic may be ``%prefix%/%topic%/`` (default) or ``%topic%/%prefix%/``; STATE, LWT,
  RESULT, INFO… topics and ``cmnd/…`` carry no readings.
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
from repoclimate.sensors.validate import EARLIEST_TIME

PREFIXES = frozenset({"tele", "stat", "cmnd"})
_NOT_CHIPS = frozenset({"ESP32", "Global"})


def decode(topic: str, payload: bytes, ctx: DecodeContext) -> list[Reading]:
    """One reading per sensor chip in a Tasmota SENSOR (or STATUS10) message."""
    levels = topic.split("/")
    if len(levels) < 3:
        raise DecodeError("bad_topic", f"topic {topic!r} is not <prefix>/<topic>/<command>")
    if levels[0] in PREFIXES:
        device, prefix = "/".join(levels[1:-1]), levels[0]
    elif levels[-2] in PREFIXES:
        device, prefix = "/".join(levels[:-2]), levels[-2]
    else:
        raise DecodeError("bad_topic", f"topic {topic!r} has no tele/stat/cmnd level")
    command = levels[-1]
    if prefix == "tele" and command == "SENSOR":
        values = load_json_object(payload)
    elif prefix == "stat" and command in ("STATUS10", "STATUS8"):
        status = load_json_object(payload).get("StatusSNS")
        if type(status) is not dict:
            raise DecodeError("wrong_type", f"{command} has no StatusSNS object")
        values = status
    else:
        return []
    return _chip_readings(sensor_id(device, "Tasmota topic"), values, ctx)


def _chip_readings(device: str, values: dict[str, Any], ctx: DecodeContext) -> list[Reading]:
    chips = [
        (name, chip)
        for name, chip in values.items()
        if type(chip) is dict
        and ("Temperature" in chip or "Humidity" in chip)
        and name not in _NOT_CHIPS
    ]
    if not chips:
        return []
    fahrenheit = is_fahrenheit(values.get("TempUnit"), "TempUnit")
    # the site's zone: of the device, or of its first chip when each chip is its own sensor
    zone_device = device if len(chips) == 1 else f"{device}/{chips[0][0]}"
    time = device_time(values.get("Time"), "Time", ctx, zone_device)
    if time < EARLIEST_TIME:  # the device's clock is not set yet
        time = ctx.received_at
    readings = []
    for name, chip in chips:
        temperature = number(chip.get("Temperature"), f"{name}.Temperature")
        humidity = number(chip.get("Humidity"), f"{name}.Humidity")
        if temperature is None and humidity is None:
            continue
        if fahrenheit and temperature is not None:
            temperature = fahrenheit_to_celsius(temperature)
        sensor = device if len(chips) == 1 else sensor_id(f"{device}/{name}", "chip")
        readings.append(Reading(sensor, time, temperature, humidity))
    if not readings:
        names = ", ".join(name for name, _ in chips)
        raise DecodeError("sensor_error", f"sensor chips {names} reported no values (null)")
    return readings
