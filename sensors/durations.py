"""The one way a person writes a length of time: ``90s``, ``45m``, ``1h30m``, ``2d``, ``1w2d``.

Every command option and spec that takes a duration (``--fault …@START+DURATION``, ``demo
--backfill/--interval/--duration``, ``simulate --duration``, ``alerts silence --for``) reads it
here, so the same text means the same everywhere.

Grammar: one or more ``NUMBER UNIT`` parts, units in falling order and each at most once —
``w`` (week), ``d`` (day), ``h``, ``m`` (minute), ``s``; a number may have a decimal fraction
(``1.5h``). A number without a unit is refused (``6`` could mean seconds, minutes or hours),
except ``0``, which is the same in every unit. A hand-written parser, not a library: the
libraries that parse durations (pytimeparse, humanfriendly) take a bare number as seconds, which
is the ambiguity this grammar exists to refuse.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

__all__ = ["UNITS", "DurationError", "format_duration", "parse_duration", "parse_seconds"]

UNITS: dict[str, int] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
"""Seconds per unit, in the order a duration writes them."""

_PART = re.compile(r"(\d+(?:\.\d+)?)([A-Za-z]+)")
_BARE_NUMBER = re.compile(r"\d+(?:\.\d+)?")
EXAMPLES = "e.g. 90s, 45m, 1h30m, 2d or 1w2d"


class DurationError(ValueError):
    """A duration that does not follow the grammar; the message says what was wrong."""


def parse_seconds(text: str) -> float:
    """Seconds in the duration ``text`` (``"1h30m"`` → ``5400.0``).

    Raises `DurationError` naming the text and what is wrong with it.
    """
    spec = text.strip()
    if not spec:
        raise DurationError(f"empty duration: write one such as {EXAMPLES}")
    if _BARE_NUMBER.fullmatch(spec):
        if float(spec) == 0:
            return 0.0
        raise DurationError(
            f"duration {text!r} has no unit: write {spec}s, {spec}m, {spec}h, {spec}d or {spec}w"
        )
    seconds = 0.0
    position = 0
    last_rank = -1
    for part in _PART.finditer(spec):
        if part.start() != position:
            break
        unit = part.group(2)
        if unit not in UNITS:
            raise DurationError(
                f"duration {text!r}: unknown unit {unit!r}; units are w, d, h, m, s ({EXAMPLES})"
            )
        rank = list(UNITS).index(unit)
        if rank <= last_rank:
            raise DurationError(
                f"duration {text!r}: write the units largest first, each once ({EXAMPLES})"
            )
        last_rank = rank
        seconds += float(part.group(1)) * UNITS[unit]
        position = part.end()
    if position != len(spec):
        raise DurationError(f"bad duration {text!r}: use a number and a unit, {EXAMPLES}")
    if not math.isfinite(seconds):
        raise DurationError(f"duration {text!r} is too long")
    return seconds


def parse_duration(text: str) -> timedelta:
    """The duration ``text`` as a `timedelta` (see `parse_seconds`)."""
    seconds = parse_seconds(text)
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise DurationError(f"duration {text!r} is too long") from None


def format_duration(value: timedelta | float) -> str:
    """The shortest text for a duration (``5400`` seconds → ``1h30m``) that `parse_seconds`
    reads back to the same value; fractions of a second are written in seconds (``2.5s``)."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"cannot write {seconds!r} s as a duration")
    if seconds != int(seconds):
        return f"{seconds:.6f}".rstrip("0").rstrip(".") + "s"
    remaining = int(seconds)
    parts = []
    for unit, size in UNITS.items():
        if remaining >= size:
            parts.append(f"{remaining // size}{unit}")
            remaining %= size
    return "".join(parts) or "0s"
