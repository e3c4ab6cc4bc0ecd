"""`head_lines` (format detection's first lines of a file) equals splitting the whole text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from repoclimate.sensors.loggers.base import head_lines, text_lines

BREAKS = ["\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028"]


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.text(st.characters(blacklist_categories=("Cc", "Zl", "Zp")), max_size=3000)),
    breaks=st.lists(st.sampled_from(BREAKS), min_size=1),
    count=st.integers(0, 60),
)
def test_head_lines_are_the_first_lines(lines: list[str], breaks: list[str], count: int) -> None:
    text = "".join(line + breaks[i % len(breaks)] for i, line in enumerate(lines))
    assert head_lines(text, count) == text_lines(text)[:count]


def test_a_cut_inside_crlf_keeps_the_lines() -> None:
    text = "a" * 4095 + "\r\n" + "b\r\n" * 50
    assert head_lines(text, 40) == text_lines(text)[:40]
    assert head_lines("x\ny", 40) == ["x", "y"]
