"""What every logger-file reader shares: text decoding, cells, numbers, units and time grammars.

Standalone loggers' software writes CSV-like text whose details depend on the maker, the version
and the PC's locale. This module turns those details into one shape, `LoggerFile`: local (or
offset-stamped) times and values in °C and %RH, with the row number of each value in the file,
so that the importer (`repoclimate.ingest.importer`) can report problems by file and row.

Handled here, once for every format:

- encodings: UTF-8 with or without BOM, UTF-16 (BOM, or NUL-interleaved without one), Latin-1
  / Windows-1252; mis-encoded degree signs (``Â°``, ``∞``, U+FFFD, ``º``) become ``°``;
- delimiters (comma, semicolon, tab: ``.xls`` files that are tab-separated text) and decimal
  commas (``21,5`` when the delimiter is not a comma);
- units in headers (``Temp, °F``) and in cells (``13.1 °C``, ``56.3 %RH``), °F converted;
- date/time grammars (`TimeGrammar`): day-first, month-first and year-first short dates, month
  abbreviations, 12-hour clocks with any-case am/pm, unpadded hours, time before date, a comma
  between date and time, ISO 8601 with an offset. Where a file's dates fit several grammars
  (``03/04/25``), the one under which the file's rows step most regularly wins;
- event rows (``Logged``, ``Stopped``, ``End Of File``) that carry no measurement.

Errors are `LoggerFileError`, naming the file, the row (1-based line number) and the column.
"""

from __future__ import annotations

import csv
import gc
import itertools
import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from itertools import repeat
from typing import Literal, NamedTuple

__all__ = [
    "Columns",
    "ExcelSerialGrammar",
    "LocalColumns",
    "LoggerFile",
    "LoggerFileError",
    "LoggerRow",
    "Skip",
    "TimeGrammar",
    "columns_instead_of_rows",
    "decode_text",
    "find_columns",
    "grammars",
    "no_cyclic_gc",
    "normalise_units",
    "parse_number",
    "read_rows",
    "sniff_delimiter",
    "split_line",
    "temperature_unit",
]


class LoggerFileError(ValueError):
    """A logger file that cannot be imported; the message names the file, row and column."""

    def __init__(
        self, source: str, message: str, *, row: int | None = None, column: str | None = None
    ) -> None:
        where = source if row is None else f"{source}: row {row}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")
        self.source = source
        self.row = row
        self.column = column


class LoggerRow(NamedTuple):
    """One measurement row: its line number, its time as written, its values [°C, %RH].

    ``time`` is naive (the logger's local clock) unless the row itself carried an offset. A
    named tuple: a year of minute data makes half a million of them.
    """

    row: int
    time: datetime
    temperature: float | None
    humidity: float | None


@dataclass(frozen=True, slots=True)
class Skip:
    """A row that carries no measurement, and why (``event``, ``no_value``)."""

    row: int
    reason: str


@dataclass
class LoggerFile:
    """A logger file read: its rows, and what its header says about its clock.

    ``utc_offset`` is the fixed offset the header states for every time in the file (HOBOware
    ``GMT-05:00``); ``None`` when the file does not say, and the importer picks the zone.
    ``serial`` and ``name`` are what the header says of the logger, when it does.
    """

    format: str
    rows: list[LoggerRow] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    utc_offset: timedelta | None = None
    serial: str | None = None
    name: str | None = None
    columns: LocalColumns | None = None
    """The same rows as whole columns, when `read_rows` read the file so (every row plain,
    every time naive); ``rows`` holds them all too, unless read inside
    `columns_instead_of_rows` (then ``rows`` is empty). The importer's fast path."""


@dataclass(frozen=True, slots=True)
class LocalColumns:
    """`LoggerFile.rows` as columns: row numbers ``first_row``, ``first_row + 1`` …; times as
    written (naive, the logger's clock) in integer nanoseconds since 1970-01-01 00:00 of that
    clock; values [°C, %RH], a column ``None`` when the file has no such quantity."""

    first_row: int
    local_ns: list[int]
    temperatures: list[float] | None
    humidities: list[float] | None

    def __len__(self) -> int:
        return len(self.local_ns)

    def rows(self) -> list[LoggerRow]:
        """The same rows as `LoggerRow` tuples (for a reader of ``rows``)."""
        count = len(self.local_ns)
        return [
            LoggerRow(row, _NAIVE_EPOCH + timedelta(microseconds=ns // 1000), t, h)
            for row, ns, t, h in zip(
                range(self.first_row, self.first_row + count),
                self.local_ns,
                repeat(None, count) if self.temperatures is None else self.temperatures,
                repeat(None, count) if self.humidities is None else self.humidities,
                strict=True,
            )
        ]


_ROWS_WANTED: ContextVar[bool] = ContextVar("logger_rows_wanted", default=True)


@contextmanager
def columns_instead_of_rows() -> Iterator[None]:
    """Inside, a file `read_rows` reads as whole columns gets only `LoggerFile.columns`, its
    ``rows`` left empty (`LocalColumns.rows` gives them): a year of minute rows builds no
    half million tuples and datetimes the importer would take apart again."""
    token = _ROWS_WANTED.set(False)
    try:
        yield
    finally:
        _ROWS_WANTED.reset(token)


# ----- text ------------------------------------------------------------------------------------

_MOJIBAKE = (
    ("Â°", "°"),
    ("Âº", "°"),
    ("º", "°"),
    ("∞", "°"),
    ("\ufffd", "°"),
    ("Ã‚Â°", "°"),
    ("℃", "°C"),  # U+2103, in Chinese and Japanese software's headers
    ("℉", "°F"),
)


def decode_text(data: bytes) -> str:
    """The text of a logger file, whatever its encoding; degree signs repaired.

    BOMs decide first (UTF-8, UTF-16 LE/BE); NUL bytes in every other position of the first bytes
    mean UTF-16 without a BOM; then UTF-8; then Windows-1252 (a superset of Latin-1's printable
    characters, so a Latin-1 0xB0 is a degree sign either way).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8", errors="replace")
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace")
    elif len(data) >= 4 and data[1:20:2].count(0) >= 5 and data[0] != 0:
        text = data.decode("utf-16-le", errors="replace")
    elif len(data) >= 4 and data[0:20:2].count(0) >= 5:
        text = data.decode("utf-16-be", errors="replace")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
    return normalise_units(text.lstrip("\ufeff"))


def normalise_units(text: str) -> str:
    """``text`` with the mis-encoded degree signs seen in real exports turned into ``°``."""
    for wrong, right in _MOJIBAKE:
        if wrong in text:
            text = text.replace(wrong, right)
    return text


def sniff_delimiter(lines: Iterable[str]) -> str:
    """The cell delimiter of a table: tab, semicolon or comma, whichever splits it most evenly.

    Looks at the given lines (a header and a few rows): the delimiter present in all of them the
    most times wins; comma when none is.
    """
    sample = [line for line in lines if line.strip()]
    best, best_count = ",", 0
    for delimiter in ("\t", ";", ","):
        counts = [line.count(delimiter) for line in sample]
        if counts and min(counts) > best_count:
            best, best_count = delimiter, min(counts)
    return best


def split_line(line: str, delimiter: str) -> list[str]:
    """The cells of one line, CSV quoting undone and surrounding spaces stripped."""
    if '"' not in line:
        return [cell.strip() for cell in line.split(delimiter)]
    return [cell.strip() for cell in next(csv.reader([line], delimiter=delimiter))]


def _data_cells(line: str, delimiter: str) -> list[str]:
    """The cells of a data row; unquoted cells keep their spaces (every reader of a cell strips
    what it reads): this is on the hot path of a year of minute data."""
    if '"' not in line:
        return line.split(delimiter)
    return next(csv.reader([line], delimiter=delimiter))


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """The cyclic garbage collector paused while a file's rows are read (and, in the importer,
    become stored readings).

    A year of minute data makes millions of small acyclic objects (rows, cells, datetimes,
    readings); each allocation burst triggers full collections that scan them all, about half of
    the reading time. Reference counting still frees everything; the collector resumes after
    (unless it was off already).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# ----- numbers and units -----------------------------------------------------------------------

_NUMBER = re.compile(r"\s*([+\-−]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+\-]?\d+)?)\s*(.*?)\s*")
_MISSING = frozenset({"", "-", "--", "---", "nan", "n/a", "na", "null", "none", "#n/a", "error"})
_FAHRENHEIT = re.compile(r"°\s*F\b|\bdeg\.?\s*F\b|fahrenheit|\(F\)|\*F\b|\bF$|_F\b", re.I)
_CELSIUS = re.compile(r"°\s*C\b|\bdeg\.?\s*C\b|celsius|\(C\)|\*C\b|\bC$|_C\b", re.I)


def temperature_unit(text: str) -> Literal["C", "F"] | None:
    """``"F"`` or ``"C"`` when ``text`` (a header or a cell's unit) names one, else ``None``."""
    if _FAHRENHEIT.search(text):
        return "F"
    if _CELSIUS.search(text):
        return "C"
    return None


def parse_number(text: str, *, decimal_comma: bool) -> tuple[float, str] | None:
    """(value, unit text after it) of a cell such as ``21.5``, ``21,5``, ``13.1 °C``, ``56 %RH``.

    ``None`` for an empty or missing-value cell (``""``, ``-``, ``NaN``…). Raises `ValueError`
    for anything else that is not a number. A comma is a decimal mark only with
    ``decimal_comma`` (files whose delimiter is not a comma) or when it is the cell's only mark.
    """
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if value - value == 0.0 and "_" not in text:
            return value, ""
    stripped = text.strip()
    if stripped.lower() in _MISSING:
        return None
    match = _NUMBER.fullmatch(stripped)
    if match is None:
        raise ValueError(f"{text!r} is not a number")
    number, unit = match.groups()
    number = number.replace("−", "-")
    if "," in number:
        if not decimal_comma and "." in number:
            raise ValueError(f"{text!r} is not a number")
        number = number.replace(",", ".")
    if unit and not re.fullmatch(r"[°%A-Za-z/ ]*", unit):
        raise ValueError(f"{text!r} is not a number")
    return float(number), unit


def fahrenheit_to_celsius(t_f: float) -> float:
    """Temperature in °C of a temperature ``t_f`` in °F, rounded to 1/10 000 of a degree."""
    return round((t_f - 32.0) * 5.0 / 9.0, 4)


# ----- times -----------------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january", "jän", "janv"),
            ("feb", "february", "fév", "févr", "fev"),
            ("mar", "march", "mär", "mars"),
            ("apr", "april", "avr"),
            ("may", "mai"),
            ("jun", "june", "juin"),
            ("jul", "july", "juil"),
            ("aug", "august", "aoû", "aout"),
            ("sep", "sept", "september"),
            ("oct", "october", "okt"),
            ("nov", "november"),
            ("dec", "december", "dez", "déc"),
        ),
        start=1,
    )
    for name in names
}

_TOKENS = {
    "%Y": r"(?P<Y>\d{4})",
    "%y": r"(?P<y>\d{2})",
    "%m": r"(?P<m>\d{1,2})",
    "%d": r"(?P<d>\d{1,2})",
    "%b": r"(?P<b>[A-Za-zäéû]{3,9})\.?",
    "%H": r"(?P<H>\d{1,2})",
    "%I": r"(?P<I>\d{1,2})",
    "%M": r"(?P<M>\d{2})",
    "%S": r"(?P<S>\d{2})(?:[.,](?P<f>\d{1,6}))?",
    "%p": r"(?P<p>[AaPp]\.?\s?[Mm]\.?)",
    "%z": r"\s?(?P<z>Z|[+\-]\d{2}:?\d{2})",
    " ": r"(?:\s*,\s*|\s+|T)",
}
_TOKEN = re.compile("|".join(re.escape(t) for t in _TOKENS))


class TimeGrammar:
    """One way of writing a date and time, in strptime-like notation (``%d/%m/%Y %H:%M:%S``).

    Differences from strptime, to fit loggers: day, month and hour may be unpadded; ``%p`` takes
    ``am``, ``PM``, ``a.m.``; ``%b`` takes English month abbreviations and full names (and the
    common French and German ones); ``%S`` takes a decimal fraction; a space in the pattern takes
    a space, a comma or a ``T``; ``%y`` is 2000–2099; ``%z`` is ``Z`` or ``±hh:mm``.

    ``parse(text)`` is the time ``text`` writes under this grammar, or ``None`` if it does not
    fit. It is built once per grammar as a closure over the group positions; ISO-shaped patterns
    try `datetime.fromisoformat` first. ``column_parser()`` gives a parse function for one file's
    column that caches the date part and the clock part separately (a year of minute data repeats
    365 dates and 1440 clock readings half a million times).
    """

    __slots__ = ("_split", "parse", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.parse: Callable[[str], datetime | None]
        self._split: _Split | None
        self.parse, self._split = _compile(pattern)

    def __repr__(self) -> str:
        return f"TimeGrammar({self.pattern!r})"

    def column_parser(self) -> Callable[[str], datetime | None]:
        """A function giving, for every text, what `parse` gives, faster over a file's column.

        Its caches belong to the function (one per file read), so nothing is shared between
        files or threads. A text is split into its date and clock parts at the separator the
        first rows use; a date part and a clock part both seen before (and confirmed by the
        grammar's own regex when first seen) give their cached values; anything else goes
        through `parse`. Times with an offset (``%z``) are not cached.
        """
        split = self._split
        full = self.parse
        if split is None:
            return full
        if split.clock_first is None:
            return _date_only_parser(full)
        return _date_clock_parser(full, split)[0]

    def parse_column(
        self, texts: Sequence[str], *, datetimes: bool = True
    ) -> tuple[list[datetime | None] | None, list[int] | None]:
        """``[parse(text) for text in texts]`` of a file's whole time column, faster; and the
        same times as integer nanoseconds since 1970-01-01 00:00 of their own clock (naive),
        or ``None`` unless every text was read as a cached date part and clock part. Without
        ``datetimes``, the first is ``None`` whenever the nanoseconds are given.

        The caches of one `column_parser`; where the texts split into a date and a clock part
        at one separator, the parts are looked up as whole columns (`_date_clock_parser`)
        instead of text by text.
        """
        split = self._split
        if split is None or split.clock_first is None:
            return list(map(self.column_parser(), texts)), None
        return _date_clock_parser(self.parse, split)[1](texts, datetimes)


class ExcelSerialGrammar(TimeGrammar):
    """Times written as Excel serial days (``45992.541666667``: 2025-12-01 13:00), 1900 system.

    A text export keeps no trace of the workbook's date system; the 1900 system is Excel's
    default on every platform since Excel 2016 for Mac (a 1904 workbook's ``.xlsx`` is read with
    its own system, `repoclimate.sensors.loggers.xlsx`). Serials are rounded to the millisecond;
    only 36526–2958465 (the years 2000–9999) are read as times.
    """

    __slots__ = ()

    def __init__(self) -> None:
        self.pattern = "Excel serial days (1900 date system)"
        self._split = None
        self.parse = _excel_serial

    def column_parser(self) -> Callable[[str], datetime | None]:
        """`parse` itself: serials repeat no part a cache could keep."""
        return self.parse

    def parse_column(
        self, texts: Sequence[str], *, datetimes: bool = True
    ) -> tuple[list[datetime | None] | None, list[int] | None]:
        """``[parse(text) for text in texts]``, and no nanoseconds."""
        return list(map(self.parse, texts)), None


_EXCEL_1900 = datetime(1899, 12, 30)  # serial 0 once Lotus's 29 Feb 1900 is past (serial 61)
_EXCEL_SERIAL = re.compile(r"\d{5,7}(?:[.,]\d+)?")


def _excel_serial(text: str) -> datetime | None:
    text = text.strip()
    if not _EXCEL_SERIAL.fullmatch(text):
        return None
    days = float(text.replace(",", "."))
    if not 36526.0 <= days < 2958466.0:
        return None
    milliseconds = round(days * 86_400_000)
    return _EXCEL_1900 + timedelta(milliseconds=milliseconds)


@dataclass(frozen=True, slots=True)
class _Split:
    """Where a pattern's date and clock parts are: its regex with both parts as named groups."""

    regex: re.Pattern[str]
    clock_first: bool | None
    """``None`` for a date without a clock."""


def _date_only_parser(full: Callable[[str], datetime | None]) -> Callable[[str], datetime | None]:
    seen: dict[str, datetime | None] = {}

    def parse(text: str) -> datetime | None:
        try:
            return seen[text]
        except KeyError:
            when = seen[text] = full(text)
            return when

    return parse


def _date_clock_parser(
    full: Callable[[str], datetime | None], split: _Split
) -> tuple[Callable[[str], datetime | None], _ColumnParse]:
    """The cached parse of one file's column, and the same over a whole column at once."""
    dates: dict[str, datetime] = {}
    clocks: dict[str, timedelta] = {}
    regex, clock_first = split.regex, bool(split.clock_first)
    separator = ""
    inner = 0  # how many separators the first part holds ("11:00:00 AM" holds one space)

    def parts(text: str) -> tuple[str, str] | None:
        if not inner:
            first, found, second = text.partition(separator)
            if not found:
                return None
        else:
            cut = text.split(separator, inner + 1)
            if len(cut) != inner + 2:
                return None
            first, second = separator.join(cut[: inner + 1]), cut[inner + 1]
        return (second, first) if clock_first else (first, second)

    def learn(text: str, when: datetime) -> bool:
        nonlocal separator, inner
        match = regex.fullmatch(text)
        if match is None:
            return False
        date, clock = match.group("_D"), match.group("_C")
        if clock_first:
            between = text[match.end("_C") : match.start("_D")]
        else:
            between = text[match.end("_D") : match.start("_C")]
        if not separator:
            if not between:
                return False
            separator = between
            inner = (clock if clock_first else date).count(separator)
        if between != separator or parts(text) != (date, clock):
            return False
        base = when.replace(hour=0, minute=0, second=0, microsecond=0)
        dates[date] = base
        clocks[clock] = when - base
        return True

    failures = 0  # a column whose texts never split as the first did stops learning

    def parse(text: str) -> datetime | None:
        nonlocal failures
        text = text.strip()
        if separator:
            cut = parts(text)
            if cut is not None:
                base = dates.get(cut[0])
                if base is not None:
                    delta = clocks.get(cut[1])
                    if delta is not None:
                        return base + delta
        when = full(text)
        if when is not None and when.tzinfo is None and failures < _LEARNING_FAILURES:
            failures += not learn(text, when)
        return when

    def parse_all(
        texts: Sequence[str], datetimes: bool
    ) -> tuple[list[datetime | None] | None, list[int] | None]:
        # The first texts one by one teach the separator; then (a separator inside neither
        # part) every text is cut at it and both parts are looked up as columns. A part not
        # yet cached is learnt from the first text holding it; a text still missing a part
        # (no separator, an unreadable part) goes through `parse` alone, as it would row by row.
        head = [parse(text) for text in texts[:_LEARNING_ROWS]]
        if len(texts) <= _LEARNING_ROWS or not separator or inner:
            return [*head, *map(parse, texts[_LEARNING_ROWS:])], None
        firsts, seconds = _cut(texts, separator)
        date_parts, clock_parts = (seconds, firsts) if clock_first else (firsts, seconds)
        for parts_column, cache in ((date_parts, dates), (clock_parts, clocks)):
            # Distinct parts in the order they first occur, so each search starts where the
            # previous one ended and the column is scanned once.
            position = 0
            for part in dict.fromkeys(parts_column):
                if part not in cache:
                    position = parts_column.index(part, position)
                    parse(texts[position])
        # Whole microseconds: (base + delta - epoch) // 1 µs == (base - epoch) // 1 µs + delta
        # // 1 µs, so the nanoseconds are the sum of each part's, looked up like the parts.
        date_ns = {
            part: (base - _NAIVE_EPOCH) // _MICROSECOND * 1000 for part, base in dates.items()
        }
        clock_ns = {part: delta // _MICROSECOND * 1000 for part, delta in clocks.items()}
        try:
            local_ns = list(
                map(
                    operator.add,
                    map(date_ns.__getitem__, date_parts),
                    map(clock_ns.__getitem__, clock_parts),
                )
            )
        except KeyError:  # a part not learnt: each text without both parts cached is parsed
            bases = list(map(dates.get, date_parts))
            deltas = list(map(clocks.get, clock_parts))
            return [
                parse(text) if base is None or delta is None else base + delta
                for text, base, delta in zip(texts, bases, deltas, strict=True)
            ], None
        if not datetimes:
            return None, local_ns
        bases = list(map(dates.__getitem__, date_parts))
        return list(map(operator.add, bases, map(clocks.__getitem__, clock_parts))), local_ns

    return parse, parse_all


def _cut(texts: Sequence[str], separator: str) -> tuple[Sequence[str], Sequence[str]]:
    """What is before and after the first ``separator`` of each text (all of it and ``""``
    when it holds none), texts unstripped: one with spaces around it has parts no cache holds,
    so `parse` reads it.

    Texts of one length with the separator at one place (HOBOware pads its dates and clocks)
    are cut by two slices over the column, without a partition per text; slicing there is
    partitioning there when the first part holds no separator, and a first part that does
    is none a cache holds (`learn` keeps only parts `parts` cuts out).
    """
    first = texts[0]
    at = first.find(separator)
    end = at + len(separator)
    if at >= 0 and len(set(map(len, texts))) == 1:
        between = operator.itemgetter(slice(at, end))
        if all(map(operator.eq, map(between, texts), repeat(separator))):
            return (
                list(map(operator.itemgetter(slice(None, at)), texts)),
                list(map(operator.itemgetter(slice(end, None)), texts)),
            )
    firsts, _, seconds = zip(*map(str.partition, texts, repeat(separator)), strict=True)
    return firsts, seconds


_LEARNING_ROWS = 64  # rows of a column `parse_all` parses one by one before the column lookups
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
_ColumnParse = Callable[
    [Sequence[str], bool], tuple[list[datetime | None] | None, list[int] | None]
]


_LEARNING_FAILURES = 256


_DATE_TOKENS = frozenset({"%Y", "%y", "%m", "%d", "%b"})
_CLOCK_TOKENS = frozenset({"%H", "%I", "%M", "%S", "%p"})


def _regex_parts(pattern: str) -> list[tuple[str, str]]:
    """The pattern as (token or literal, regex) pairs."""
    parts: list[tuple[str, str]] = []
    position = 0
    for token in _TOKEN.finditer(pattern):
        if token.start() > position:
            literal = pattern[position : token.start()]
            parts.append((literal, re.escape(literal)))
        parts.append((token.group(0), _TOKENS[token.group(0)]))
        position = token.end()
    if position < len(pattern):
        parts.append((pattern[position:], re.escape(pattern[position:])))
    return parts


def _split_of(parts: list[tuple[str, str]]) -> tuple[str, _Split | None]:
    """The whole regex of a pattern, and its date/clock split (``None``: not cacheable)."""
    whole = "".join(regex for _, regex in parts)
    names = [name for name, _ in parts]
    if "%z" in names:
        return whole, None
    dates = [i for i, name in enumerate(names) if name in _DATE_TOKENS]
    clocks = [i for i, name in enumerate(names) if name in _CLOCK_TOKENS]
    if not dates:
        return whole, None
    if not clocks:
        return whole, _Split(re.compile(whole), None)
    clock_first = clocks[0] < dates[0]
    first, second = (clocks, dates) if clock_first else (dates, clocks)
    if first[-1] > second[0]:
        return whole, None
    cut = next(
        (i for i in range(first[-1] + 1, second[0]) if names[i] == " "),
        None,
    )
    if cut is None:
        return whole, None
    head = "".join(regex for _, regex in parts[:cut])
    tail = "".join(regex for _, regex in parts[cut + 1 :])
    head_name, tail_name = ("_C", "_D") if clock_first else ("_D", "_C")
    grouped = f"(?P<{head_name}>{head}){parts[cut][1]}(?P<{tail_name}>{tail})"
    return whole, _Split(re.compile(grouped), clock_first)


def _compile(pattern: str) -> tuple[Callable[[str], datetime | None], _Split | None]:
    parts = _regex_parts(pattern)
    whole, split = _split_of(parts)
    regex = re.compile(whole)
    fullmatch, index = regex.fullmatch, regex.groupindex

    def at(name: str) -> int:
        return index.get(name, 0) - 1  # -1: the pattern has no such field

    i_year, i_short_year, i_month, i_name, i_day = at("Y"), at("y"), at("m"), at("b"), at("d")
    i_hour, i_hour12, i_ampm, i_minute, i_second = at("H"), at("I"), at("p"), at("M"), at("S")
    i_fraction, i_zone = at("f"), at("z")
    iso = pattern.startswith("%Y-%m-%d") and "%z" not in pattern

    def parse(text: str) -> datetime | None:
        if iso:
            try:
                when = datetime.fromisoformat(text)
            except ValueError:
                pass
            else:
                if when.tzinfo is None:
                    return when
        match = fullmatch(text.strip())
        if match is None:
            return None
        g = match.groups()
        try:
            year = int(g[i_year]) if i_year >= 0 else 2000 + int(g[i_short_year])
            if i_name >= 0:
                month = _MONTHS.get(g[i_name].lower().rstrip("."), 0)
            else:
                month = int(g[i_month])
            if i_hour12 >= 0:
                hour = int(g[i_hour12])
                if not 1 <= hour <= 12:
                    return None
                hour = hour % 12 + (12 if g[i_ampm][0] in "Pp" else 0)
            else:
                hour = int(g[i_hour]) if i_hour >= 0 else 0
            minute = int(g[i_minute]) if i_minute >= 0 else 0
            second = int(g[i_second]) if i_second >= 0 else 0
            fraction = g[i_fraction] if i_fraction >= 0 else None
            micro = int(fraction.ljust(6, "0")) if fraction else 0
            when = datetime(year, month, int(g[i_day]), hour, minute, second, micro)
        except ValueError:
            return None
        if i_zone < 0:
            return when
        zone = g[i_zone]
        if zone == "Z":
            return when.replace(tzinfo=UTC)
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return when.replace(tzinfo=timezone(sign * offset))

    return parse, split


_DATES = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%d/%m/%y",
    "%m/%d/%y",
    "%y/%m/%d",
    "%d.%m.%y",
    "%d-%m-%y",
    "%y-%m-%d",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%d/%b/%Y",
    "%d/%b/%y",
    "%d %b %Y",
    "%b %d %Y",
    "%d. %b %Y",
)
_CLOCKS = ("%H:%M:%S", "%H:%M", "%I:%M:%S %p", "%I:%M %p", "%I:%M:%S%p", "%I:%M%p")


def grammars(
    dates: Sequence[str] = _DATES, clocks: Sequence[str] = _CLOCKS, *, time_first: bool = False
) -> list[TimeGrammar]:
    """Every date × clock combination, date first (or clock first), then dates alone.

    The order is the order of preference when a file fits several equally well.
    """
    out = [TimeGrammar(f"{c} {d}" if time_first else f"{d} {c}") for d in dates for c in clocks]
    out += [TimeGrammar(f"%Y-%m-%d {c}%z") for c in ("%H:%M:%S", "%H:%M")]
    out += [TimeGrammar(d) for d in dates]
    return out


DEFAULT_GRAMMARS = grammars()
"""Every grammar `choose_grammar` tries when a format does not name its own."""


def choose_grammar(
    samples: Sequence[str], candidates: Sequence[TimeGrammar], source: str, first_row: int
) -> TimeGrammar:
    """The grammar of a file's time cells: of those that read every sample, the most regular.

    Regularity: the fewest distinct steps between consecutive times, then the fewest backward
    steps; ties go to the earlier candidate. Raises `LoggerFileError` naming the first sample
    row when no grammar reads the first sample.
    """
    if not samples:
        raise LoggerFileError(source, "no data rows")
    fits = [g for g in candidates if g.parse(samples[0]) is not None]
    if not fits:
        raise LoggerFileError(
            source, f"cannot read the time {samples[0]!r}", row=first_row, column="time"
        )
    best: tuple[int, int, int] | None = None
    chosen = fits[0]
    for order, grammar in enumerate(fits):
        times = [grammar.parse(s) for s in samples]
        if any(t is None for t in times):
            continue
        steps = [b - a for a, b in itertools.pairwise(times)]  # type: ignore[operator]
        score = (len(set(steps)), sum(1 for s in steps if s < timedelta(0)), order)
        if best is None or score < best:
            best, chosen = score, grammar
    return chosen


# ----- columns and rows ------------------------------------------------------------------------

_TIME_NAMES = re.compile(r"^(date[\s\-_/]*time|datetime|timestamp|time|date|zeit|datum)\b", re.I)
_DATE_ONLY = re.compile(r"^(date|datum)$", re.I)
_CLOCK_ONLY = re.compile(r"^(time|zeit|uhrzeit)\b", re.I)
_TEMPERATURE = re.compile(r"temp|celsius|fahrenheit|^t\b|^t\s*[/(\[]|°\s*[CF]", re.I)
_HUMIDITY = re.compile(r"\brh\b|humid|feuchte|%\s*r[hF]|^r\.?h", re.I)
_EXCLUDED = re.compile(
    r"dew|dpt|taupunkt|alarm|set|serial|min|max|average|battery|abs|vpd|heat\s*index", re.I
)
_EVENTS = re.compile(
    r"coupler|host connected|stopped|end of file|bad battery|button|logged|started", re.I
)


@dataclass(frozen=True, slots=True)
class Columns:
    """Where a table's quantities are: cell indexes, and the temperature unit of its header."""

    time: int
    clock: int | None = None
    temperature: int | None = None
    humidity: int | None = None
    temperature_unit: Literal["C", "F"] = "C"
    events: tuple[int, ...] = ()


def find_columns(header: Sequence[str], source: str, row: int) -> Columns:
    """The columns of a header row by their names (``Date Time``, ``Temp, °C``, ``RH, %`` …).

    The first temperature-like and the first humidity-like column win; dew point, alarm and set
    point columns are never taken. Raises `LoggerFileError` when there is no time column or
    neither a temperature nor a humidity column.
    """
    time = clock = temperature = humidity = None
    unit: Literal["C", "F"] = "C"
    events: list[int] = []
    for index, raw in enumerate(header):
        name = raw.strip()
        if not name or name == "#":
            continue
        if _EVENTS.search(name):
            events.append(index)
        elif time is None and _TIME_NAMES.match(name):
            time = index
        elif (
            time is not None
            and clock is None
            and _CLOCK_ONLY.match(name)
            and _DATE_ONLY.match(header[time].strip())
        ):
            clock = index
        elif _EXCLUDED.search(name):
            continue
        elif humidity is None and _HUMIDITY.search(name):
            humidity = index
        elif temperature is None and _TEMPERATURE.search(name):
            temperature = index
            unit = temperature_unit(name) or "C"
    if time is None:
        raise LoggerFileError(source, f"no date/time column in the header {list(header)}", row=row)
    if temperature is None and humidity is None:
        raise LoggerFileError(
            source, f"no temperature or humidity column in the header {list(header)}", row=row
        )
    return Columns(time, clock, temperature, humidity, unit, tuple(events))


_HUMIDITY_UNIT = re.compile(r"%|\brh\b|\brf\b", re.I)
_END_MARKERS = re.compile(r"^\W*(end of (data|file)|-+\s*end of data|alarm limits)", re.I)


def read_rows(
    out: LoggerFile,
    lines: Sequence[str],
    start: int,
    columns: Columns,
    delimiter: str,
    source: str,
    *,
    candidates: Sequence[TimeGrammar] = DEFAULT_GRAMMARS,
    header_names: Sequence[str] = (),
    stop: Callable[[str], bool] | None = None,
) -> LoggerFile:
    """Read the data rows ``lines[start:]`` into ``out`` (rows and skips); ``out`` is returned.

    Row numbers are 1-based line numbers of the file. Blank lines are passed over; a line that
    marks the end of data (``---- END OF DATA ----``, ``Alarm Limits``, or ``stop(line)``) ends
    the table. A row whose quantity cells are all empty is skipped as an ``event`` (when an event
    column holds something) or ``no_value``. Raises `LoggerFileError` for a cell that is not a
    number, a time that does not fit the file's grammar, or a row with more (non-empty) cells
    than the header.
    """
    decimal_comma = delimiter != ","
    names = list(header_names)

    def column_name(index: int) -> str:
        return names[index] if index < len(names) and names[index] else f"#{index + 1}"

    time_index, clock_index = columns.time, columns.clock
    t_index = -1 if columns.temperature is None else columns.temperature
    h_index = -1 if columns.humidity is None else columns.humidity
    width = len(names)
    fahrenheit = columns.temperature_unit == "F"
    # The fast path below reads a row whose cells are plain numbers and whose time is on the
    # clock column alone; everything else (units in cells, empty cells, a separate clock column,
    # a row longer than the header) takes the general path through `value_of`.
    simple = clock_index is None and width > max(t_index, h_index, time_index)

    def time_text(cells: list[str]) -> str:
        text = cells[time_index] if time_index < len(cells) else ""
        if clock_index is not None and clock_index < len(cells):
            text = f"{text} {cells[clock_index]}"
        return text

    plain = (
        _plain_table(lines, start, delimiter, width)
        if simple and max(t_index, h_index) >= 0
        else None
    )
    if plain is not None:
        samples = [cells[time_index] for cells in plain[:500]]
        grammar = choose_grammar(samples, candidates, source, start + 1)
        if _read_plain(out, plain, start + 1, grammar, time_index, t_index, h_index, fahrenheit):
            return out
        table = list(zip(range(start + 1, start + 1 + len(plain)), plain, strict=True))
    else:
        table = []
        blank = delimiter + ' \t"\ufeff'
        digits = "0123456789"
        for index in range(start, len(lines)):
            line = lines[index]
            if not line or not line.strip(blank):
                continue
            if line[0] not in digits and (
                _END_MARKERS.match(line) or (stop is not None and stop(line))
            ):
                break
            table.append((index + 1, _data_cells(line, delimiter)))
        samples = [time_text(cells) for _, cells in table[:500]]
        grammar = choose_grammar(samples, candidates, source, table[0][0] if table else start + 1)
    append, new_row = out.rows.append, tuple.__new__  # a LoggerRow without its __new__
    parse_time = grammar.column_parser()

    def value_of(cells: list[str], index: int | None, row: int, temperature: bool) -> float | None:
        if index is None or index >= len(cells):
            return None
        try:
            parsed = parse_number(cells[index], decimal_comma=decimal_comma)
        except ValueError as exc:
            raise LoggerFileError(source, str(exc), row=row, column=column_name(index)) from None
        if parsed is None:
            return None
        value, unit = parsed
        if unit and (
            (temperature_unit(unit) is None and unit != "°")
            if temperature
            else not _HUMIDITY_UNIT.search(unit)
        ):
            wanted = "°C or °F" if temperature else "%RH"
            raise LoggerFileError(
                source,
                f"{cells[index].strip()!r}: the unit {unit!r} is not {wanted}",
                row=row,
                column=column_name(index),
            )
        if temperature:
            cell_unit = temperature_unit(unit) if unit else None
            if cell_unit == "F" or (cell_unit is None and fahrenheit):
                value = fahrenheit_to_celsius(value)
        return value

    for row, cells in table:
        temperature: float | None
        humidity: float | None
        if simple and len(cells) == width:
            try:
                temperature = float(cells[t_index]) if t_index >= 0 else None
                humidity = float(cells[h_index]) if h_index >= 0 else None
            except ValueError:
                temperature = value_of(cells, columns.temperature, row, True)
                humidity = value_of(cells, columns.humidity, row, False)
            else:
                if temperature is not None:
                    if temperature - temperature != 0.0:  # NaN or infinite: the general path
                        temperature = value_of(cells, columns.temperature, row, True)
                    elif fahrenheit:
                        temperature = fahrenheit_to_celsius(temperature)
                if humidity is not None and humidity - humidity != 0.0:
                    humidity = value_of(cells, columns.humidity, row, False)
            text = cells[time_index]
        else:
            if width and len(cells) > width and any(c.strip() for c in cells[width:]):
                raise LoggerFileError(
                    source,
                    f"{len(cells)} cells where the header has {width} (a decimal comma in a "
                    "comma-separated file, or a shifted row)",
                    row=row,
                )
            temperature = value_of(cells, columns.temperature, row, True)
            humidity = value_of(cells, columns.humidity, row, False)
            text = time_text(cells)
        if temperature is None and humidity is None:
            is_event = any(i < len(cells) and cells[i].strip() for i in columns.events)
            out.skipped.append(Skip(row, "event" if is_event else "no_value"))
            continue
        when = parse_time(text)
        if when is None:
            raise LoggerFileError(
                source,
                f"cannot read the time {text!r} (the file's format is {grammar.pattern!r})",
                row=row,
                column=column_name(time_index),
            )
        append(new_row(LoggerRow, (row, when, temperature, humidity)))
    return out


_DIGITS = frozenset("0123456789")


def _plain_table(
    lines: Sequence[str], start: int, delimiter: str, width: int
) -> list[list[str]] | None:
    """The cells of ``lines[start:]`` when every line is a plain data row of ``width`` cells.

    Plain: it starts with a digit (so it is neither blank nor an end marker, and `read_rows`
    would keep it), holds no quote, and splits into ``width`` cells; ``None`` when any line is
    not (`read_rows` then reads line by line). Each test runs over the whole column at once.
    """
    data = lines[start:]
    if not data or "" in data or not _DIGITS.issuperset(map(operator.itemgetter(0), data)):
        return None
    if any(map(operator.contains, data, repeat('"'))):
        return None
    cells = list(map(str.split, data, repeat(delimiter)))
    if not all(map(width.__eq__, map(len, cells))):
        return None
    return cells


def _read_plain(
    out: LoggerFile,
    cells: list[list[str]],
    first_row: int,
    grammar: TimeGrammar,
    time_index: int,
    t_index: int,
    h_index: int,
    fahrenheit: bool,
) -> bool:
    """Append the rows of a `_plain_table` to ``out`` as whole columns; False (nothing
    appended) when a value is not a plain finite number or a time does not read, so that
    `read_rows` reads row by row and words the error, or the general cell, as it always has."""
    by_column = list(zip(*cells, strict=True))
    try:
        temperatures = list(map(float, by_column[t_index])) if t_index >= 0 else None
        humidities = list(map(float, by_column[h_index])) if h_index >= 0 else None
    except ValueError:
        return False
    # A NaN or an infinity makes the sum not finite (as may finite but huge values, which then
    # merely take the general path too).
    if temperatures is not None and not math.isfinite(sum(temperatures)):
        return False
    if humidities is not None and not math.isfinite(sum(humidities)):
        return False
    if temperatures is not None and fahrenheit:
        temperatures = list(map(fahrenheit_to_celsius, temperatures))
    rows_wanted = bool(out.rows) or _ROWS_WANTED.get()
    times, local_ns = grammar.parse_column(by_column[time_index], datetimes=rows_wanted)
    if local_ns is not None:
        out.columns = LocalColumns(first_row, local_ns, temperatures, humidities)
        if not rows_wanted:
            return True
    if times is None or None in times:
        return False
    count = len(cells)
    out.rows.extend(
        map(
            tuple.__new__,
            repeat(LoggerRow),
            zip(
                range(first_row, first_row + count),
                times,
                repeat(None, count) if temperatures is None else temperatures,
                repeat(None, count) if humidities is None else humidities,
                strict=True,
            ),
        )
    )
    return True


_GMT_OFFSET = re.compile(r"(?:GMT|UTC)\s*([+\-−])\s*(\d{1,2})(?::?(\d{2}))?", re.I)


def header_offset(text: str) -> timedelta | None:
    """The fixed offset a header states (``GMT-05:00``, ``UTC+1``, bare ``GMT``), else ``None``."""
    match = _GMT_OFFSET.search(text)
    if match is not None:
        sign = -1 if match.group(1) in "-−" else 1
        return sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3) or 0))
    if re.search(r"\b(GMT|UTC)\b", text):
        return timedelta(0)
    return None


def text_lines(text: str) -> list[str]:
    """The lines of a file's text, any line ending."""
    return text.splitlines()


def head_lines(text: str, count: int) -> list[str]:
    """``text_lines(text)[:count]`` without splitting the whole text (format detection reads 40
    lines of what may be a year of minute rows: splitting all 20 MB took ~0.1 s).

    A prefix holding more than ``count`` lines has its first ``count`` complete (a cut inside
    ``\r\n`` only ends the last, partial one early), so they are the text's first lines.
    """
    size = 4096
    while True:
        lines = text[:size].splitlines()
        if len(lines) > count or size >= len(text):
            return lines[:count]
        size *= 4


def read_table(
    fmt: str,
    lines: Sequence[str],
    header_index: int,
    source: str,
    *,
    candidates: Sequence[TimeGrammar] = DEFAULT_GRAMMARS,
    header: Sequence[str] | None = None,
    data_start: int | None = None,
    delimiter: str | None = None,
) -> LoggerFile:
    """A file that is one header row (``lines[header_index]``) over data rows.

    ``header`` replaces the header cells (transposed or multi-row headers); ``data_start`` is
    the index of the first data line (default: the line after the header). The time column's
    header may state a fixed offset (``GMT-05:00``), which becomes the file's ``utc_offset``.
    """
    start = header_index + 1 if data_start is None else data_start
    if delimiter is None:
        delimiter = sniff_delimiter([lines[header_index], *lines[start : start + 5]])
    cells = list(header) if header is not None else split_line(lines[header_index], delimiter)
    columns = find_columns(cells, source, header_index + 1)
    offset = header_offset(cells[columns.time])
    if offset is None and columns.clock is not None:
        offset = header_offset(cells[columns.clock])
    out = LoggerFile(fmt, utc_offset=offset)
    return read_rows(
        out, lines, start, columns, delimiter, source, candidates=candidates, header_names=cells
    )


def find_line(lines: Sequence[str], test: Callable[[str], bool], limit: int = 60) -> int | None:
    """Index of the first of the first ``limit`` lines that passes ``test``."""
    for index, line in enumerate(lines[:limit]):
        if test(line):
            return index
    return None
