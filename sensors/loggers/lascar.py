"""Lascar EasyLog (EL-USB) exports.

``<name>,Time,Celsius(°C),Humidity(%rh),dew point(°C),Serial Number``; the first data row carries
the logger's serial number in the sixth cell, later rows have five. Dates follow the PC's locale
(``dd/mm/yyyy HH:MM:SS`` in Europe, ``YYYY-MM-DD HH:MM:SS`` in newer software); the degree sign
may be written ``deg C``. No time zone.
"""

from __future__ import annotations

import re

from repoclimate.sensors.loggers.base import (
    LoggerFile,
    grammars,
    read_table,
    sniff_delimiter,
    split_line,
    text_lines,
)

GRAMMARS = grammars(
    ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d/%m/%y", "%m/%d/%y", "%d-%m-%Y")
)
_HEADER = re.compile(r"^[^,;\t]*[,;\t]\s*Time\s*[,;\t]\s*(Celsius|Fahrenheit)", re.I)


def sniff(lines: list[str]) -> bool:
    """Whether the first line is an EasyLog header."""
    return bool(lines and _HEADER.match(lines[0]))


def parse(text: str, source: str) -> LoggerFile:
    """The rows of an EasyLog export."""
    lines = text_lines(text)
    delimiter = sniff_delimiter(lines[:3])
    header = split_line(lines[0], delimiter)
    # The first cell is the logger's name, whatever it says ("Time capsule" is not a time).
    cells = ["", *header[1:]]
    out = read_table(
        "lascar", lines, 0, source, candidates=GRAMMARS, header=cells, delimiter=delimiter
    )
    out.name = header[0] or None
    if len(lines) > 1:
        first = split_line(lines[1], delimiter)
        out.serial = first[5] if len(first) > 5 and first[5] else None
    return out
