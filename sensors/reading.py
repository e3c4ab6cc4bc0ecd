"""The one record every part of repoclimate passes around: a sensor's observation at an instant.

Also its one JSON form (`reading_json`, what ``repoclimate decode`` prints and a dead-letter
record carries) and the one ISO 8601 UTC formatter (`iso_utc`) they use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

UNASSIGNED = "unassigned"
"""Site and room tag of a reading from a sensor the registry does not know."""

_ZERO = timedelta(0)


@dataclass(frozen=True, slots=True)
class Reading:
    """One sensor's observation at one instant, in SI-ish units.

    ``temperature`` [°C] and ``humidity`` [%RH] are each optional because some devices publish one
    quantity per message (ESPHome, Shelly Gen1); a reading always carries at least one of
    temperature, humidity or battery. ``time`` is timezone-aware UTC. ``site`` and ``room`` are
    the sensor's placement from the registry (``UNASSIGNED`` when the registry does not know it);
    decoders leave them ``None``.
    """

    sensor: str
    time: datetime
    temperature: float | None = None
    humidity: float | None = None
    battery: float | None = None
    linkquality: float | None = None
    site: str | None = None
    room: str | None = None

    def __post_init__(self) -> None:
        # Fast path: decoders and stores stamp with `datetime.UTC` itself; any other zone passes
        # only if it is aware with a zero offset at that instant (e.g. ZoneInfo("UTC")).
        time = self.time
        tzinfo = time.tzinfo
        if tzinfo is not UTC and (tzinfo is None or time.utcoffset() != _ZERO):
            raise ValueError(f"Reading.time must be timezone-aware UTC, got {time!r}")


_OPTIONAL_FIELDS = ("temperature", "humidity", "battery", "linkquality", "site", "room")


def iso_utc(when: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, to the millisecond or microsecond when the time has them."""
    when = when.astimezone(UTC)
    if not when.microsecond:
        spec = "seconds"
    elif when.microsecond % 1000 == 0:
        spec = "milliseconds"
    else:
        spec = "microseconds"
    return when.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def reading_json(reading: Reading) -> dict[str, Any]:
    """A reading as a JSON object: sensor, time (`iso_utc`), and the fields that are not None."""
    fields: dict[str, Any] = {"sensor": reading.sensor, "time": iso_utc(reading.time)}
    for name in _OPTIONAL_FIELDS:
        value = getattr(reading, name)
        if value is not None:
            fields[name] = value
    return fields


class DecodeError(ValueError):
    """A message that cannot become readings.

    ``reason`` is a short stable code used to count rejections (``malformed_json``,
    ``not_a_number``, ``out_of_range``, ``too_large``, ``no_decoded_payload``, …); the message
    says what was wrong in words a site engineer can act on.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
