"""`TimeGrammar.column_parser` (the cached parse a file's time column goes through) gives what
`TimeGrammar.parse` gives, for every grammar the readers use and for texts that try to fool its
date/clock split."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repoclimate.sensors.loggers import (
    govee,
    hanwell,
    hobo,
    lascar,
    meaco,
    miniclima,
    rotronic,
    switchbot,
    tandd,
    testo,
    tinytag,
    trend,
)
from repoclimate.sensors.loggers.base import DEFAULT_GRAMMARS, TimeGrammar

ALL = {
    g.pattern: g
    for module in (
        govee, hanwell, hobo, lascar, meaco, miniclima, rotronic, switchbot, tandd, testo, tinytag,
        trend,
    )
    for g in module.GRAMMARS
} | {g.pattern: g for g in DEFAULT_GRAMMARS}  # fmt: skip
PATTERNS = sorted(ALL)


def _write(pattern: str, when: datetime, *, pad: bool, lower: bool) -> str:
    """``when`` as a logger would write it under ``pattern`` (unpadded or padded, am/pm case)."""
    hour12 = when.hour % 12 or 12
    fields = {
        "%Y": f"{when.year}",
        "%y": f"{when.year % 100:02d}",
        "%m": f"{when.month:02d}" if pad else str(when.month),
        "%d": f"{when.day:02d}" if pad else str(when.day),
        "%b": when.strftime("%b"),
        "%H": f"{when.hour:02d}" if pad else str(when.hour),
        "%I": f"{hour12:02d}" if pad else str(hour12),
        "%M": f"{when.minute:02d}",
        "%S": f"{when.second:02d}",
        "%p": ("am" if when.hour < 12 else "pm") if lower else ("AM" if when.hour < 12 else "PM"),
        "%z": "Z",
    }
    out = pattern
    for token, text in fields.items():
        out = out.replace(token, text)
    return out


@settings(max_examples=60, deadline=None)
@given(
    pattern=st.sampled_from(PATTERNS),
    start=st.datetimes(datetime(2000, 1, 1), datetime(2098, 12, 1)),
    steps=st.lists(st.integers(-3 * 86_400, 3 * 86_400), min_size=1, max_size=40),
    pad=st.booleans(),
    lower=st.booleans(),
)
def test_column_parser_equals_parse(
    pattern: str, start: datetime, steps: list[int], pad: bool, lower: bool
) -> None:
    grammar = ALL[pattern]
    column = grammar.column_parser()
    when = start.replace(microsecond=0)
    texts = []
    for step in steps:
        when += timedelta(seconds=step)
        texts.append(_write(pattern, when, pad=pad, lower=lower))
    # Repeat them: the second pass is served from the caches.
    for text in texts + texts:
        assert column(text) == grammar.parse(text), text


@pytest.mark.parametrize(
    ("pattern", "texts"),
    [
        # A cached date with a clock never seen, an impossible date after valid ones, the clock
        # of a 12-hour grammar with the other half of the day, padding and separators changing.
        (
            "%m/%d/%y %I:%M:%S %p",
            [
                "10/10/19 11:00:00 AM",
                "10/10/19 11:00:00 PM",
                "10/11/19 11:00:00 AM",
                "02/30/19 11:00:00 AM",
                "10/10/19 13:00:00 PM",
                " 10/10/19 11:00:00 AM ",
                "10/10/19, 11:00:00 AM",
                "10/10/19T11:00:00 AM",
                "10/10/1911:00:00 AM",
                "10/10/19 11:00:00AM",
            ],
        ),
        (
            "%H:%M:%S %d/%b/%Y",
            [
                "00:30:00 21/Nov/2025",
                "00:30:00 22/Nov/2025",
                "00:45:00 21/Nov/2025",
                "00:30:00 31/Nov/2025",
                "24:00:00 21/Nov/2025",
                "00:30:00  21/Nov/2025",
            ],
        ),
        ("%d %b %Y %H:%M", ["3 Sept 2025 7:05", "3 Sept 2025 7:06", "4 Sept 2025 7:05", "3 Sept"]),
        ("%d.%m.%Y", ["01.02.2025", "01.02.2025", "31.02.2025", "01.02.2025 "]),
        ("%Y-%m-%d %H:%M:%S%z", ["2026-11-01 10:00:00Z", "2026-11-01 10:00:00+01:00"]),
        (
            "%Y-%m-%d %H:%M:%S",
            ["2025-01-02 03:04:05", "2025-01-02 03:04:05.5", "2025-01-02T03:04:05", "2025-01-02"],
        ),
    ],
)
def test_column_parser_is_not_fooled(pattern: str, texts: list[str]) -> None:
    grammar = TimeGrammar(pattern)
    column = grammar.column_parser()
    for text in texts + texts:
        assert column(text) == grammar.parse(text), text


def test_each_column_parser_has_its_own_caches() -> None:
    grammar = TimeGrammar("%d/%m/%Y %H:%M")
    first, second = grammar.column_parser(), grammar.column_parser()
    assert first("01/02/2025 10:00") == datetime(2025, 2, 1, 10, 0)
    assert second("01/02/2025 10:00") == datetime(2025, 2, 1, 10, 0)
    assert first is not second


_NAIVE_EPOCH = datetime(1970, 1, 1)


def _assert_parse_column(grammar: TimeGrammar, texts: list[str]) -> None:
    """`parse_column` gives `parse` of each text, and (when it gives them) the nanoseconds of
    those times; without datetimes, the same nanoseconds."""
    times, local_ns = grammar.parse_column(texts)
    assert times == [grammar.parse(text) for text in texts]
    if local_ns is not None:
        assert local_ns == [
            (t - _NAIVE_EPOCH) // timedelta(microseconds=1) * 1000
            for t in times  # type: ignore[operator]
        ]
    only, ns_again = grammar.parse_column(texts, datetimes=False)
    assert ns_again == local_ns
    assert only == (None if local_ns is not None else times)


@settings(max_examples=60, deadline=None)
@given(
    pattern=st.sampled_from(PATTERNS),
    start=st.datetimes(datetime(2000, 1, 1), datetime(2098, 12, 1)),
    steps=st.lists(st.integers(-3 * 86_400, 3 * 86_400), min_size=65, max_size=200),
    pad=st.booleans(),
    lower=st.booleans(),
)
def test_parse_column_equals_parse(
    pattern: str, start: datetime, steps: list[int], pad: bool, lower: bool
) -> None:
    # More texts than the rows learnt one by one: the rest are looked up as columns.
    grammar = ALL[pattern]
    when = start.replace(microsecond=0)
    texts = []
    for step in steps:
        when += timedelta(seconds=step)
        texts.append(_write(pattern, when, pad=pad, lower=lower))
    _assert_parse_column(grammar, texts)


def test_parse_column_of_a_year_gives_nanoseconds() -> None:
    grammar = TimeGrammar("%m/%d/%y %I:%M:%S %p")
    start = datetime(2024, 12, 31, 23, 0)
    texts = [f"{start + timedelta(minutes=i):%m/%d/%y %I:%M:%S %p}" for i in range(3 * 1440)]
    _, local_ns = grammar.parse_column(texts)
    assert local_ns is not None
    assert local_ns[0] == (start - _NAIVE_EPOCH) // timedelta(microseconds=1) * 1000
    assert local_ns[-1] - local_ns[0] == (len(texts) - 1) * 60 * 10**9
    _assert_parse_column(grammar, texts)


@pytest.mark.parametrize(
    "odd",
    [
        "02/30/19 11:00:00 AM",  # an impossible date
        "10/10/19 13:00:00 PM",  # an impossible clock
        " 10/10/19 11:00:00 AM",  # spaces around it
        "10/10/19, 11:00:00 AM",  # another separator
        "10/10/19 11:00:00AM",  # another length
        "10/10/19T11:00:00 AM",  # the separator swapped at its place, parts both cached
        "10/10/19X11:00:00 AM",  # the same, and not a time at all
        "10/10/1911:00:00 AM",
    ],
)
@pytest.mark.parametrize("at", [0, 70, 199])
def test_parse_column_is_not_fooled(odd: str, at: int) -> None:
    grammar = TimeGrammar("%m/%d/%y %I:%M:%S %p")
    start = datetime(2019, 10, 10, 10, 0)
    texts = [f"{start + timedelta(minutes=i):%m/%d/%y %I:%M:%S %p}" for i in range(200)]
    texts[at] = odd
    _assert_parse_column(grammar, texts)
