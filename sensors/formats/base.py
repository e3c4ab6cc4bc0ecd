"""What every decoder shares: the decode context, and the strict conversions of raw values.

Each format module turns one MQTT message into `Reading`s with the helpers here, so every format
rejects the same garbage with the same reason codes:

=================== ==========================================================================
reason              raised when
=================== ==========================================================================
``not_utf8``        the payload is not valid UTF-8
``malformed_json``  the payload is not JSON (truncated, ``NaN`` literals, nested too deeply)
``wrong_type``      a value has the wrong JSON type (a boolean, object or list for a number…)
``not_a_number``    a number is NaN or infinite, or a string is not a number (``"warm"``)
``too_large``       a number overflows a float, or a sensor id is over 200 characters
``missing_field``   the message does not say which sensor it is from
``injection``       a sensor id holds control or other non-printable characters (``\\n``, ``\\t``)
                    or a backslash the store would read as an escape (see `sensors.tags`)
``bad_time``        a timestamp cannot be read, or lies outside what a datetime can hold
``bad_unit``        a temperature unit other than C or F
=================== ==========================================================================

Format modules add their own: ``bad_topic``, ``no_quantity``, ``no_decoded_payload``,
``malformed_line``, ``sensor_error``; `sensors.validate` adds ``out_of_range``, ``no_quantity``
and ``bad_time`` for readings that decode but cannot be true.

Epoch timestamps are read by magnitude, one rule for every format: ``|t| < 1e11`` seconds,
``< 1e14`` milliseconds, ``< 1e17`` microseconds, otherwise nanoseconds. For present-day times
the four ranges are 10, 13, 16 and 19 digits long, and the rule only misreads times before 1973.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from repoclimate.sensors.reading import DecodeError, Reading
from repoclimate.sensors.tags import tag_text_problem

MAX_SENSOR_ID_LENGTH = 200
"""Longest device id a decoder accepts (ids become tags in the time-series store)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DecodeContext:
    """What a decoder may know beyond the message itself.

    ``received_at`` [UTC] is the time of the message when the device sends none; ``timezone``
    is the site's zone, for devices whose clocks send local time without a zone (Tasmota), and
    ``timezone_for(device)``, when given, the zone of the site of that device (sites differ in
    zone; the registry's resolver) — use `zone_for`, which falls back to ``timezone``;
    ``quantity_for(topic)`` names the quantity (``temperature``, ``humidity``, ``battery``) of a
    one-value-per-topic message whose topic does not say it (ESPHome), from the registry.
    """

    received_at: datetime
    timezone: tzinfo = UTC
    quantity_for: Callable[[str], str | None] | None = None
    timezone_for: Callable[[str], tzinfo] | None = None

    def __post_init__(self) -> None:
        if self.received_at.utcoffset() != timedelta(0):
            raise ValueError(
                f"DecodeContext.received_at must be aware UTC, got {self.received_at!r}"
            )

    def zone_for(self, device: str | None) -> tzinfo:
        """The zone in which device ``device`` keeps its local clock (``timezone`` when unknown)."""
        if device is None or self.timezone_for is None:
            return self.timezone
        return self.timezone_for(device)


Decoder = Callable[[str, bytes, DecodeContext], list[Reading]]
"""A format's `decode(topic, payload, ctx)`."""


class _NonFinite(str):
    """A ``NaN``/``Infinity`` literal, which Python's json reads but JSON does not allow."""


class _DuplicateKeyError(ValueError):
    """A JSON object names one key twice (Python's json would keep the last value silently)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return document


_json_decoder = json.JSONDecoder(parse_constant=_NonFinite, object_pairs_hook=_unique_keys)


def load_json(payload: bytes) -> Any:
    """Parse a JSON payload strictly: UTF-8 only, no ``NaN``/``Infinity`` numbers, no key twice
    in one object (which value a device meant cannot be told)."""
    try:
        text = payload.decode()
    except UnicodeDecodeError as error:
        raise DecodeError(
            "not_utf8",
            f"payload is not UTF-8: byte {payload[error.start]:#04x} at offset {error.start}",
        ) from None
    try:
        return _json_decoder.decode(text)
    except json.JSONDecodeError as error:
        raise DecodeError(
            "malformed_json",
            f"malformed JSON: {error.msg} at line {error.lineno} column {error.colno}",
        ) from None
    except RecursionError:
        raise DecodeError("malformed_json", "malformed JSON: nested too deeply") from None
    except _DuplicateKeyError as error:
        raise DecodeError(
            "duplicate_key", f"key {shorten(error.key)!r} appears twice in one JSON object"
        ) from None
    except ValueError as error:  # Python's limit on the digits of an integer
        raise DecodeError("too_large", f"a number in the payload is too large: {error}") from None


def load_json_object(payload: bytes) -> dict[str, Any]:
    """Parse a payload that must be a JSON object."""
    document = load_json(payload)
    if type(document) is not dict:
        raise DecodeError("wrong_type", f"payload is {json_kind(document)}, expected a JSON object")
    return document


def json_kind(value: object) -> str:
    """How a JSON value is named in messages: 'a boolean (true)', 'an object', 'a string'…"""
    if isinstance(value, _NonFinite):
        return f"{value} (not a number)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"a string ({shorten(value)!r})"
    if value is None:
        return "null"
    return f"{value!r}"


def shorten(text: str, limit: int = 40) -> str:
    """Text cut to ``limit`` characters for an error message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def number(value: object, field: str) -> float | None:
    """A JSON value as a float; ``None`` (absent or null) stays ``None``.

    Numbers and number strings (``"19.3"``) are accepted; booleans, objects, lists, NaN and
    infinities are not.
    """
    if type(value) is float:
        if value - value == 0.0:  # false for NaN and ±inf
            return value
        if value != value:
            raise DecodeError("not_a_number", f"{field} is NaN, not a number")
        raise DecodeError("too_large", f"{field} is too large for a number")
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:
            raise DecodeError("too_large", f"{field} is too large for a number") from None
    if value is None:
        return None
    if type(value) is str:
        return number_text(value, field)
    if isinstance(value, _NonFinite):
        raise DecodeError("not_a_number", f"{field} is {value}, not a number")
    raise DecodeError("wrong_type", f"{field} is {json_kind(value)}, not a number")


def number_text(text: str, field: str) -> float:
    """A number written as text (``"19.3"``, ``" -4 "``, ``"1e2"``), finite, in ASCII.

    ``float()`` also reads other scripts' digits (``"٢٠"`` is 20.0) and Unicode spaces; no device
    writes those, so such text is more likely a corrupted or hostile payload than a reading.
    """
    if not text.isascii():
        raise DecodeError("not_a_number", f"{field} {shorten(text)!r} is not an ASCII number")
    try:
        value = float(text)
    except ValueError:
        raise DecodeError("not_a_number", f"{field} {shorten(text)!r} is not a number") from None
    if value - value != 0.0:
        lowered = text.lower()
        if "nan" in lowered or "inf" in lowered:
            raise DecodeError("not_a_number", f"{field} {shorten(text)!r} is not a number")
        raise DecodeError("too_large", f"{field} {shorten(text)!r} is too large for a number")
    if "_" in text:  # float() takes "1_000"; no device writes that
        raise DecodeError("not_a_number", f"{field} {shorten(text)!r} is not a number")
    return value


def payload_number(payload: bytes, field: str) -> float:
    """A payload that is one number as text (ESPHome states, Shelly Gen1 sensor topics)."""
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        raise DecodeError("not_utf8", f"{field} payload is not UTF-8") from None
    return number_text(text, field)


def quantity_reading(sensor: str, time: datetime, quantity: str, value: float) -> Reading:
    """A reading of one quantity (``temperature``, ``humidity`` or ``battery``), for formats
    that publish one value per topic."""
    return Reading(
        sensor,
        time,
        temperature=value if quantity == "temperature" else None,
        humidity=value if quantity == "humidity" else None,
        battery=value if quantity == "battery" else None,
    )


def fahrenheit_to_celsius(t_f: float) -> float:
    """Temperature [°C] from [°F]."""
    return (t_f - 32.0) / 1.8


def is_fahrenheit(unit: object, field: str = "unit") -> bool:
    """Whether a temperature unit field says °F; ``None`` means °C; anything else is refused."""
    if unit is None:
        return False
    if type(unit) is str:
        letter = unit.removeprefix("°").strip().upper()
        if letter == "C":
            return False
        if letter == "F":
            return True
    raise DecodeError("bad_unit", f"{field} {json_kind(unit)} is not a temperature unit (C or F)")


def sensor_id(value: object, field: str = "sensor") -> str:
    """A device id, refused when it is not a non-empty printable string of sane length.

    Ids end up as tags in InfluxDB line protocol and in log lines: a newline or other control
    character in one could forge extra points or log entries, and a backslash at the end or before
    a comma, space or equals sign cannot be stored, so such ids are rejected, not cleaned (the
    rule of `sensors.tags`, which the store applies too).
    """
    if type(value) is not str:
        raise DecodeError("wrong_type", f"{field} is {json_kind(value)}, expected a string")
    if not value:
        raise DecodeError("missing_field", f"{field} is empty")
    if len(value) > MAX_SENSOR_ID_LENGTH:
        raise DecodeError(
            "too_large",
            f"{field} {shorten(value)!r} is {len(value)} characters long "
            f"(at most {MAX_SENSOR_ID_LENGTH})",
        )
    problem = tag_text_problem(value)
    if problem is not None:
        raise DecodeError("injection", f"{field} {shorten(value)!r} {problem}")
    return value


def epoch_time(value: float, field: str) -> datetime:
    """An epoch timestamp in s, ms, µs or ns (told apart by magnitude, see the module doc)."""
    magnitude = abs(value)
    if magnitude < 1e11:
        per_second = 1
    elif magnitude < 1e14:
        per_second = 1_000
    elif magnitude < 1e17:
        per_second = 1_000_000
    else:
        per_second = 1_000_000_000
    try:
        if type(value) is int:  # exact: no float rounding of ns timestamps
            return _EPOCH + timedelta(microseconds=value * 1_000_000 // per_second)
        return datetime.fromtimestamp(value / per_second, UTC)
    except (OverflowError, OSError, ValueError):
        raise DecodeError("bad_time", f"{field} {value!r} is not a usable epoch time") from None


def iso_time(text: str, field: str, timezone: tzinfo) -> datetime:
    """An ISO 8601 time; one without a UTC offset is local time in ``timezone``."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise DecodeError(
            "bad_time", f"{field} {shorten(text)!r} is not an ISO 8601 time"
        ) from None
    if moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise DecodeError("bad_time", f"{field} {text!r} is out of range") from None


def device_time(
    value: object, field: str, ctx: DecodeContext, device: str | None = None
) -> datetime:
    """A device timestamp (ISO 8601 text or epoch number), or ``ctx.received_at`` when absent.

    ISO text without a UTC offset is local time in the zone of ``device``
    (`DecodeContext.zone_for`).
    """
    if value is None:
        return ctx.received_at
    if type(value) is str:
        return iso_time(value, field, ctx.zone_for(device))
    if type(value) is int or type(value) is float:
        if value - value != 0:
            raise DecodeError("bad_time", f"{field} {value!r} is not a time")
        return epoch_time(value, field)
    raise DecodeError("bad_time", f"{field} is {json_kind(value)}, not a time")
