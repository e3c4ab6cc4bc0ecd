"""Meaco (Meacom / Meaco Wireless) receiver exports, in their two layouts.

A: ``RECEIVER,TRANSMITTER,DATE,TEMPERATURE,HUMIDITY`` (or ``…,LUX,UV``), quoted, times
``"YYYY-MM-DD HH:MM"``. B: line 1 ``"<Receiver> - <Transmitter> - ID: 00"``, header
``Timestamp," Temperature"," Humidity"`` (leading spaces inside the quotes), day-first
``"DD/MM/YYYY HH:MM"``. No units (°C, %RH) and no time zone.
"""

from __future__ import annotations

import re

from repoclimate.sensors.loggers.base import LoggerFile, grammars, read_table, text_lines

GRAMMARS = grammars(("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y", "%Y/%m/%d"))
_TITLE = re.compile(r"^\W*.+ - .+ - ID:\s*\w+", re.I)


def sniff(lines: list[str]) -> bool:
    """Whether the first lines are a Meaco export."""
    first = lines[0].upper().replace('"', "") if lines else ""
    return first.startswith("RECEIVER,TRANSMITTER") or bool(lines and _TITLE.match(lines[0]))


def parse(text: str, source: str) -> LoggerFile:
    """The rows of a Meaco export."""
    lines = text_lines(text)
    header_index = 1 if lines and _TITLE.match(lines[0]) else 0
    out = read_table("meaco", lines, header_index, source, candidates=GRAMMARS)
    if header_index == 1:
        out.name = lines[0].strip().strip('"')
    return out
