"""T&D (TR-7x, TR-74Ui light/UV/T/RH) CSV exports from T&D Graph / Thermo Recorder software.

Three header rows — logger channels (``No.1``…), channel names (``Illuminance``, ``UV``,
``Temperature``, ``Humidity``, ``Cumulative Illuminance``), units (``lx``, ``mW/cm2``, ``°C``,
``%``, ``lxh``) — over rows with the local date-time and an Excel serial of it. Cumulative values
appear on the final row only and are not imported. The degree sign is 0xB0 or U+FFFD; the Excel
re-saved variant is unquoted with a leading empty column. No time zone.
"""

from __future__ import annotations

from repoclimate.sensors.loggers.base import (
    LoggerFile,
    LoggerFileError,
    find_line,
    grammars,
    read_table,
    sniff_delimiter,
    split_line,
    text_lines,
)

GRAMMARS = grammars(("%Y/%m/%d", "%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y"))


def sniff(lines: list[str]) -> bool:
    """Whether the first lines are a T&D export: Cumulative channels, or ``No.1`` channels with
    a units row holding lx or a ``Serial Value`` column (a T/RH-only TR-72 has no lx)."""
    head = "\n".join(lines[:4])
    return "Cumulative" in head or ("No.1" in head and ("lx" in head or "Serial Value" in head))


def parse(text: str, source: str) -> LoggerFile:
    """The rows of a T&D export."""
    lines = text_lines(text)
    first = find_line(lines, lambda line: "No." in line or "Date" in line, limit=10)
    if first is None or first + 3 > len(lines):
        raise LoggerFileError(source, "no three-row T&D header (channels, names, units)")
    delimiter = sniff_delimiter(lines[first : first + 5])
    rows = [split_line(lines[first + i], delimiter) for i in range(3)]
    width = max(len(r) for r in rows)
    names = []
    for index in range(width):
        parts = [r[index] if index < len(r) else "" for r in rows]
        name = " ".join(p for p in parts if p)
        names.append("Cumulative" if "cumulative" in name.lower() else name)
    return read_table(
        "tandd",
        lines,
        first + 2,
        source,
        candidates=GRAMMARS,
        header=names,
        data_start=first + 3,
        delimiter=delimiter,
    )
