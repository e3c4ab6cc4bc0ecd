"""The one duration grammar: compound, units w/d/h/m/s largest first, a unit always required."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from repoclimate.sensors.durations import (
    DurationError,
    format_duration,
    parse_duration,
    parse_seconds,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("45m", 2700),
        ("2d", 172_800),
        ("1h30m", 5400),
        ("1w2d", 9 * 86_400),
        ("1d2h3m4s", 93_784),
        ("1.5h", 5400),
        ("0.5s", 0.5),
        (" 2h ", 7200),
        ("0", 0),
        ("0s", 0),
    ],
)
def test_durations_parse(text: str, seconds: float) -> None:
    assert parse_seconds(text) == seconds
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("6", r"duration '6' has no unit: write 6s, 6m, 6h, 6d or 6w"),
        ("1.5", r"'1.5' has no unit"),
        ("", r"empty duration"),
        ("2 hours", r"bad duration '2 hours'"),
        ("3y", r"unknown unit 'y'"),
        ("1M", r"unknown unit 'M'"),  # not minutes, not months: refused
        ("30m1h", r"largest first, each once"),
        ("1h1h", r"largest first, each once"),
        ("-1h", r"bad duration"),
        ("1h30", r"bad duration '1h30'"),
        ("h", r"bad duration"),
    ],
)
def test_bad_durations_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(DurationError, match=message):
        parse_seconds(text)


def test_too_long_is_refused_not_overflowing() -> None:
    with pytest.raises(DurationError, match="too long"):
        parse_duration("99999999999w")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (5400, "1h30m"), (604_800 + 86_400, "1w1d"), (90, "1m30s"), (2.5, "2.5s")],
)
def test_format_writes_the_shortest_text(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert format_duration(timedelta(seconds=seconds)) == text


@given(st.integers(min_value=0, max_value=10**9))
def test_format_reads_back(seconds: int) -> None:
    assert parse_seconds(format_duration(seconds)) == seconds
