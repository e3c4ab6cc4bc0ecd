"""The incremental source's hourly windows of many sensors in one pass (`_fill_many`) against
`HourlySeries.from_means` sensor by sensor: the same grids and the same values, bit for bit,
on the fast path (whole-second hour starts: each mean spread over the hours it reaches) and
on the search it falls back to (hours off the hour), with gaps, missing values, means before
a window's first hour or after its last, and windows of one or of different lengths."""

from __future__ import annotations

import numpy as np
import pytest

from repoclimate.alerts.incremental import _fill_many
from repoclimate.alerts.series import HourlySeries

LAST = float(1_800_000_000 // 3600 * 3600)


def _case(
    seed: int, *, same_first: bool, off_hour: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    back = np.full(n, int(rng.integers(0, 60))) if same_first else rng.integers(0, 60, n)
    firsts = LAST - 3600.0 * back
    pieces, sizes = [], []
    for _ in range(n):
        picked = rng.choice(np.arange(-20, 70), size=int(rng.integers(0, 30)), replace=False)
        hours = np.sort(LAST - 3600.0 * picked.astype(np.float64))  # some after LAST, before first
        if off_hour and hours.size:
            hours = hours + 1.0
        pieces.append(hours)
        sizes.append(hours.size)
    hours = np.concatenate(pieces)
    t = rng.random(hours.size)
    h = rng.random(hours.size)
    t[rng.random(hours.size) < 0.2] = np.nan
    h[rng.random(hours.size) < 0.3] = np.nan
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    gaps = rng.integers(0, 8, n).astype(np.float64)
    return hours, t, h, offsets, firsts, gaps


@pytest.mark.parametrize("same_first", [True, False])
@pytest.mark.parametrize("off_hour", [False, True])
def test_fill_many_is_from_means_of_each_sensor(same_first: bool, off_hour: bool) -> None:
    for seed in range(40):
        hours, t, h, offsets, firsts, gaps = _case(seed, same_first=same_first, off_hour=off_hour)
        filled = _fill_many(hours, (t, h), offsets, firsts, LAST, gaps)
        assert filled is not None
        grid, (out_t, out_h), grid_offsets = filled
        for k in range(firsts.size):
            a, b = int(offsets[k]), int(offsets[k + 1])
            mine = hours[a:b] >= firsts[k]
            expected = HourlySeries.from_means(
                hours[a:b][mine],
                t[a:b][mine],
                h[a:b][mine],
                float(firsts[k]),
                LAST,
                int(gaps[k]),
            )
            g0, g1 = int(grid_offsets[k]), int(grid_offsets[k + 1])
            assert np.array_equal(grid[g0:g1], expected.hours), (seed, k)
            assert np.array_equal(out_t[g0:g1], expected.temperature, equal_nan=True), (seed, k)
            assert np.array_equal(out_h[g0:g1], expected.humidity, equal_nan=True), (seed, k)
