"""Testo (ComSoft / testo Saveris / 17x loggers) table exports.

No public description or sample of this export was found; this reader follows the layout the
makers' German-locale software is known to produce for tables (a semicolon-separated header with
``Datum/Zeit`` or ``Date/Time`` and quantities with their unit, ``°C`` and ``%rF``/``%RH``,
decimal commas) and the same header-by-name rules as every other format here. Rows above the
header (device, serial, program) are read for the serial number. No time zone.
"""

from __future__ import annotations

import re

from repoclimate.sensors.loggers.base import (
    LoggerFile,
    LoggerFileError,
    find_line,
    grammars,
    read_table,
    text_lines,
)

GRAMMARS = grammars(("%d.%m.%Y", "%d.%m.%y", "%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y"))
_HEADER = re.compile(r"^\W*(datum|date)\s*/?\s*(zeit|time)?\W*[;,\t]", re.I)


def sniff(lines: list[str]) -> bool:
    """Whether the first lines are a Testo export."""
    head = "\n".join(lines[:15]).lower()
    return "testo" in head


def parse(text: str, source: str) -> LoggerFile:
    """The rows of a Testo table export."""
    lines = text_lines(text)
    header_index = find_line(lines, lambda line: bool(_HEADER.match(line)))
    if header_index is None:
        raise LoggerFileError(source, "no 'Datum/Zeit' or 'Date/Time' header line in a Testo file")
    out = read_table("testo", lines, header_index, source, candidates=GRAMMARS)
    for line in lines[:header_index]:
        match = re.search(r"(?:serial|seriennummer|s/n)\W*(\w+)", line, re.I)
        if match:
            out.serial = match.group(1)
    return out
