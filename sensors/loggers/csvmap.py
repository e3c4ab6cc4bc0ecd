"""Any CSV-like table with a header row: columns found by name, or named by a mapping.

Without a mapping, the header is the first of the first 30 lines that has a date/time column and
a temperature or humidity column (`base.find_columns`: ``Date Time``, ``Timestamp``, ``Temp
(°F)``, ``RH %``…). With a mapping (``{"time": "Zeitstempel", "temperature": "T1",
"humidity": "F1"}``, optionally ``"clock"`` for a separate time-of-day column and
``"temperature_unit": "F"``) the header is the first line holding every mapped name.
"""

from __future__ import annotations

from collections.abc import Mapping

from repoclimate.sensors.loggers.base import (
    Columns,
    LoggerFile,
    LoggerFileError,
    find_columns,
    header_offset,
    read_rows,
    read_table,
    sniff_delimiter,
    split_line,
    text_lines,
)

MAPPING_KEYS = ("time", "clock", "temperature", "humidity", "temperature_unit")
"""What a column mapping may name."""


def sniff(lines: list[str]) -> bool:
    """Whether some early line is a header this reader understands."""
    return _header_index(lines, "<sniff>") is not None


def _header_index(lines: list[str], source: str) -> int | None:
    for index, line in enumerate(lines[:30]):
        delimiter = sniff_delimiter([line])
        try:
            find_columns(split_line(line, delimiter), source, index + 1)
        except LoggerFileError:
            continue
        return index
    return None


def parse(text: str, source: str, mapping: Mapping[str, str] | None = None) -> LoggerFile:
    """The rows of a table, its columns found by name or given by ``mapping``."""
    lines = text_lines(text)
    if not mapping:
        index = _header_index(lines, source)
        if index is None:
            raise LoggerFileError(
                source, "no header line with a date/time and a temperature or humidity column"
            )
        return read_table("csv", lines, index, source)
    unknown = set(mapping) - set(MAPPING_KEYS)
    if unknown:
        raise LoggerFileError(source, f"unknown column mapping keys {sorted(unknown)}")
    if "time" not in mapping or not ({"temperature", "humidity"} & set(mapping)):
        raise LoggerFileError(source, "a column mapping needs time and temperature or humidity")
    names = [mapping[k] for k in ("time", "clock", "temperature", "humidity") if k in mapping]
    for index, line in enumerate(lines[:60]):
        delimiter = sniff_delimiter(lines[index : index + 3])
        cells = split_line(line, delimiter)
        if all(name in cells for name in names):
            break
    else:
        raise LoggerFileError(source, f"no header line holds the mapped columns {names}")

    def position(key: str) -> int | None:
        return cells.index(mapping[key]) if key in mapping else None

    unit = mapping.get("temperature_unit", "C").upper()
    if unit not in ("C", "F"):
        raise LoggerFileError(source, f"temperature_unit must be C or F, not {unit!r}")
    columns = Columns(
        time=cells.index(mapping["time"]),
        clock=position("clock"),
        temperature=position("temperature"),
        humidity=position("humidity"),
        temperature_unit="F" if unit == "F" else "C",
    )
    out = LoggerFile("csv", utc_offset=header_offset(mapping["time"]))
    return read_rows(out, lines, index + 1, columns, delimiter, source, header_names=cells)
