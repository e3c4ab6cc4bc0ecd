"""The flat history buffer of the fleet evaluator's bulk fetch (`alerts.flat_history`): its
searches give numpy.searchsorted's indices, its windows and gathers the per-series values."""

from __future__ import annotations

import numpy as np
import pytest

from repoclimate.alerts import fleet_mould
from repoclimate.alerts.evaluate import ArraySource
from repoclimate.alerts.flat_history import FlatHistory
from repoclimate.alerts.series import SensorSeries


def _series(rng: np.random.Generator, shared: np.ndarray | None) -> dict[str, SensorSeries]:
    out: dict[str, SensorSeries] = {}
    for k in range(12):
        if shared is not None and k % 2 == 0:
            times = shared
        else:  # repeated times, empty series, one reading
            n = (0, 1, 7, 40)[k % 4]
            times = np.sort(rng.integers(0, 30, n).astype(np.float64) * 300.0)
        values = rng.normal(20, 2, (3, times.size))
        values[0, ::3] = np.nan
        out[f"s{k}"] = SensorSeries(f"s{k}", times, values[0], values[1], values[2], -1.0)
    return out


@pytest.mark.parametrize("shared", [False, True])
def test_searches_windows_and_gathers_are_the_per_series_ones(shared: bool) -> None:
    rng = np.random.default_rng(7)
    series = _series(rng, np.arange(0.0, 9000.0, 300.0) if shared else None)
    flat = FlatHistory.of(series)
    assert flat.shared == shared
    assert flat.current(series)
    names = [*series, "missing"]
    rows = flat.rows(names)
    assert rows[-1] == -1
    for _ in range(20):
        starts = rng.integers(-2, 32, len(names)).astype(np.float64) * 300.0 + rng.choice(
            [0.0, 0.5, -0.5], len(names)
        )
        end = float(rng.integers(0, 32) * 300.0)
        lo = flat.bounds(rows, starts, "left")
        hi = flat.bounds(rows, end, "right")
        windows = []
        for k, name in enumerate(names):
            if name == "missing":
                assert lo[k] == hi[k] == 0
                continue
            times = series[name].times
            base = int(flat.offsets[rows[k]])
            assert lo[k] - base == np.searchsorted(times, starts[k], side="left")
            assert hi[k] - base == np.searchsorted(times, end, side="right")
            window = flat.window(int(rows[k]), name, int(lo[k]), int(hi[k]), float(starts[k]))
            expected = series[name].between(float(starts[k]), end)
            for q in ("times", "temperature", "humidity", "battery"):
                assert np.array_equal(window.quantity(q), expected.quantity(q), equal_nan=True)
            windows.append(window)
        index, time_index = flat.gather(rows, lo, np.maximum(hi, lo))
        assert np.array_equal(flat.times[time_index], np.concatenate([w.times for w in windows]))
        for q in ("temperature", "humidity", "battery"):
            gathered = getattr(flat, q)[index]
            expected = np.concatenate([w.quantity(q) for w in windows])
            assert np.array_equal(gathered, expected, equal_nan=True)


def test_a_source_builds_its_buffer_again_when_its_series_change() -> None:
    rng = np.random.default_rng(3)
    series = _series(rng, None)
    source = ArraySource(series)
    flat = source.flat()
    assert source.flat() is flat
    replaced = series["s3"]
    source.series["s3"] = SensorSeries("s3", replaced.times + 1.0, *replaced_values(replaced))
    rebuilt = source.flat()
    assert rebuilt is not flat
    row = int(rebuilt.rows(["s3"])[0])
    assert np.array_equal(rebuilt.held[row].times, replaced.times + 1.0)
    from_flat = ArraySource.from_flat(rebuilt)
    assert from_flat.flat() is rebuilt
    assert rebuilt.views()["s3"] is source.series["s3"]


def test_a_buffer_given_whole_hands_out_views_of_itself() -> None:
    times = np.arange(0.0, 3000.0, 300.0)
    values = np.arange(30.0)
    flat = FlatHistory(
        ["a", "b", "c"],
        np.array([0, 10, 20, 30]),
        times,
        (values, values + 100.0, values + 200.0),
        np.zeros(3),
        np.zeros(3, dtype=np.int64),
    )
    source = ArraySource.from_flat(flat)
    b = source.series["b"]
    assert np.shares_memory(b.humidity, flat.humidity)
    assert np.array_equal(b.times, times)
    assert np.array_equal(b.temperature, values[10:20])
    assert source.flat() is flat
    with pytest.raises(ValueError, match="run past"):
        FlatHistory(
            ["a"],
            np.array([0, 11]),
            times,
            (values[:11],) * 3,
            np.zeros(1),
            np.zeros(1, dtype=np.int64),
        )


def replaced_values(s: SensorSeries) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    return s.temperature, s.humidity, s.battery, s.start


def test_means_of_two_quantities_are_those_of_one_call_each() -> None:
    """`fleet_mould.block_means_of` shares the bins between quantities present at the same
    readings; with other gaps (NaN) each gets its own — the same bits as `block_means`."""
    rng = np.random.default_rng(11)
    lengths = np.array([0, 30, 1, 55, 12])
    times = np.concatenate([np.sort(rng.uniform(0, 8 * 3600.0, n)) for n in lengths])
    t = rng.normal(20, 2, times.size)
    same_gaps = rng.normal(50, 5, times.size)
    t[::4] = np.nan
    same_gaps[::4] = np.nan
    other_gaps = same_gaps.copy()
    other_gaps[1::3] = np.nan
    for h in (same_gaps, other_gaps):
        both = fleet_mould.block_means_of(lengths, times, (t, h), 1, 6, 2)
        for got, values in zip(both, (t, h), strict=True):
            alone = fleet_mould.block_means(lengths, times, values, 1, 6, 2)
            assert np.array_equal(got, alone, equal_nan=True)
            assert np.isfinite(got).sum() > 10
    nothing = fleet_mould.block_means_of(lengths, times, (np.full(times.size, np.nan),), 1, 6, 2)
    assert nothing[0].shape == (5, 6) and np.isnan(nothing[0]).all()
