"""Exporting history as CSV or Parquet: the rows behind ``repoclimate export`` and
``GET /api/export``.

The CSV is the project's own format, read back unchanged by the importer's ``repoclimate``
format (`repoclimate.sensors.loggers.export`): a header row ``time,temperature,humidity`` and,
when asked, derived series (``dew_point`` [°C], ``absolute_humidity`` [g/m³]); times ISO 8601
UTC with a ``Z``; an empty cell where a quantity is absent; numbers written as Python's shortest
round-tripping repr, so a value survives export and import exactly.

Raw readings of a sensor are exported as stored. With an interval (``every``) the means per
interval are exported: from the rollups for ``1h`` and ``1d`` (UTC days), which also cover ranges
whose raw readings retention has removed, and from the raw readings for other intervals. A room
is exported from its rollups only (the raw readings of several sensors do not make one series).

Parquet (`write_parquet`, `parquet_chunks`) has the CSV's columns with types: ``time`` a
``timestamp[us, tz=UTC]``, every other column ``float64``, null where the CSV cell is empty; the
derived values are the CSV's (rounded to 3 decimals). Long ranges are read and written in
chunks (`iter_export_rows`), so the API streams them without holding the whole export.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, BinaryIO, Literal, TextIO

from repoclimate.history.rollups import Period
from repoclimate.history.store import HistoryStore, KnowsEarliest
from repoclimate.preservation.psychrometrics import absolute_humidity, dew_point
from repoclimate.sensors.reading import iso_utc

if TYPE_CHECKING:
    import pyarrow as pa

Derived = Literal["dew_point", "absolute_humidity"]
DERIVED: tuple[Derived, ...] = ("dew_point", "absolute_humidity")

_PERIODS: dict[timedelta, Period] = {timedelta(hours=1): "1h", timedelta(days=1): "1d"}
RAW_CHUNK = timedelta(days=7)
"""Span of raw readings (or of aggregates of other intervals) read at once when streaming."""
ROLLUP_CHUNKS: dict[Period, timedelta] = {"1h": timedelta(days=366), "1d": timedelta(days=3660)}
"""Span of rollups read at once when streaming."""


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


def iter_export_rows(
    store: HistoryStore,
    start: datetime,
    end: datetime,
    *,
    sensor: str | None = None,
    site: str | None = None,
    room: str | None = None,
    every: timedelta | None = None,
) -> Iterator[list[ExportRow]]:
    """`export_rows` in consecutive chunks of time (`RAW_CHUNK`, `ROLLUP_CHUNKS`), oldest
    first; chunks without rows are skipped. The arguments are checked before the first read."""
    if (sensor is None) == (site is None or room is None):
        raise ExportError("export either a sensor or a room (site and room), not both or neither")
    period = None if every is None else _PERIODS.get(every)
    if period is None and sensor is None:
        raise ExportError("a room is exported from its rollups: give --every 1h or --every 1d")
    step = RAW_CHUNK if period is None else ROLLUP_CHUNKS[period]
    if every is not None and period is None:
        step = max(step, every) // every * every  # whole intervals per chunk
    return _chunks(store, start, end, step, sensor, site, room, every)


def _chunks(
    store: HistoryStore,
    start: datetime,
    end: datetime,
    step: timedelta,
    sensor: str | None,
    site: str | None,
    room: str | None,
    every: timedelta | None,
) -> Iterator[list[ExportRow]]:
    low = start
    from_raw = every is None or every not in _PERIODS
    if sensor is not None and from_raw and isinstance(store, KnowsEarliest):
        # raw chunks from a default start of 1970 would be thousands of empty reads
        first = store.earliest(sensor)
        if first is None:
            return
        low = max(low, first)
    if every is not None and from_raw:
        # aggregate intervals are aligned to the epoch: cut chunks on interval boundaries
        epoch = datetime(1970, 1, 1, tzinfo=start.tzinfo)
        low = epoch + (low - epoch) // every * every
    while low < end:
        high = min(low + step, end)
        rows = export_rows(
            store, max(low, start), high, sensor=sensor, site=site, room=room, every=every
        )
        if rows:
            yield rows
        low = high


def _cell(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def derived_value(name: Derived, row: ExportRow) -> float | None:
    """The derived series ``name`` at ``row`` (rounded to 3 decimals), None where it has none."""
    if row.temperature is None or row.humidity is None or row.humidity <= 0:
        return None
    function = dew_point if name == "dew_point" else absolute_humidity
    value = float(function(row.temperature, row.humidity))
    return None if not math.isfinite(value) else round(value, 3)


def _derived(name: Derived, row: ExportRow) -> str:
    value = derived_value(name, row)
    return "" if value is None else repr(value)


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


def csv_chunks(
    chunks: Iterable[Sequence[ExportRow]], derived: Sequence[Derived] = ()
) -> Iterator[str]:
    """The CSV export as text pieces: the header, then one piece per chunk of rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time", "temperature", "humidity", *derived])
    yield out.getvalue()
    for rows in chunks:
        out.seek(0)
        out.truncate()
        writer.writerows(list(csv_lines(rows, derived))[1:])
        yield out.getvalue()


def parquet_schema(derived: Sequence[Derived] = ()) -> pa.Schema:
    """The Parquet export's columns: the CSV's, typed."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("time", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("temperature", pa.float64()),
            pa.field("humidity", pa.float64()),
            *(pa.field(name, pa.float64()) for name in derived),
        ]
    )


def parquet_table(rows: Sequence[ExportRow], derived: Sequence[Derived] = ()) -> pa.Table:
    """One chunk of rows as an Arrow table of `parquet_schema`."""
    import pyarrow as pa

    columns: dict[str, list[object]] = {
        "time": [row.time for row in rows],
        "temperature": [None if r.temperature is None else float(r.temperature) for r in rows],
        "humidity": [None if r.humidity is None else float(r.humidity) for r in rows],
    }
    for name in derived:
        columns[name] = [derived_value(name, row) for row in rows]
    return pa.Table.from_pydict(columns, schema=parquet_schema(derived))


class _Collected(io.RawIOBase):
    """A write-only sink whose bytes are taken out as they come (for streaming Parquet)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        chunk = bytes(data)  # type: ignore[call-overload]
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        parts, self._parts = self._parts, []
        return b"".join(parts)


def parquet_chunks(
    chunks: Iterable[Sequence[ExportRow]], derived: Sequence[Derived] = ()
) -> Iterator[bytes]:
    """The Parquet export as byte pieces: one row group per chunk, then the footer."""
    import pyarrow.parquet as pq

    sink = _Collected()
    with pq.ParquetWriter(sink, parquet_schema(derived), compression="zstd") as writer:
        for rows in chunks:
            writer.write_table(parquet_table(rows, derived))
            piece = sink.take()
            if piece:
                yield piece
    yield sink.take()


def write_parquet(
    out: BinaryIO, chunks: Iterable[Sequence[ExportRow]], derived: Sequence[Derived] = ()
) -> int:
    """Write the Parquet export of ``chunks`` to ``out``; the number of data rows written."""
    counted = 0

    def counting() -> Iterator[Sequence[ExportRow]]:
        nonlocal counted
        for rows in chunks:
            counted += len(rows)
            yield rows

    for piece in parquet_chunks(counting(), derived):
        out.write(piece)
    return counted
