"""Importing logger files: rows → UTC → placed, calibrated, validated readings → the store.

The readings of a file go through what an MQTT message goes through after decoding: placement
and calibration by the registry (the ``--sensor`` id's site, room and calibration table) and
`repoclimate.sensors.validate.check_reading`. Only the store is written: imported history is
never paged as alerts (the backtest and the reports read it from the store).

Times: a time that carries its own offset keeps it; else the file's header offset
(`LoggerFile.utc_offset`); else ``timezone`` (``--timezone``); else the sensor's site zone;
else UTC. In a zone with daylight saving, a local time that occurs twice (fall-back) is an
error naming the row unless ``dst`` says ``earlier`` or ``later``; a local time that never
occurs (spring-forward gap) is always an error naming the row.

With ``dst``, a row that would go back in time because it is the second pass through the
repeated hour (a logger that follows daylight saving) takes the other reading of its local time,
so the file stays in order.

A logger whose clock was reset mid-file writes rows that jump back in time: every row earlier
than the latest one read before it is skipped and reported (``clock_reset`` with its row
number), never stored at a false time; a second row at an already-read time is skipped as
``duplicate``. Several files of one logger are joined on time (fields merge: one file's
temperature and another's humidity make one reading).

All files are read and checked before anything is written: a bad file (a cell that is not a
number, an impossible value, an unreadable time) raises `LoggerFileError` naming the file and
row, and nothing of the call is stored. Writing is idempotent: a reading the store already holds
with the same values is not written again, so importing a file twice stores nothing new.

Speed (issue 14: a year of minute rows in under 5 s): the rows become columns (UTC nanoseconds,
temperatures, humidities), never one `Reading` each; a plain file comes from its reader as
columns already (``read_logger_file(..., rows=False)``: local nanoseconds, no row tuples), so a
fixed offset is one subtraction per time; a store that takes columns
(`repoclimate.history.columns.WritesColumns`, the SQLite store) gets them in one call, one
transaction with the rollups of the imported hours computed once at its end; any other store
gets `Reading` objects built from the columns.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from itertools import islice, repeat
from pathlib import Path
from typing import Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from repoclimate.history.columns import SensorColumns, WritesColumns
from repoclimate.history.store import KnowsHeld, Store
from repoclimate.history.timestamps import from_ns, to_ns
from repoclimate.sensors.calibration import CalibrationTable, correct
from repoclimate.sensors.loggers import LoggerFile, LoggerFileError, read_logger_file
from repoclimate.sensors.loggers.base import LoggerRow, no_cyclic_gc
from repoclimate.sensors.reading import UNASSIGNED, DecodeError, Reading, iso_utc
from repoclimate.sensors.registry import Registry
from repoclimate.sensors.validate import (
    EARLIEST_TIME,
    MAX_AHEAD,
    PERCENT_RANGE,
    TEMPERATURE_RANGE_C,
    check_reading,
)

__all__ = [
    "DstChoice",
    "ImportSummary",
    "SkippedRows",
    "import_files",
    "local_to_utc",
    "parse_timezone",
]

DstChoice = Literal["earlier", "later"]

_ONE_MICROSECOND = timedelta(microseconds=1)
_EARLIEST_NS = to_ns(EARLIEST_TIME)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_LAST_OF_HOUR = timedelta(minutes=59, seconds=59, microseconds=999_999)
_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+\-])(\d{1,2})(?::?(\d{2}))?$", re.I)


@dataclass(frozen=True, slots=True)
class SkippedRows:
    """Rows of one file not imported, for one reason, with their row numbers."""

    file: str
    reason: str
    rows: tuple[int, ...]

    def describe(self) -> str:
        """``file: 3 rows skipped (clock_reset): 120–121, 130``."""
        return f"{self.file}: {len(self.rows)} rows skipped ({self.reason}): {_ranges(self.rows)}"


@dataclass
class ImportSummary:
    """What an import read, stored and skipped."""

    files: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)
    rows_read: int = 0
    readings: int = 0
    stored: int = 0
    unchanged: int = 0
    skipped: list[SkippedRows] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None
    dry_run: bool = False
    unassigned: str | None = None
    """The ``sensor`` id when the registry does not know it (its readings are unassigned)."""

    def lines(self) -> list[str]:
        """The summary as lines for a person."""
        verb = "would store" if self.dry_run else "stored"
        out = [
            f"{len(self.files)} file(s) ({', '.join(dict.fromkeys(self.formats))}): "
            f"{self.rows_read} rows read, "
            f"{self.readings} readings, {verb} {self.stored}, already stored {self.unchanged}"
        ]
        if self.first is not None and self.last is not None:
            out.append(f"from {iso_utc(self.first)} to {iso_utc(self.last)}")
        out += [s.describe() for s in self.skipped]
        if self.unassigned is not None:
            out.append(
                f"note: the registry has no sensor {self.unassigned!r}: its readings are stored "
                "unassigned, local times read as --timezone or UTC"
            )
        return out


def _ranges(rows: Sequence[int]) -> str:
    parts: list[str] = []
    start = previous = rows[0]
    for row in [*rows[1:], None]:
        if row is not None and row == previous + 1:
            previous = row
            continue
        parts.append(str(start) if start == previous else f"{start}–{previous}")
        if row is not None:
            start = previous = row
    return ", ".join(parts)


def parse_timezone(text: str) -> tzinfo:
    """An IANA zone (``Europe/London``) or a fixed offset (``+01:00``, ``UTC-5``, ``UTC``).

    Raises `ValueError` naming the text otherwise.
    """
    match = _OFFSET.match(text.strip())
    if match is not None:
        sign = -1 if match.group(1) == "-" else 1
        offset = timedelta(hours=int(match.group(2)), minutes=int(match.group(3) or 0))
        return timezone(sign * offset)
    try:
        return ZoneInfo(text.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {text!r} (an IANA name such as Europe/London, or +01:00)"
        ) from None


def local_to_utc(
    local: datetime, zone: tzinfo, dst: DstChoice | None, source: str, row: int
) -> datetime:
    """The UTC instant of a naive local time in ``zone``.

    Raises `LoggerFileError` naming the row for a time that does not exist in ``zone`` (skipped
    by the spring-forward change) and, unless ``dst`` chooses, for one that occurs twice.
    """
    first = local.replace(tzinfo=zone, fold=0)
    second = local.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first.astimezone(UTC)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
        raise LoggerFileError(
            source,
            f"local time {local.isoformat(sep=' ')} does not exist in {zone} (the clocks went "
            "forward); if the logger keeps standard time all year, give --timezone as a fixed "
            "offset such as +01:00",
            row=row,
            column="time",
        )
    if dst is None:
        raise LoggerFileError(
            source,
            f"local time {local.isoformat(sep=' ')} occurs twice in {zone} (the clocks went "
            "back); say which with --dst earlier or --dst later",
            row=row,
            column="time",
        )
    return (first if dst == "earlier" else second).astimezone(UTC)


def _utc_converter(
    zone: tzinfo, offset: timedelta | None, dst: DstChoice | None, source: str
) -> Callable[[datetime, int], datetime]:
    """`_utc_ns_converter` giving aware UTC datetimes (the reference its tests compare with)."""
    to_utc_ns = _utc_ns_converter(zone, offset, dst, source)

    def convert(local: datetime, row: int) -> datetime:
        return from_ns(to_utc_ns(local, row))

    return convert


def _fixed_offset(zone: tzinfo, offset: timedelta | None) -> timedelta | None:
    """The one offset every naive time of a file has: the file's own, or a fixed zone's."""
    if offset is None and (zone is UTC or isinstance(zone, timezone)):
        return zone.utcoffset(None)
    return offset


def _in_order_fixed(rows: Sequence[LoggerRow], fixed: timedelta | None) -> _FileColumns | None:
    """The columns of rows that are all naive local times at one ``fixed`` offset, strictly in
    order (a year of minute rows: ~0.2 s instead of ~0.45 s row by row); None for anything
    else (times with their own offset, a zone with daylight saving, a clock reset, a repeated
    time), which the row-by-row loop of `_file_columns` handles."""
    if fixed is None or not rows:
        return None
    fixed_ns, us = fixed // _ONE_MICROSECOND * 1000, _ONE_MICROSECOND
    try:
        times = [(local - _NAIVE_EPOCH) // us * 1000 - fixed_ns for _, local, _, _ in rows]
    except TypeError:  # an aware time cannot be taken from the naive epoch
        return None
    if not all(a < b for a, b in zip(times, islice(times, 1, None), strict=False)):
        return None
    return _FileColumns([r[0] for r in rows], times, [r[2] for r in rows], [r[3] for r in rows])


def _plain_fixed(logger_file: LoggerFile, fixed: timedelta | None) -> _FileColumns | None:
    """`_in_order_fixed` of a file its reader gave as columns (`LoggerFile.columns`): the UTC
    times are the local nanoseconds less the offset's, no datetime per row (a year of minute
    rows: ~0.02 s); None when the file has no columns or its times are not strictly in order."""
    local = logger_file.columns
    if fixed is None or local is None:
        return None
    if logger_file.rows and len(logger_file.rows) != len(local):
        return None
    fixed_ns = fixed // _ONE_MICROSECOND * 1000
    times = list(map(operator.sub, local.local_ns, repeat(fixed_ns)))
    if not all(map(operator.lt, times, islice(times, 1, None))):
        return None
    count = len(times)
    return _FileColumns(
        list(range(local.first_row, local.first_row + count)),
        times,
        [None] * count
        if local.temperatures is None
        else cast(list[float | None], local.temperatures),
        [None] * count if local.humidities is None else cast(list[float | None], local.humidities),
    )


def _utc_ns_converter(
    zone: tzinfo, offset: timedelta | None, dst: DstChoice | None, source: str
) -> Callable[[datetime, int], int]:
    """A function giving the UTC instant [ns since the epoch] of a file's time (and its row,
    for errors).

    A time with its own offset keeps it; else the file's ``offset``; else ``zone``. For a zone
    with daylight saving, each local hour is looked up once: an hour with one offset from its
    start to its end (every hour of the year but the one or two around a change) is converted
    by that offset, the others by `local_to_utc` row by row.
    """
    fixed = _fixed_offset(zone, offset)
    hours: dict[tuple[int, int], timedelta | None] = {}

    def hour_offset(local: datetime) -> timedelta | None:
        start = local.replace(minute=0, second=0, microsecond=0)
        end = start + _LAST_OF_HOUR
        offsets = {
            moment.replace(tzinfo=zone, fold=fold).utcoffset()
            for moment in (start, end)
            for fold in (0, 1)
        }
        return offsets.pop() if len(offsets) == 1 else None

    # ``(local - naive epoch) // 1 µs * 1000 - offset`` is the UTC instant without building an
    # aware datetime per row (`datetime.replace` was the costliest call of a year's import).
    fixed_ns = None if fixed is None else fixed // _ONE_MICROSECOND * 1000
    us = _ONE_MICROSECOND

    def convert(local: datetime, row: int) -> int:
        if local.tzinfo is not None:
            return (local - _EPOCH) // us * 1000
        if fixed_ns is not None:
            return (local - _NAIVE_EPOCH) // us * 1000 - fixed_ns
        key = (local.toordinal(), local.hour)
        try:
            shift = hours[key]
        except KeyError:
            shift = hours[key] = hour_offset(local)
        if shift is None:
            return to_ns(local_to_utc(local, zone, dst, source, row))
        return (local - _NAIVE_EPOCH - shift) // us * 1000

    return convert


@dataclass(slots=True)
class _FileColumns:
    """A file's readings as columns, in strictly increasing time order, with their row numbers."""

    rows: list[int] = field(default_factory=list)
    times_ns: list[int] = field(default_factory=list)
    temperatures: list[float | None] = field(default_factory=list)
    humidities: list[float | None] = field(default_factory=list)


def _present(column: list[float | None]) -> list[float]:
    """The values of a column, None cells left out (the column itself when it has none)."""
    if None in column:
        return [v for v in column if v is not None]
    return cast(list[float], column)


def _check_columns(columns: _FileColumns, place: _Placement, now: datetime, source: str) -> None:
    """`check_reading` of every reading, in bulk: the first that fails raises, naming its row.

    The readings are in strictly increasing time order, so the first and the last bound the
    times; the values are checked as columns, and only when something is out does every reading
    go through `check_reading` to find (and word) the first failure.
    """
    times = columns.times_ns
    if not times:
        return
    temperatures, humidities = columns.temperatures, columns.humidities
    present_t, present_h = _present(temperatures), _present(humidities)
    low_t, high_t = TEMPERATURE_RANGE_C
    low_h, high_h = PERCENT_RANGE
    try:
        fine = (
            (
                present_t is temperatures
                or present_h is humidities
                or all(
                    t is not None or h is not None
                    for t, h in zip(temperatures, humidities, strict=True)
                )
            )
            # min/max of a list with a NaN depend on where the NaN is; the sum of a list holding
            # a NaN or an infinity is never finite (nor is one of huge values: those fail below).
            and math.isfinite(sum(present_t))
            and math.isfinite(sum(present_h))
            and (not present_t or (low_t <= min(present_t) and max(present_t) <= high_t))
            and (not present_h or (low_h <= min(present_h) and max(present_h) <= high_h))
            and times[0] >= _EARLIEST_NS
            and times[-1] <= to_ns(now + MAX_AHEAD)
        )
    except TypeError:
        fine = False
    if fine:
        return
    sensor, site, room = place.sensor, place.site, place.room
    for row, time_ns, temperature, humidity in zip(
        columns.rows, times, temperatures, humidities, strict=True
    ):
        reading = Reading(sensor, from_ns(time_ns), temperature, humidity, None, None, site, room)
        try:
            check_reading(reading, now=now)
        except DecodeError as exc:
            raise LoggerFileError(source, str(exc), row=row) from None


@dataclass(frozen=True, slots=True)
class _Placement:
    sensor: str
    site: str
    room: str
    zone: tzinfo | None
    table: CalibrationTable


def _placement(registry: Registry, sensor: str) -> _Placement:
    try:
        site, room, spec = registry.locate(sensor)
    except KeyError:
        return _Placement(sensor, UNASSIGNED, UNASSIGNED, None, CalibrationTable())
    return _Placement(
        sensor, site.id, room.id, site.zone, CalibrationTable.build(spec.calibration, site.zone)
    )


def _file_columns(
    path: Path,
    fmt: str,
    place: _Placement,
    zone_override: tzinfo | None,
    dst: DstChoice | None,
    now: datetime,
    mapping: Mapping[str, str] | None,
    summary: ImportSummary,
) -> _FileColumns:
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoggerFileError(source, f"cannot read the file: {exc.strerror}") from None
    logger_file = read_logger_file(data, source, fmt, mapping, rows=False)
    summary.files.append(source)
    summary.formats.append(logger_file.format)
    read = len(logger_file.rows) or len(logger_file.columns or ())
    summary.rows_read += read + len(logger_file.skipped)
    skipped: dict[str, list[int]] = {}
    for skip in logger_file.skipped:
        skipped.setdefault(skip.reason, []).append(skip.row)
    offset = logger_file.utc_offset
    zone = zone_override or place.zone or UTC
    fixed = _fixed_offset(zone, offset)
    fast = None
    if not place.table:
        fast = _plain_fixed(logger_file, fixed) or _in_order_fixed(logger_file.rows, fixed)
    if fast is not None:
        _check_columns(fast, place, now, source)
        for reason, numbers in skipped.items():
            summary.skipped.append(SkippedRows(source, reason, tuple(sorted(numbers))))
        return fast
    if not logger_file.rows and logger_file.columns is not None:
        logger_file.rows = logger_file.columns.rows()
    to_utc_ns = _utc_ns_converter(zone, offset, dst, source)
    out = _FileColumns()
    rows, times = out.rows, out.times_ns
    add_row, add_time = rows.append, times.append
    add_t, add_h = out.temperatures.append, out.humidities.append
    latest = -1 << 80  # before any time
    table = place.table
    calibrated = bool(table)
    for row, local, temperature, humidity in logger_file.rows:
        try:
            when = to_utc_ns(local, row)
        except LoggerFileError:
            _check_columns(out, place, now, source)  # an earlier row's problem is reported first
            raise
        if when <= latest:
            if local.tzinfo is None and offset is None:
                # The second pass through the hour the clocks went back: the other reading of
                # an ambiguous local time keeps the file in order.
                other = to_ns(local.replace(tzinfo=zone, fold=1 - (dst == "later")))
                if other > latest:
                    when = other
            if when <= latest:
                reason = "clock_reset" if when < latest else "duplicate"
                skipped.setdefault(reason, []).append(row)
                continue
        latest = when
        if calibrated:
            temperature, humidity = correct(temperature, humidity, from_ns(when), table=table)
        add_row(row)
        add_time(when)
        add_t(temperature)
        add_h(humidity)
    _check_columns(out, place, now, source)
    for reason, numbers in skipped.items():
        summary.skipped.append(SkippedRows(source, reason, tuple(sorted(numbers))))
    return out


def _already_stored(new: Reading, stored: Reading | None) -> bool:
    if stored is None:
        return False
    return all(
        getattr(new, name) is None or getattr(new, name) == getattr(stored, name)
        for name in ("temperature", "humidity")
    ) and (new.site, new.room) == (stored.site, stored.room)


def _join(
    paths: Sequence[Path], per_file: list[_FileColumns], summary: ImportSummary
) -> tuple[list[int], list[float | None], list[float | None]]:
    """Readings of several files of one sensor merged on time, oldest first, as columns.

    A quantity two files both give at one time keeps the first file's value; the later file's
    rows that disagree are reported (``conflicts_with_earlier_file``).
    """
    joined: dict[int, list[float | None]] = {}
    conflicts: dict[str, list[int]] = {}
    for path, columns in zip(paths, per_file, strict=True):
        for row, time_ns, temperature, humidity in zip(
            columns.rows, columns.times_ns, columns.temperatures, columns.humidities, strict=True
        ):
            old = joined.get(time_ns)
            if old is None:
                joined[time_ns] = [temperature, humidity]
                continue
            clash = any(
                was is not None and new is not None and was != new
                for was, new in zip(old, (temperature, humidity), strict=True)
            )
            if clash:
                conflicts.setdefault(str(path), []).append(row)
            if old[0] is None:
                old[0] = temperature
            if old[1] is None:
                old[1] = humidity
    for file, rows in conflicts.items():
        summary.skipped.append(SkippedRows(file, "conflicts_with_earlier_file", tuple(rows)))
    times = sorted(joined)
    return times, [joined[t][0] for t in times], [joined[t][1] for t in times]


def import_files(
    paths: Sequence[Path],
    *,
    sensor: str,
    registry: Registry,
    store: Store | None,
    now: datetime,
    fmt: str = "auto",
    timezone_override: tzinfo | None = None,
    dst: DstChoice | None = None,
    dry_run: bool = False,
    mapping: Mapping[str, str] | None = None,
) -> ImportSummary:
    """Import logger files of one sensor into ``store`` (nothing written with ``dry_run``).

    ``now`` (aware UTC) bounds how far ahead a reading may be (`check_reading`). Raises
    `LoggerFileError` naming the file and row of the first problem, before anything is written.
    The store's own errors (`StoreUnavailable`, `StoreRejected`) pass through.
    """
    if not paths:
        raise ValueError("no files to import")
    place = _placement(registry, sensor)
    summary = ImportSummary(dry_run=dry_run)
    if place.site == UNASSIGNED:
        summary.unassigned = sensor
    with no_cyclic_gc():
        return _import(
            paths, sensor, place, store, now, fmt, timezone_override, dst, dry_run, mapping, summary
        )


def _import(
    paths: Sequence[Path],
    sensor: str,
    place: _Placement,
    store: Store | None,
    now: datetime,
    fmt: str,
    timezone_override: tzinfo | None,
    dst: DstChoice | None,
    dry_run: bool,
    mapping: Mapping[str, str] | None,
    summary: ImportSummary,
) -> ImportSummary:
    per_file = [
        _file_columns(path, fmt, place, timezone_override, dst, now, mapping, summary)
        for path in paths
    ]
    if len(per_file) == 1:
        only = per_file[0]  # already strictly in time order
        times, temperatures, humidities = only.times_ns, only.temperatures, only.humidities
    else:
        times, temperatures, humidities = _join(paths, per_file, summary)
    summary.readings = len(times)
    if not times:
        return summary
    summary.first, summary.last = from_ns(times[0]), from_ns(times[-1])
    columns = SensorColumns(sensor, place.site, place.room, times, temperatures, humidities)
    if isinstance(store, WritesColumns):
        fresh = columns.without(store.holds_columns(columns))
        summary.stored = len(fresh)
        summary.unchanged = len(columns) - len(fresh)
        if len(fresh) and not dry_run:
            store.write_columns(fresh)
        return summary
    readings = columns.readings()
    fresh_readings = readings
    if isinstance(store, KnowsHeld):
        held = store.holds(readings)
        fresh_readings = [r for r, known in zip(readings, held, strict=True) if not known]
    elif store is not None:
        stored = {
            r.time: r
            for r in store.history(sensor, readings[0].time, readings[-1].time + _ONE_MICROSECOND)
        }
        if stored:
            fresh_readings = [r for r in readings if not _already_stored(r, stored.get(r.time))]
    summary.stored = len(fresh_readings)
    summary.unchanged = len(readings) - len(fresh_readings)
    if fresh_readings and store is not None and not dry_run:
        store.write(fresh_readings)
    return summary
