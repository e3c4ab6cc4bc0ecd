"""Gemini Tinytag Explorer exports, with their transposed header block.

::

    ,Time,1,2
    S/N,,359558,359558
    Type,,TGU-4500,TGU-4500
    Description,,Stack 3,Stack 3
    Property,,Temperature,Humidity
    1,2010-07-02 13:30:09,19.463 °C,56.3 %RH

Values may carry their unit inside the cell (``13.1 °C``, ``56.3 %RH``; °F converted); files are
often Latin-1 with CRLF line ends. A derived dew-point channel is ignored. No time zone.
"""

from __future__ import annotations

from repoclimate.sensors.loggers.base import (
    LoggerFile,
    LoggerFileError,
    find_line,
    grammars,
    read_table,
    sniff_delimiter,
    split_line,
    text_lines,
)

GRAMMARS = grammars(("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y", "%m/%d/%Y", "%d.%m.%Y"))


def sniff(lines: list[str]) -> bool:
    """Whether the first lines are a Tinytag export."""
    return any(
        line.lstrip('"').startswith(("Property,", "Property;", "Property\t", 'Property"'))
        for line in lines[:8]
    )


def parse(text: str, source: str) -> LoggerFile:
    """The rows of a Tinytag Explorer export."""
    lines = text_lines(text)
    index = find_line(lines, lambda line: line.lstrip('"').startswith("Property"), limit=12)
    if index is None:
        raise LoggerFileError(source, "no 'Property' line in the Tinytag header block")
    delimiter = sniff_delimiter(lines[index : index + 3])
    properties = split_line(lines[index], delimiter)
    header = ["#", "Time", *properties[2:]]
    out = read_table(
        "tinytag",
        lines,
        index,
        source,
        candidates=GRAMMARS,
        header=header,
        data_start=index + 1,
        delimiter=delimiter,
    )
    for line in lines[:index]:
        cells = split_line(line, delimiter)
        values = [c for c in cells[2:] if c]
        if cells and cells[0] == "S/N" and values:
            out.serial = values[0]
        elif cells and cells[0] == "Description" and values:
            out.name = values[0]
    return out
