"""Govee Home app CSV exports (H5075, H5179, H5106 …).

UTF-8 with a BOM; header ``Timestamp for sample frequency every 15 min min, Temperature_Celsius,
Relative_Humidity`` (older app) or ``Timestamp,PM2.5(µg/m³),Temperature_Fahrenheit,
Relative_Humidity`` (H5106). The temperature unit is the app's display setting, named in the
header; times ``YYYY-MM-DD HH:MM:SS`` on the phone's local clock, so the hour repeated at the
end of daylight saving is not represented twice. No time zone.
"""

from __future__ import annotations

from repoclimate.sensors.loggers.base import LoggerFile, grammars, read_table, text_lines

GRAMMARS = grammars(("%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y"))


def sniff(lines: list[str]) -> bool:
    """Whether the first line is a Govee header."""
    first = lines[0] if lines else ""
    return first.startswith("Timestamp") and (
        "Temperature_" in first or "Relative_Humidity" in first
    )


def parse(text: str, source: str) -> LoggerFile:
    """The rows of a Govee export."""
    return read_table("govee", text_lines(text), 0, source, candidates=GRAMMARS)
