"""Whether a decoded reading can be true: finite numbers, physical ranges, a sane time.

Decoders refuse what cannot be read; `check_reading` refuses what was read but cannot be a real
observation of an archive room (a humidity of 150 %, a time next year). The collector calls it
after the registry has scaled and calibrated the reading, so the ranges apply to final values.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from repoclimate.sensors.reading import DecodeError, Reading

TEMPERATURE_RANGE_C = (-60.0, 90.0)
"""Temperatures outside this [°C] are sensor faults, not climates."""
PERCENT_RANGE = (0.0, 100.0)
"""Relative humidity [%RH] and battery [%]."""
MAX_AHEAD = timedelta(days=1)
"""How far ahead of now a reading's time may be (device clocks drift; next year does not)."""
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
"""Readings before this come from a device clock that was never set."""


def check_reading(r: Reading, *, now: datetime | None = None) -> None:
    """Raise `DecodeError` if ``r`` cannot be a real observation.

    Reasons: ``not_a_number`` (NaN or infinite value), ``out_of_range`` (temperature outside
    −60…+90 °C, humidity or battery outside 0–100 %), ``no_quantity`` (none of temperature,
    humidity, battery), ``bad_time`` (before 2000, or more than a day after ``now``, which
    defaults to the current time).
    """
    if r.temperature is None and r.humidity is None and r.battery is None:
        raise DecodeError(
            "no_quantity", f"reading of {r.sensor} has no temperature, humidity or battery"
        )
    _check_value("temperature", r.temperature, TEMPERATURE_RANGE_C, "°C", "−60…+90")
    _check_value("humidity", r.humidity, PERCENT_RANGE, "%", "0–100")
    _check_value("battery", r.battery, PERCENT_RANGE, "%", "0–100")
    if r.linkquality is not None and r.linkquality - r.linkquality != 0.0:
        raise DecodeError("not_a_number", f"linkquality {r.linkquality} is not a finite number")
    if r.time < EARLIEST_TIME:
        raise DecodeError(
            "bad_time", f"time {r.time.isoformat()} is before 2000: the device clock is not set"
        )
    latest = (datetime.now(UTC) if now is None else now) + MAX_AHEAD
    if r.time > latest:
        raise DecodeError("bad_time", f"time {r.time.isoformat()} is more than a day ahead of now")


def _check_value(
    name: str, value: float | None, limits: tuple[float, float], unit: str, span: str
) -> None:
    if value is None:
        return
    if value - value != 0.0:
        raise DecodeError("not_a_number", f"{name} {value} is not a finite number")
    if not limits[0] <= value <= limits[1]:
        raise DecodeError("out_of_range", f"{name} {value:g} outside {span} {unit}")
