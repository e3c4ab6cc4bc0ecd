"""Trend BMS (963 / IQ) point-log exports: one point per file.

``Timestamp,<point label>(°C)`` over rows ``DD-Mon-YY H:MM:SS am`` (12-hour clock, lower-case
am/pm, unpadded hour). A building that logs temperature and humidity as two points exports two
files; import them together and they are joined on time. No time zone.
"""

from __future__ import annotations

import re

from repoclimate.sensors.loggers.base import LoggerFile, grammars, read_table, text_lines

GRAMMARS = grammars(
    ("%d-%b-%y", "%d-%b-%Y", "%d/%m/%Y", "%d/%m/%y"),
    ("%I:%M:%S %p", "%I:%M %p", "%H:%M:%S", "%H:%M"),
)
_ROW = re.compile(r"^\W*\d{1,2}-[A-Za-z]{3}-\d{2,4} \d{1,2}:\d{2}(:\d{2})? ?[aApP][mM]")


def sniff(lines: list[str]) -> bool:
    """Whether the first lines are a Trend point log."""
    return (
        len(lines) > 1
        and lines[0].lstrip('"').lower().startswith("timestamp")
        and bool(_ROW.match(lines[1]))
    )


def parse(text: str, source: str) -> LoggerFile:
    """The rows of a Trend point-log export."""
    return read_table("trend", text_lines(text), 0, source, candidates=GRAMMARS)
