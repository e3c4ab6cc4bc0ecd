"""Schönbauer miniClima (EBC / SKV humidifiers) log exports.

``date,time;T/°C;RH/%;set/%;alarmMin/%;alarmMax/%;timediffernce``: a comma between date and
time, semicolons elsewhere, dates ``DD.MM.YY``. The set point and alarm columns are not
measurements and are not imported. No time zone.
"""

from __future__ import annotations

from repoclimate.sensors.loggers.base import LoggerFile, grammars, read_table, text_lines

GRAMMARS = grammars(("%d.%m.%y", "%d.%m.%Y", "%Y-%m-%d"))


def sniff(lines: list[str]) -> bool:
    """Whether the first line is a miniClima header."""
    return bool(lines) and lines[0].replace(" ", "").lower().startswith("date,time;")


def parse(text: str, source: str) -> LoggerFile:
    """The rows of a miniClima export."""
    return read_table("miniclima", text_lines(text), 0, source, candidates=GRAMMARS, delimiter=";")
