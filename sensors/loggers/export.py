"""The project's own CSV export (``repoclimate export --format csv``), read back unchanged.

A header row ``time,temperature,humidity[,…derived series]`` over rows with ISO 8601 UTC times
(``2026-11-01T10:00:00Z``) and empty cells where a quantity is absent. Other columns (derived
series) are ignored: they are recomputed from the readings.
"""

from __future__ import annotations

from repoclimate.sensors.loggers.base import (
    LoggerFile,
    LoggerFileError,
    TimeGrammar,
    read_table,
    split_line,
    text_lines,
)

GRAMMARS = [TimeGrammar("%Y-%m-%d %H:%M:%S%z"), TimeGrammar("%Y-%m-%d %H:%M%z")]


def sniff(lines: list[str]) -> bool:
    """Whether the first line is the export's header."""
    return (
        bool(lines)
        and split_line(lines[0], ",")[:1] == ["time"]
        and ("temperature" in lines[0] or "humidity" in lines[0])
    )


def parse(text: str, source: str) -> LoggerFile:
    """The rows of a repoclimate CSV export; every time must carry its offset (``Z``)."""
    out = read_table("repoclimate", text_lines(text), 0, source, candidates=GRAMMARS)
    if out.columns is not None:  # only naive times are read as columns
        raise LoggerFileError(
            source, "time without an offset", row=out.columns.first_row, column="time"
        )
    for row in out.rows:
        if row.time.tzinfo is None:
            raise LoggerFileError(source, "time without an offset", row=row.row, column="time")
    return out
