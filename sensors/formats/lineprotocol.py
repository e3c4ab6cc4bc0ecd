"""InfluxDB line protocol, as Telegraf, Node-RED and many loggers can publish it over MQTT.

::

    climate,sensor=s3-north,site=city-archives temperature=19.3,humidity=58.1 1763608500000000000

- One or more lines per message, each ``measurement[,tag=value…] field=value[,…] [timestamp]``;
  blank lines and ``#`` comments are skipped, ``\\r\\n`` line ends accepted. The measurement's
  name does not matter.
- The sensor id is the ``sensor`` tag, else ``device``, else ``host`` (Telegraf's default).
- Fields ``temperature``/``temp``/``t`` [°C], ``humidity``/``hum``/``rh`` [%RH], ``battery`` [%],
  ``linkquality``: floats, integers (``19i``, ``19u``) or number strings (``"19.3"``); a
  ``unit=F`` tag converts the temperature. A line without any of them (a CPU metric sharing the
  topic) gives no reading; booleans or non-numeric strings for them are refused.
- Timestamps are integers, read by magnitude (s, ms, µs or ns: see `sensors.formats.base`);
  nanoseconds, the protocol's default, for present-day times. No timestamp → the time the
  message was received.
- Escapes follow the spec: ``\\,`` ``\\ `` in measurements, ``\\,`` ``\\=`` ``\\ `` in tag keys,
  tag values and field keys, ``\\"`` ``\\\\`` in string fields. A line that does not parse
  rejects the whole message (``malformed_line``, with the line number), as does a sensor id
  holding a control character such as a tab or carriage return (``injection``): both are how a
  forged line would try to slip extra points in.
"""

from __future__ import annotations

import re
from datetime import datetime

from repoclimate.sensors.formats.base import (
    DecodeContext,
    epoch_time,
    fahrenheit_to_celsius,
    is_fahrenheit,
    number_text,
    sensor_id,
    shorten,
)
from repoclimate.sensors.reading import DecodeError, Reading

_NAME = r"(?:[^,=\\ ]|\\.)+"  # tag key, tag value, field key
_MEASUREMENT = r"(?:[^,\\ ]|\\.)+"
_FIELD_VALUE = r'"(?:[^"\\]|\\.)*"|[^,\s"\\]+'
_LINE = re.compile(
    rf"({_MEASUREMENT})((?:,{_NAME}={_NAME})*) "
    rf"({_NAME}=(?:{_FIELD_VALUE})(?:,{_NAME}=(?:{_FIELD_VALUE}))*)"
    r"(?: (-?[0-9]+))?"
)
_TAG = re.compile(rf",({_NAME})=({_NAME})")
_FIELD = re.compile(rf"({_NAME})=({_FIELD_VALUE})")
_ESCAPE = re.compile(r"\\([,= \\\"])")

_FIELDS = {
    "temperature": 0,
    "temp": 0,
    "t": 0,
    "humidity": 1,
    "hum": 1,
    "rh": 1,
    "battery": 2,
    "linkquality": 3,
}
_SENSOR_TAGS = ("sensor", "device", "host")
_BOOLEANS = frozenset({"t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"})


def decode(topic: str, payload: bytes, ctx: DecodeContext) -> list[Reading]:
    """One reading per line that carries temperature, humidity or battery."""
    try:
        text = payload.decode()
    except UnicodeDecodeError as error:
        raise DecodeError("not_utf8", f"payload is not UTF-8 (offset {error.start})") from None
    readings = []
    for number, raw_line in enumerate(text.split("\n"), start=1):
        line = raw_line.rstrip("\r ").lstrip(" \t")
        if not line or line[0] == "#":
            continue
        try:
            reading = _line_reading(line, ctx)
        except DecodeError as error:
            raise DecodeError(error.reason, f"line {number}: {error}") from None
        if reading is not None:
            readings.append(reading)
    return readings


def _line_reading(line: str, ctx: DecodeContext) -> Reading | None:
    match = _LINE.fullmatch(line)
    if match is None:
        raise DecodeError(
            "malformed_line",
            f"{shorten(line, 60)!r} is not measurement[,tag=value…] field=value[,…] [timestamp]",
        )
    _, tag_text, field_text, stamp = match.groups()
    values: list[float | None] = [None, None, None, None]
    for raw_key, raw_value in _FIELD.findall(field_text):
        key = _unescape(raw_key)
        value = _field_value(raw_value, key)
        slot = _FIELDS.get(key)
        if slot is None:
            continue
        if isinstance(value, bool):
            raise DecodeError("wrong_type", f"field {key} is a boolean, not a number")
        if isinstance(value, str):
            value = number_text(value, key)
        values[slot] = value
    temperature, humidity, battery, linkquality = values
    if temperature is None and humidity is None and battery is None:
        return None
    tags = {_unescape(key): _unescape(value) for key, value in _TAG.findall(tag_text)}
    sensor = next((tags[name] for name in _SENSOR_TAGS if name in tags), None)
    if sensor is None:
        raise DecodeError("missing_field", "line has no sensor, device or host tag")
    if temperature is not None and is_fahrenheit(tags.get("unit"), "unit tag"):
        temperature = fahrenheit_to_celsius(temperature)
    return Reading(
        sensor_id(sensor, "sensor tag"),
        ctx.received_at if stamp is None else _timestamp(stamp),
        temperature,
        humidity,
        battery,
        linkquality,
    )


def _field_value(raw: str, key: str) -> float | bool | str:
    """A field value by its line-protocol type: float, integer (i/u), boolean or string."""
    if raw[0] == '"':
        return _unescape(raw[1:-1])
    if raw in _BOOLEANS:
        return raw[0] in "tT"
    try:
        if "_" in raw:  # int() and float() take "1_000"; line protocol does not
            raise ValueError(raw)
        if raw[-1] in "iu":
            integer = int(raw[:-1])
            if raw[-1] == "u" and integer < 0:
                raise ValueError(raw)
            return float(integer)
        value = float(raw)
    except ValueError:
        raise DecodeError(
            "malformed_line", f"field {key} has a bad value {shorten(raw)!r}"
        ) from None
    except OverflowError:
        raise DecodeError("too_large", f"field {key} {shorten(raw)!r} is too large") from None
    if value - value != 0.0:
        if value != value or "n" in raw.lower():  # nan, inf, infinity
            raise DecodeError("not_a_number", f"field {key} {raw!r} is not a finite number")
        raise DecodeError("too_large", f"field {key} {shorten(raw)!r} is too large")
    return value


def _timestamp(stamp: str) -> datetime:
    if len(stamp.lstrip("-")) > 19:  # beyond int64, and beyond what int() may parse
        raise DecodeError("bad_time", f"timestamp {shorten(stamp)!r} is out of range")
    return epoch_time(int(stamp), "timestamp")


def _unescape(text: str) -> str:
    return _ESCAPE.sub(r"\1", text) if "\\" in text else text
