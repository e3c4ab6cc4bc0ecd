"""Rotronic HW4 exports: INI-like sections, every line padded with delimiters.

``[#I]`` (file info), ``[#S]`` (``Serial Number = …``, ``Log Interval = 12:00:00``), ``[#1]``,
``[#2]`` (channel units and alarm limits: ``Temperature = °C``, often mis-encoded ``∞C``),
``[#H]`` then the header ``Date,Time,Humidity,Temperature`` (humidity first!), ``[#D]`` then rows
``DD/MM/YYYY,HH:MM:SS,RH,T``. Files named ``.xls`` are often tab-separated Latin-1 text; the
serial in the content may differ from the file name. No time zone.
"""

from __future__ import annotations

import re

from repoclimate.sensors.loggers.base import (
    LoggerFile,
    LoggerFileError,
    find_line,
    grammars,
    read_table,
    sniff_delimiter,
    split_line,
    temperature_unit,
    text_lines,
)

GRAMMARS = grammars(("%d/%m/%Y", "%d.%m.%Y", "%m/%d/%Y", "%Y-%m-%d", "%d/%m/%y"))


def sniff(lines: list[str]) -> bool:
    """Whether the first lines are a Rotronic HW4 export."""
    return any(line.lstrip('"').startswith(("[#I]", "[#S]", "[#H]")) for line in lines[:10])


def parse(text: str, source: str) -> LoggerFile:
    """The rows of a Rotronic HW4 export."""
    lines = text_lines(text)
    section = find_line(lines, lambda line: line.lstrip('"').startswith("[#H]"), limit=200)
    data = find_line(lines, lambda line: line.lstrip('"').startswith("[#D]"), limit=400)
    if section is None or data is None:
        raise LoggerFileError(source, "no [#H] header or [#D] data section in a Rotronic file")
    header_index = find_line(lines[section + 1 :], lambda line: bool(line.strip(',;\t "')), limit=5)
    if header_index is None:
        raise LoggerFileError(source, "empty [#H] section", row=section + 1)
    header_index += section + 1
    delimiter = sniff_delimiter(lines[header_index : header_index + 1] + lines[data + 1 : data + 4])
    header = [c for c in split_line(lines[header_index], delimiter)]
    unit = next(
        (
            temperature_unit(line)
            for line in lines[:section]
            if line.lstrip().lower().startswith("temperature") and "=" in line
        ),
        None,
    )
    if unit == "F":
        header = [f"{c} °F" if c.lower().startswith("temp") else c for c in header]
    out = read_table(
        "rotronic",
        lines,
        header_index,
        source,
        candidates=GRAMMARS,
        header=header,
        data_start=data + 1,
        delimiter=delimiter,
    )
    for line in lines[:section]:
        match = re.match(r"\s*Serial Number\s*=\s*([^,;\t]+)", line, re.I)
        if match:
            out.serial = match.group(1).strip()
    return out
