"""The records the alerting stages pass: conversions of epoch seconds, and the slot writers
that build many of them fast."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from repoclimate.alerts.model import EpochTimes, from_epoch, slot_writers


def test_epoch_times_give_what_from_epoch_gives_converting_each_second_once() -> None:
    times = EpochTimes()
    first = times[1_764_590_400.25]
    assert first == from_epoch(1_764_590_400.25)
    assert first == datetime(2025, 12, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    assert times[1_764_590_400.25] is first  # converted once, then remembered
    assert times[0.0] == datetime(1970, 1, 1, tzinfo=UTC)
    assert len(times) == 2


def test_slot_writers_build_the_object_the_class_builds_and_refuse_a_changed_class() -> None:
    @dataclass(frozen=True, slots=True)
    class Pair:
        a: int
        b: str

    @dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            pass

    set_a, set_b = slot_writers(Pair, ("a", "b"), "the test")
    built = object.__new__(Pair)
    set_a(built, 1)
    set_b(built, "x")
    assert built == Pair(1, "x")
    with pytest.raises(TypeError, match="the test writes Pair's fields"):
        slot_writers(Pair, ("a", "b", "c"), "the test")
    with pytest.raises(TypeError, match="__post_init__: update the test"):
        slot_writers(Checked, ("a",), "the test")
