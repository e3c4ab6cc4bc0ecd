"""Readings of one sensor as columns, and the stores that write them without `Reading` objects.

A year of minute data from a logger file is 525 600 readings of one sensor at one placement.
Building a `Reading` for each (and taking its fields apart again in the store) was a second of
the import (issue 14). `SensorColumns` carries the same data as three parallel columns: UTC times
in integer nanoseconds (the stores' own key), temperatures [°C] and relative humidities [%RH],
either of which may be ``None`` in a row, never both.

A store that offers `WritesColumns` promises that ``write_columns(c)`` stores exactly what
``write(c.readings())`` would (the same rows, rollups and refusals: anything its quick checks
doubt goes through ``write`` so the error is the one ``write`` words), and ``holds_columns(c)``
answers what ``holds(c.readings())`` answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from repoclimate.history.timestamps import from_ns
from repoclimate.sensors.reading import Reading

__all__ = ["SensorColumns", "WritesColumns"]


@dataclass(frozen=True, slots=True)
class SensorColumns:
    """Readings of ``sensor`` at one placement (``site``, ``room``), one row per index.

    ``times_ns`` are nanoseconds since the Unix epoch (UTC, whole microseconds); the three
    columns have one length. No battery or link quality: logger files carry neither.
    """

    sensor: str
    site: str | None
    room: str | None
    times_ns: Sequence[int]
    temperatures: Sequence[float | None]
    humidities: Sequence[float | None]

    def __post_init__(self) -> None:
        lengths = {len(self.times_ns), len(self.temperatures), len(self.humidities)}
        if len(lengths) != 1:
            raise ValueError(
                f"columns of sensor {self.sensor!r} differ in length: {len(self.times_ns)} "
                f"times, {len(self.temperatures)} temperatures, {len(self.humidities)} humidities"
            )

    def __len__(self) -> int:
        return len(self.times_ns)

    def readings(self) -> list[Reading]:
        """The same data as `Reading` objects (for stores without `WritesColumns`)."""
        sensor, site, room = self.sensor, self.site, self.room
        return [
            Reading(sensor, from_ns(time_ns), temperature, humidity, None, None, site, room)
            for time_ns, temperature, humidity in zip(
                self.times_ns, self.temperatures, self.humidities, strict=True
            )
        ]

    def without(self, drop: Sequence[bool]) -> SensorColumns:
        """The rows whose ``drop`` flag is false (``drop`` as from ``holds_columns``)."""
        if len(drop) != len(self):
            raise ValueError(f"{len(drop)} flags for {len(self)} rows of sensor {self.sensor!r}")
        keep = [i for i, dropped in enumerate(drop) if not dropped]
        if len(keep) == len(self):
            return self
        return SensorColumns(
            self.sensor,
            self.site,
            self.room,
            [self.times_ns[i] for i in keep],
            [self.temperatures[i] for i in keep],
            [self.humidities[i] for i in keep],
        )


@runtime_checkable
class WritesColumns(Protocol):
    """A store that writes and checks `SensorColumns` directly (the SQLite store)."""

    def write_columns(self, columns: SensorColumns) -> None:
        """What ``write(columns.readings())`` does: one transaction, durable when this returns,
        rollups of the touched hours recomputed (or marked) in it; the same refusals."""

    def holds_columns(self, columns: SensorColumns) -> list[bool]:
        """What ``holds(columns.readings())`` answers, row by row."""
