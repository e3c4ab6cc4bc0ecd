"""`history.ranges.search_ranges` against `numpy.searchsorted` range by range."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest

from repoclimate.history.ranges import search_ranges


@pytest.mark.parametrize("side", ["left", "right"])
def test_every_range_as_searchsorted(side: Literal["left", "right"]) -> None:
    rng = np.random.default_rng(7)
    lengths = rng.integers(0, 40, 300)
    # repeated values inside a range, ranges overlapping none, empty ranges, edge targets
    parts = [np.sort(rng.integers(0, 20, n).astype(np.float64)) for n in lengths]
    values = np.concatenate(parts)
    hi = np.cumsum(lengths)
    lo = hi - lengths
    targets = rng.integers(-2, 23, lengths.size).astype(np.float64)
    targets[::7] = 5.0
    found = search_ranges(values, lo, hi, targets, side)
    expected = [
        int(start + np.searchsorted(part, target, side))
        for start, part, target in zip(lo, parts, targets, strict=True)
    ]
    assert found.tolist() == expected
    assert lo.tolist() == (hi - lengths).tolist()  # the bounds given are not changed


def test_one_target_for_all_ranges_and_empty_values() -> None:
    values = np.array([1.0, 2.0, 3.0, 1.0, 5.0])
    lo, hi = np.array([0, 3, 5]), np.array([3, 5, 5])
    assert search_ranges(values, lo, hi, 2.0).tolist() == [1, 4, 5]
    assert search_ranges(values, lo, hi, 2.0, "right").tolist() == [2, 4, 5]
    empty = np.empty(0)
    assert search_ranges(empty, np.zeros(2, np.int64), np.zeros(2, np.int64), 1.0).tolist() == [
        0,
        0,
    ]
