"""Calibration: which correction is in force for a sensor at an instant, and applying it.

A sensor's registry entry lists calibration offsets, each in force from a date (or an instant)
until the next one. A corrected value is ``raw + offset``: if a reference hygrometer read 55.0 %RH
where the sensor read 53.5 %RH, the entry carries ``humidity_offset: 1.5``.

When an entry starts
--------------------
``from`` is written the way staff record a calibration visit:

- a date (``2026-01-10``) means **midnight in the site's time zone** at the start of that day —
  the day the sensor was checked, as the person who checked it counts days;
- a datetime without an offset (``2026-01-10T14:30``) is local time in the site's time zone;
- a datetime with an offset (``2026-01-10T14:30:00Z``) is that instant.

The latest entry whose start is at or before the reading's time wins; before the first entry no
correction applies. Entries may be listed in any order.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator

MAX_TEMPERATURE_OFFSET_C = 10.0
"""Largest temperature correction accepted [°C]; a bigger one is a typo or a broken sensor."""
MAX_HUMIDITY_OFFSET_PCT = 25.0
"""Largest humidity correction accepted [%RH]."""
_DECIMALS = 6


def _parse_when(value: Any) -> date | datetime:
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            pass
    raise ValueError(
        f"Input should be a date (2026-01-10) or a datetime (2026-01-10T14:30:00Z), got {value!r}"
    )


When = Annotated[
    date | datetime,
    PlainValidator(_parse_when),
    PlainSerializer(lambda v: v.isoformat(), return_type=str),
]
"""A calibration start: a date, a naive local datetime or an aware datetime."""


class Calibration(BaseModel):
    """One calibration entry: offsets added to the raw values from ``from`` onwards."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: When = Field(alias="from")
    temperature_offset: float = Field(
        default=0.0, ge=-MAX_TEMPERATURE_OFFSET_C, le=MAX_TEMPERATURE_OFFSET_C, allow_inf_nan=False
    )
    humidity_offset: float = Field(
        default=0.0, ge=-MAX_HUMIDITY_OFFSET_PCT, le=MAX_HUMIDITY_OFFSET_PCT, allow_inf_nan=False
    )
    note: str | None = None

    def starts_at(self, tz: tzinfo) -> datetime:
        """The UTC instant from which this entry is in force, for a site in time zone ``tz``."""
        return calibration_start(self.from_, tz)


def calibration_start(when: date | datetime, tz: tzinfo) -> datetime:
    """UTC instant of a calibration start (see the module docstring for the rules)."""
    if isinstance(when, datetime):
        local = when if when.tzinfo is not None else when.replace(tzinfo=tz)
    else:
        local = datetime.combine(when, time(0, 0), tzinfo=tz)
    return local.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class CalibrationTable:
    """A sensor's calibration entries resolved to UTC, ready for lookups by reading time."""

    starts: tuple[datetime, ...] = ()
    """UTC starts, ascending."""
    offsets: tuple[tuple[float, float], ...] = ()
    """(temperature_offset, humidity_offset) for each start."""

    @classmethod
    def build(cls, entries: Sequence[Calibration], tz: tzinfo) -> CalibrationTable:
        """Sort ``entries`` by start in zone ``tz``; two entries with the same start raise
        ``ValueError`` naming their positions in ``entries``."""
        resolved = sorted(
            ((entry.starts_at(tz), index, entry) for index, entry in enumerate(entries)),
            key=lambda item: (item[0], item[1]),
        )
        for (start_a, index_a, _), (start_b, index_b, _) in itertools.pairwise(resolved):
            if start_a == start_b:
                first, second = sorted((index_a, index_b))
                raise DuplicateCalibrationStartError(first, second, start_a)
        return cls(
            starts=tuple(start for start, _, _ in resolved),
            offsets=tuple(
                (entry.temperature_offset, entry.humidity_offset) for _, _, entry in resolved
            ),
        )

    def offsets_at(self, when: datetime) -> tuple[float, float]:
        """(temperature_offset [°C], humidity_offset [%RH]) in force at ``when`` (aware)."""
        position = bisect.bisect_right(self.starts, when) - 1
        if position < 0:
            return (0.0, 0.0)
        return self.offsets[position]

    def __bool__(self) -> bool:
        return bool(self.starts)


class DuplicateCalibrationStartError(ValueError):
    """Two calibration entries of one sensor start at the same instant."""

    def __init__(self, first: int, second: int, start: datetime) -> None:
        super().__init__(f"another calibration entry also starts at {start.isoformat()}")
        self.first = first
        self.second = second


def correct(
    temperature: float | None,
    humidity: float | None,
    when: datetime,
    *,
    table: CalibrationTable,
    humidity_fraction: bool = False,
) -> tuple[float | None, float | None]:
    """Corrected (temperature [°C], humidity [%RH]) of one raw observation.

    ``humidity_fraction`` first scales a device's 0…1 humidity to %RH. The calibration offset in
    force at ``when`` is then added. A humidity that was within 0…100 %RH before the offset is
    kept within 0…100 after it (a saturated sensor with a +1.5 offset reads 100, not 101.5, which
    validation would reject); a value already outside stays outside so validation rejects it.
    Corrected values are rounded to 6 decimals so that 19.34 − 0.2 is stored as 19.14, not
    19.139999999999997 (no sensor resolves a millionth of a degree).
    """
    if humidity is not None and humidity_fraction:
        humidity = round(humidity * 100.0, _DECIMALS)
    if not table:
        return temperature, humidity
    temperature_offset, humidity_offset = table.offsets_at(when)
    if temperature is not None and temperature_offset:
        temperature = round(temperature + temperature_offset, _DECIMALS)
    if humidity is not None and humidity_offset:
        in_range = 0.0 <= humidity <= 100.0
        humidity = round(humidity + humidity_offset, _DECIMALS)
        if in_range and not math.isnan(humidity):
            humidity = min(100.0, max(0.0, humidity))
    return temperature, humidity
