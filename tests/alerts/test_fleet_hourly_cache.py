"""`alerts.fleet_mould.HourlyCache`: hourly means kept between runs give the same bits as computing
each window whole (`alerts.fleet_mould.hourly_many`), as windows advance, with gaps carried over,
several lookbacks per sensor, a late reading inside the settle window, and windows that move
back (computed whole again)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from repoclimate.alerts import fleet_mould
from repoclimate.alerts.evaluate import ArraySource
from repoclimate.alerts.fleet_mould import HourlyCache, hourly_many
from repoclimate.alerts.series import FloatArray, HourlySeries, SensorSeries

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC


def readings(seed: int, days: float = 12.0, step_s: float = 300.0) -> SensorSeries:
    """A jittered 5-minute series with a few gaps of 1–8 h and some missing values."""
    rng = np.random.default_rng(seed)
    times = T0 + np.arange(0.0, days * 86400.0, step_s) + rng.uniform(0, 3, int(days * 288))
    keep = np.ones(times.size, dtype=np.bool_)
    for start in rng.integers(0, times.size - 100, size=4):
        keep[start : start + int(rng.integers(12, 96))] = False
    times = times[keep]
    t = np.round(18 + rng.normal(0, 0.5, times.size), 2)
    rh = np.round(50 + rng.normal(0, 2, times.size), 1)
    rh[rng.random(times.size) < 0.05] = np.nan
    return SensorSeries(f"s{seed}", times, t, rh, np.full(times.size, np.nan), T0)


def identical(a: HourlySeries, b: HourlySeries) -> bool:
    return (
        np.array_equal(a.hours, b.hours)
        and np.array_equal(a.temperature, b.temperature, equal_nan=True)
        and np.array_equal(a.humidity, b.humidity, equal_nan=True)
    )


def whole(
    source: ArraySource, wanted: list[tuple[str, float, float, float, int]]
) -> list[HourlySeries]:
    return hourly_many(
        [(source.raw(s, start, end), start, end, gap) for s, _, start, end, gap in wanted]
    )


def test_kept_hours_equal_whole_windows_run_after_run() -> None:
    source = ArraySource({f"s{k}": readings(k) for k in range(6)})
    cache = HourlyCache()
    lookbacks = (26 * 3600.0, 7 * 86400.0)
    hits = 0
    for end in np.arange(T0 + 8 * 86400.0, T0 + 11 * 86400.0, 300.0 * 7):
        wanted = [
            (f"s{k}", lookback, float(end) - lookback, float(end), 3 if k % 2 else 6)
            for k in range(6)
            for lookback in lookbacks
        ]
        got = cache.many(source, wanted)
        expected = whole(source, wanted)
        for g, e in zip(got, expected, strict=True):
            assert identical(g, e), end
        hits += 1
    assert hits > 30


def test_a_late_reading_inside_the_settle_window_is_seen() -> None:
    series = readings(1)
    source = ArraySource({"s1": series})
    cache = HourlyCache(settle_s=3600.0)
    end = T0 + 9 * 86400.0
    first = [("s1", 86400.0, end - 86400.0, end, 3)]
    cache.many(source, first)
    # a reading 40 minutes before the last end arrives late, then the next run
    late = end - 2400.0
    i = int(np.searchsorted(series.times, late))
    source.series["s1"] = SensorSeries(
        "s1",
        np.insert(series.times, i, late),
        np.insert(series.temperature, i, 30.0),
        np.insert(series.humidity, i, 90.0),
        np.insert(series.battery, i, np.nan),
        series.start,
    )
    later = [("s1", 86400.0, end + 300.0 - 86400.0, end + 300.0, 3)]
    (got,) = cache.many(source, later)
    (expected,) = whole(source, later)
    assert identical(got, expected)
    assert not identical(got, whole(ArraySource({"s1": series}), later)[0])  # it mattered


def test_a_window_moving_back_or_a_new_source_is_computed_whole() -> None:
    source = ArraySource({"s2": readings(2)})
    cache = HourlyCache()
    end = T0 + 10 * 86400.0
    for e in (end, end + 3600.0, end - 86400.0):
        wanted = [("s2", 2 * 86400.0, e - 2 * 86400.0, e, 3)]
        (got,) = cache.many(source, wanted)
        assert identical(got, whole(source, wanted)[0])
    other = ArraySource({"s2": readings(3)})
    wanted = [("s2", 2 * 86400.0, end - 2 * 86400.0, end, 3)]
    (got,) = cache.many(other, wanted)
    assert identical(got, whole(other, wanted)[0])


def test_hourly_many_in_batches_gives_the_same_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    source = ArraySource({f"s{k}": readings(k, days=4) for k in range(5)})
    end = T0 + 4 * 86400.0
    wanted = [(f"s{k}", 0.0, T0 + 3600.0 * k, end, 3) for k in range(5)]
    at_once = whole(source, wanted)
    monkeypatch.setattr(fleet_mould, "_HOURLY_BATCH", 1500)  # about one series a batch
    batched = whole(source, wanted)
    assert all(identical(a, b) for a, b in zip(at_once, batched, strict=True))


def test_the_cache_in_batches_of_rows_gives_the_same_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    """`HourlyCache` computes its blocks in batches of rows (`_BLOCK_BATCH`): batches of one
    or two rows, a sensor without readings among them, give the same blocks as one batch,
    cold and run after run."""
    source = ArraySource({f"s{k}": readings(k, days=5) for k in range(5)})
    lookback = 2 * 86400.0
    ends = [T0 + 4 * 86400.0 + 300.0 * k for k in range(3)]
    sensors = ["s0", "s1", "absent", "s3", "s4"]

    def runs() -> list[list[HourlySeries]]:
        cache = HourlyCache()
        out = []
        for end in ends:
            got = cache.many(source, [(s, lookback, end - lookback, end, 3) for s in sensors])
            out.append(
                [HourlySeries(g.hours, g.temperature.copy(), g.humidity.copy()) for g in got]
            )
        return out

    calls = 0
    means = fleet_mould.block_means_of

    def counted(*args: Any) -> list[FloatArray]:
        nonlocal calls
        calls += 1
        return means(*args)

    monkeypatch.setattr(fleet_mould, "block_means_of", counted)
    at_once = runs()
    whole_calls, calls = calls, 0
    monkeypatch.setattr(fleet_mould, "_BLOCK_BATCH", 300)  # one or two sensors a batch
    batched = runs()
    assert calls >= whole_calls + 3  # the cold run: T and RH in four batches, not one
    for a_run, b_run in zip(at_once, batched, strict=True):
        assert all(identical(a, b) for a, b in zip(a_run, b_run, strict=True))
    assert np.isfinite(batched[-1][0].temperature).sum() > 40  # not all NaN


def test_sparse_readings_keep_the_middle_hours_and_compute_the_edges() -> None:
    """Readings every 20 min, runs every 5 min: each run computes only the window's first
    hours and the settle window (the same bits as whole), also when the window moves back
    within the hour (computed whole) and on; the hours between are carried over."""
    sparse = {}
    for k in range(4):
        s = readings(k)
        sparse[f"s{k}"] = SensorSeries(
            s.sensor, s.times[::4], s.temperature[::4], s.humidity[::4], s.battery[::4], s.start
        )
    source = ArraySource(sparse)
    cache = HourlyCache()
    lookback = 3 * 86400.0
    ends = [*np.arange(T0 + 6 * 86400.0, T0 + 6 * 86400.0 + 3 * 3600.0, 300.0).tolist()]
    ends += [ends[-1] - 300.0, ends[-1] + 3600.0]  # back 5 minutes (computed whole), on
    carried = 0
    for end in ends:
        wanted = [(f"s{k}", lookback, end - lookback, end, 3) for k in range(4)]
        got = cache.many(source, wanted)
        for g, e in zip(got, whole(source, wanted), strict=True):
            assert identical(g, e), end
        (block,) = cache.blocks
        assert [b for b, _ in cache.placed] == [block] * 4
        if block.recomputed_from:
            assert block.head == 4 and block.hours.size - block.recomputed_from <= 3
            carried += 1
    assert carried == len(ends) - 2  # all but the first run and the one moving back
