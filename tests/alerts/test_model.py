"""The records the alerting stages pass: conversions of epoch seconds."""

from __future__ import annotations

from datetime import UTC, datetime

from repoclimate.alerts.model import EpochTimes, from_epoch


def test_epoch_times_give_what_from_epoch_gives_converting_each_second_once() -> None:
    times = EpochTimes()
    first = times[1_764_590_400.25]
    assert first == from_epoch(1_764_590_400.25)
    assert first == datetime(2025, 12, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    assert times[1_764_590_400.25] is first  # converted once, then remembered
    assert times[0.0] == datetime(1970, 1, 1, tzinfo=UTC)
    assert len(times) == 2
