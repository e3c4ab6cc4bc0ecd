"""Binary search of many sorted ranges of one array at once.

The fleet's readings sit end to end in flat arrays (one range per sensor or row, each in time
order). Finding a bound in every range with a Python loop of `numpy.searchsorted` costs a call
per range; `search_ranges` answers all ranges in one bisection: about log2(longest range) passes
over the ranges, none over the values.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


def search_ranges(
    values: FloatArray,
    lo: IntArray,
    hi: IntArray,
    targets: FloatArray | float,
    side: Literal["left", "right"] = "left",
) -> IntArray:
    """``lo[k] + numpy.searchsorted(values[lo[k]:hi[k]], targets[k], side)`` for every ``k``.

    Parameters
    ----------
    values
        The flat array; each range ``values[lo[k]:hi[k]]`` ascending.
    lo, hi
        The ranges' bounds (``hi[k] <= lo[k]``: an empty range, answered ``lo[k]``).
    targets
        One target per range, or one for all.
    side
        As `numpy.searchsorted`: ``"left"``, the first index whose value is not below the
        target; ``"right"``, the first whose value is above it.
    """
    lo, hi = lo.astype(np.int64, copy=True), hi.astype(np.int64, copy=True)
    if values.size == 0:
        return lo
    wanted = np.broadcast_to(np.asarray(targets, dtype=np.float64), lo.shape)
    compare = np.less if side == "left" else np.less_equal
    last = values.size - 1
    active = lo < hi
    while active.any():
        mid = (lo + hi) >> 1
        after = compare(values[np.minimum(mid, last)], wanted) & active
        np.copyto(lo, mid + 1, where=after)
        np.copyto(hi, mid, where=active & ~after)
        active = lo < hi
    return lo
