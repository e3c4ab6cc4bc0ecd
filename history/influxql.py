"""Building InfluxQL safely: string literals, identifiers, time bounds and durations.

Every value that comes from outside (a sensor id typed into a page, a database name from the
settings) goes into a query through these functions, never by bare formatting, so a sensor named
``x' OR '1'='1`` is looked up as exactly that name.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from repoclimate.history.timestamps import duration_ns, to_ns

_STRING_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", "\n": "\\n"})
_IDENTIFIER_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})


def string_literal(value: str) -> str:
    """A single-quoted InfluxQL string literal (backslashes, quotes and newlines escaped)."""
    return "'" + value.translate(_STRING_ESCAPES) + "'"


def identifier(name: str) -> str:
    """A double-quoted InfluxQL identifier (database, retention policy, measurement)."""
    return '"' + name.translate(_IDENTIFIER_ESCAPES) + '"'


def time_range(start: datetime, end: datetime) -> str:
    """``time >= start AND time < end`` with nanosecond integer bounds."""
    return f"time >= {to_ns(start)} AND time < {to_ns(end)}"


def duration_literal(every: timedelta) -> str:
    """A positive duration as an InfluxQL literal in the largest exact unit (``1h``, ``90s``)."""
    ns = duration_ns(every)
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if ns % (size * 1_000_000_000) == 0:
            return f"{ns // (size * 1_000_000_000)}{unit}"
    if ns % 1_000_000 == 0:
        return f"{ns // 1_000_000}ms"
    return f"{ns // 1_000}u"
