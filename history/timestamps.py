"""Conversions between aware UTC datetimes and integer nanoseconds since the Unix epoch.

Both stores key points by nanoseconds (InfluxDB's native precision); Python datetimes carry
microseconds, so a time survives the round trip exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_ns(time: datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime (naive datetimes are refused)."""
    if time.tzinfo is None:
        raise ValueError(f"time must be timezone-aware, got {time!r}")
    return (time - EPOCH) // _MICROSECOND * 1000


def from_ns(ns: int) -> datetime:
    """The aware UTC datetime of nanoseconds since the epoch (sub-microsecond digits dropped)."""
    return EPOCH + timedelta(microseconds=ns // 1000)


def duration_ns(every: timedelta) -> int:
    """A positive duration in nanoseconds; zero and negative durations are refused."""
    ns = every // _MICROSECOND * 1000
    if ns <= 0:
        raise ValueError(f"interval must be positive, got {every!r}")
    return ns
