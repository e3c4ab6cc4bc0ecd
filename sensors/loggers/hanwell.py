"""Hanwell exports: the stand-alone logger export and the EMS export.

Logger export: a blank line, ``Database Valid``, an indented ``key:,value`` block (``Sensor:``,
``Serial No:``, ``Data Starts:,00:00 21/Nov/2025``, ``No. of Readings:``), then the header
``Time, Temperature (C),Humidity (RH(%)),`` over rows ``HH:MM:SS DD/Mon/YYYY,t,rh,`` (time before
date, month abbreviations, a trailing comma). EMS export: a sensor line above ``Date Time``,
``Temperature (C)``, ``Humidity (%RH)`` with day-first dates or Excel serial days (1900 date
system in a text file; an ``.xlsx`` is read with its own), ending at ``---- END OF DATA ----``
and a summary. Neither states a time zone.
"""

from __future__ import annotations

import re

from repoclimate.sensors.loggers.base import (
    ExcelSerialGrammar,
    LoggerFile,
    LoggerFileError,
    find_line,
    grammars,
    read_table,
    split_line,
    text_lines,
)

_DATES = ("%d/%b/%Y", "%d/%b/%y", "%d-%b-%Y", "%d/%m/%Y", "%d/%m/%y", "%Y-%m-%d")
GRAMMARS = [*grammars(_DATES, time_first=True), *grammars(_DATES), ExcelSerialGrammar()]
_HEADER = re.compile(r"^\s*\"?(date\s*time|time)\"?\s*[,;\t]", re.I)


def sniff(lines: list[str]) -> bool:
    """Whether the first lines are a Hanwell export."""
    head = "\n".join(lines[:30])
    return (
        "Database Valid" in head
        or "Hanwell" in head
        or "Data Starts:" in head
        or any(line.replace('"', "").startswith("Date Time,Temperature (C)") for line in lines[:5])
    )


def parse(text: str, source: str) -> LoggerFile:
    """The rows of a Hanwell logger or EMS export."""
    lines = text_lines(text)
    header_index = find_line(
        lines, lambda line: bool(_HEADER.match(line)) and "temp" in line.lower()
    )
    if header_index is None:
        raise LoggerFileError(source, "no 'Time, Temperature …' header line in a Hanwell file")
    out = read_table("hanwell", lines, header_index, source, candidates=GRAMMARS)
    for line in lines[:header_index]:
        cells = split_line(line, ",")
        key = cells[0].rstrip(":").strip().lower() if cells else ""
        value = next((c for c in cells[1:] if c), None)
        if key in ("serial no", "serial number") and value:
            out.serial = value
        elif key == "sensor" and value:
            out.name = value
    return out
