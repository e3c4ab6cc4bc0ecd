"""Exporting history as CSV: the rows behind ``repoclimate export`` (and the API's export).

The CSV is the project's own format, read back unchanged by the importer's ``repoclimate``
format (`repoclimate.sensors.loggers.export`): a header row ``time,temperature,humidity`` and,
when asked, derived series (``dew_point`` [°C], ``absolute_humidity`` [g/m³]); times ISO 8601
UTC with a ``Z``; an empty cell where a quantity is absent; numbers written as Python's shortest
round-tripping repr, so a value survives export and import exactly.

Raw readings of a sensor are exported as stored. With an interval (``every``) the means per
interval are exported: from the rollups for ``1h`` and ``1d`` (UTC days), which also cover ranges
whose raw readings retention has removed, and from the raw readings for other intervals. A room
is exported from its rollups only (the raw readings of several sensors do not make one series).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TextIO

from repoclimate.history.rollups import Period
from repoclimate.history.store import HistoryStore
from repoclimate.preservation.psychrometrics import absolute_humidity, dew_point
from repoclimate.sensors.reading import iso_utc

Derived = Literal["dew_point", "absolute_humidity"]
DERIVED: tuple[Derived, ...] = ("dew_point", "absolute_humidity")

_PERIODS: dict[timedelta, Period] = {timedelta(hours=1): "1h", timedelta(days=1): "1d"}


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One exported time: temperature [°C] and relative humidity [%RH], either may be absent."""

    time: datetime
    temperature: float | None
    humidity: float | None


class ExportError(ValueError):
    """An export that cannot be made as asked (a room without an interval …)."""


def export_rows(
    store: HistoryStore,
    start: datetime,
    end: datetime,
    *,
    sensor: str | None = None,
    site: str | None = None,
    room: str | None = None,
    every: timedelta | None = None,
) -> list[ExportRow]:
    """The rows of a sensor's or a room's export with ``start <= time < end``, oldest first."""
    if (sensor is None) == (site is None or room is None):
        raise ExportError("export either a sensor or a room (site and room), not both or neither")
    period = None if every is None else _PERIODS.get(every)
    if period is not None:
        points = store.rollups(period, start, end, sensor=sensor, site=site, room=room)
        return [ExportRow(p.time, p.temperature_mean, p.humidity_mean) for p in points]
    if sensor is None:
        raise ExportError("a room is exported from its rollups: give --every 1h or --every 1d")
    if every is not None:
        points = store.aggregate(sensor, start, end, every)
        return [ExportRow(p.time, p.temperature_mean, p.humidity_mean) for p in points]
    return [ExportRow(r.time, r.temperature, r.humidity) for r in store.history(sensor, start, end)]


def _cell(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _derived(name: Derived, row: ExportRow) -> str:
    if row.temperature is None or row.humidity is None or row.humidity <= 0:
        return ""
    function = dew_point if name == "dew_point" else absolute_humidity
    value = float(function(row.temperature, row.humidity))
    return "" if not math.isfinite(value) else repr(round(value, 3))


def csv_lines(rows: Sequence[ExportRow], derived: Sequence[Derived] = ()) -> Iterator[list[str]]:
    """The header, then one list of cells per row."""
    yield ["time", "temperature", "humidity", *derived]
    for row in rows:
        yield [
            iso_utc(row.time),
            _cell(row.temperature),
            _cell(row.humidity),
            *(_derived(name, row) for name in derived),
        ]


def write_csv(out: TextIO, rows: Sequence[ExportRow], derived: Sequence[Derived] = ()) -> int:
    """Write the CSV export to ``out``; the number of data rows written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(csv_lines(rows, derived))
    return len(rows)
