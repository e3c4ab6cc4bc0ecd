"""Onset HOBO exports: HOBOware CSV and HOBOconnect / HOBOmobile (MX loggers) CSV.

HOBOware: ``"Plot Title: <name>"`` on line 1 (absent when the export leaves it out), then a quoted
header ``"#","Date Time, GMT-05:00","Temp, °C (LGR S/N: …)","RH, % (…)"`` followed by event
columns (``Coupler Detached``, ``Host Connected``, ``Stopped``, ``End Of File``) that hold
``Logged`` on event rows. The ``GMT±hh:mm`` of the time header is a fixed offset for the whole
file (no daylight saving). Dates follow the PC's preferences: ``10/10/19 11:00:00 AM``
(month-first, 12 h) is the common one, ``24/07/20 21:00:00`` (year-first!) is seen too; the
grammar under which the rows step regularly is taken.

Older HOBOware writes ``"Time, GMT…"`` and ``Temp, °C()``, and the plot title may be left out:
the ``"#"`` column beside a time with ``GMT``/``UTC`` is the signature then.

HOBOconnect: ``"#","Date-Time (EDT)","Ch: 1 - Temperature   (°C)","Ch: 2 - RH   (%)", …``. A
single zone abbreviation is a fixed offset (`ABBREVIATIONS`); a pair (``EST/EDT``) means a clock
that follows daylight saving, so the file has no offset of its own and the importer's zone
applies.
"""

from __future__ import annotations

import re
from datetime import timedelta

from repoclimate.sensors.loggers.base import (
    LoggerFile,
    find_line,
    grammars,
    read_table,
    split_line,
    text_lines,
)

ABBREVIATIONS: dict[str, float] = {
    "UTC": 0, "GMT": 0, "WET": 0, "BST": 1, "WEST": 1, "IST": 1, "CET": 1, "CEST": 2,
    "EET": 2, "EEST": 3, "MSK": 3, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7,
    "MDT": -6, "PST": -8, "PDT": -7, "AKST": -9, "AKDT": -8, "HST": -10, "AEST": 10,
    "AEDT": 11, "ACST": 9.5, "AWST": 8, "NZST": 12, "NZDT": 13, "JST": 9, "KST": 9,
}  # fmt: skip
"""Offsets [h] of the zone abbreviations HOBOconnect writes in ``Date-Time (…)``."""

_DATES = (
    "%m/%d/%y", "%m/%d/%Y", "%y/%m/%d", "%d/%m/%y", "%d/%m/%Y", "%Y/%m/%d", "%Y-%m-%d",
    "%d.%m.%y", "%d.%m.%Y", "%m-%d-%y", "%d-%m-%y",
)  # fmt: skip
GRAMMARS = grammars(_DATES)
_HEADER = re.compile(r"^\W*#\W*[,;\t]\W*(date|time)", re.I)
_GMT = re.compile(r"(date\s*)?time,\s*(GMT|UTC)", re.I)
_ABBREVIATION = re.compile(r"date[\s\-]*time\s*\(([A-Z]{2,5})\)", re.I)


def sniff(lines: list[str]) -> bool:
    """Whether the first lines are a HOBO export."""
    head = "\n".join(lines[:3])
    return (
        "Plot Title" in head
        or "LGR S/N" in head
        or any(
            _HEADER.match(line) and ("Ch:" in line or "Date-Time" in line or _GMT.search(line))
            for line in lines[:2]
        )
    )


def parse(text: str, source: str) -> LoggerFile:
    """The rows of a HOBOware or HOBOconnect CSV export."""
    lines = text_lines(text)
    header_index = find_line(lines, lambda line: bool(_HEADER.match(line)))
    if header_index is None:
        header_index = 1 if lines and "Plot Title" in lines[0] else 0
    out = read_table("hobo", lines, header_index, source, candidates=GRAMMARS)
    header = lines[header_index]
    if out.utc_offset is None:
        match = _ABBREVIATION.search(header)
        if match and match.group(1).upper() in ABBREVIATIONS:
            out.utc_offset = timedelta(hours=ABBREVIATIONS[match.group(1).upper()])
    serial = re.search(r"(?:LGR S/N|Serial Number)\W*(\d+)", header)
    out.serial = serial.group(1) if serial else None
    if header_index > 0 and "Plot Title" in lines[0]:
        title = split_line(lines[0], ",")[0]
        out.name = title.split(":", 1)[1].strip() if ":" in title else None
    return out
