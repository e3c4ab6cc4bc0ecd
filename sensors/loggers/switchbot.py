"""SwitchBot app exports (Meter, Meter Plus, Outdoor Meter, Hub 2, CO2 meter): CSV or ``.xlsx``.

Not in LOGGERS.md (no sample was found there); the layout is the one public code that reads real
app exports describes: a UTF-8 BOM, every cell quoted, header ``Timestamp``,
``Temperature_Celsius(°C)``, ``Relative_Humidity(%)``, ``CO2(ppm)`` (CO2 models only), then the
app-computed ``Absolute_Humidity(g/m³)``, ``DPT_Celsius(°C)`` (dew point) and ``VPD(kPa)``;
older app versions write ``Date``, ``Temperature_Celsius(℃)``, ``Relative_Humidity(%)``. With the
app set to Fahrenheit the column is ``Temperature_Fahrenheit(℉)`` (converted). Times
``YYYY-MM-DD HH:MM:SS`` on the phone's local clock, about one row a minute with jitter; no time
zone, and no device id (the app puts the device name in the file name). The ``.xlsx`` export
holds the same table on its first sheet, times as Excel dates.
"""

from __future__ import annotations

import re

from repoclimate.sensors.loggers.base import LoggerFile, grammars, read_table, text_lines

GRAMMARS = grammars(("%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y"))
_HEADER = re.compile(r"^\W*(timestamp|date)\W*[,;\t]\W*temperature_(celsius|fahrenheit)\s*\(", re.I)


def sniff(lines: list[str]) -> bool:
    """Whether the first line is a SwitchBot header."""
    return bool(lines) and bool(_HEADER.match(lines[0]))


def parse(text: str, source: str) -> LoggerFile:
    """The rows of a SwitchBot app export."""
    return read_table("switchbot", text_lines(text), 0, source, candidates=GRAMMARS)
