"""Array plumbing shared by the science modules: the scalar-or-array return rule, timestamps,
sample durations with explicit gaps, per-sample weights, time-weighted moving averages and
elapsed time in runs of a condition.

The return rule, used by every public function of ``preservation``: a function of scalar inputs
(Python or NumPy numbers, 0-d arrays) returns a ``numpy.float64`` — a subclass of ``float`` —
and a function of array inputs returns a ``numpy.ndarray`` of ``float64`` with the broadcast
shape of its inputs. Invalid or out-of-range inputs give NaN (documented per function), never an
exception, so that a year of readings with one bad sample still goes through in one call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.intp]
TimeArray = NDArray[np.datetime64]

NS_PER_HOUR = 3_600_000_000_000
DEFAULT_MIN_GAP_H = 2.0
"""The shortest silence counted as a gap when no explicit ``max_gap_h`` is given."""
GAP_FACTOR = 3.0
"""A silence longer than this many median sampling intervals is a gap (when longer than 2 h)."""


def as_float_array(x: ArrayLike) -> FloatArray:
    """``x`` as a float64 array (no copy when it already is one)."""
    return np.asarray(x, dtype=np.float64)


def scalar_or_array(result: FloatArray) -> np.float64 | FloatArray:
    """Apply the package's return rule: 0-d → ``numpy.float64``, otherwise the array."""
    if result.ndim == 0:
        return np.float64(result[()])
    return result


def to_datetime64(times: ArrayLike | Sequence[datetime]) -> TimeArray:
    """Timestamps as ``datetime64[ns]`` (UTC).

    Accepts a NumPy ``datetime64`` array (taken as UTC) or a sequence of timezone-aware
    ``datetime`` objects (converted to UTC). Naive datetimes are refused: a wall-clock time
    without a zone cannot be placed on the time axis.
    """
    if isinstance(times, np.ndarray) and np.issubdtype(times.dtype, np.datetime64):
        return times.astype("datetime64[ns]")
    items = list(times)  # type: ignore[arg-type]
    converted: list[np.datetime64] = []
    for index, item in enumerate(items):
        if isinstance(item, datetime):
            offset = item.utcoffset()
            if offset is None:
                raise ValueError(f"times[{index}] is a naive datetime ({item!r}); give aware UTC")
            naive_utc = (item - offset).replace(tzinfo=None)
            converted.append(np.datetime64(naive_utc, "ns"))
        elif isinstance(item, np.datetime64):
            converted.append(item.astype("datetime64[ns]"))
        else:
            raise TypeError(f"times[{index}] is {type(item).__name__}, not a datetime")
    return np.array(converted, dtype="datetime64[ns]")


def sample_weights(hours: ArrayLike | None, shape: tuple[int, ...]) -> FloatArray:
    """Per-sample weights [h] of ``shape``: ``hours`` broadcast (all 1 when omitted)."""
    if hours is None:
        return np.ones(shape)
    return np.broadcast_to(as_float_array(hours), shape).astype(np.float64)


def hours_since_start(times: TimeArray) -> FloatArray:
    """Hours of each timestamp after the first (float64)."""
    if times.size == 0:
        return np.zeros(0)
    ns = (times - times[0]).astype("timedelta64[ns]").astype(np.int64)
    hours: FloatArray = ns.astype(np.float64) / NS_PER_HOUR
    return hours


def check_increasing(times_h: FloatArray) -> None:
    """Raise ``ValueError`` naming the first timestamp that does not come after its predecessor."""
    steps = np.diff(times_h)
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise ValueError(
            f"times must be strictly increasing; times[{i}] is not after times[{i - 1}]"
        )


def prepare_series(
    times: ArrayLike | Sequence[datetime], t_c: ArrayLike, rh_pct: ArrayLike
) -> tuple[TimeArray, FloatArray, FloatArray, FloatArray]:
    """A room's series checked and as arrays: ``(stamps, t, rh, hours since the first)``.

    Raises ``ValueError`` unless the three are 1-D, of one length and strictly increasing in time.
    """
    stamps = to_datetime64(times)
    t = np.atleast_1d(as_float_array(t_c))
    rh = np.atleast_1d(as_float_array(rh_pct))
    if not (stamps.shape == t.shape == rh.shape) or t.ndim != 1:
        raise ValueError(
            f"times, t_c and rh_pct must be 1-D and of one length, got {stamps.shape}, "
            f"{t.shape}, {rh.shape}"
        )
    times_h = hours_since_start(stamps)
    check_increasing(times_h)
    return stamps, t, rh, times_h


def sample_durations(
    times_h: FloatArray, valid: BoolArray, max_gap_h: float | None
) -> tuple[FloatArray, float, float]:
    """Hours each sample stands for, the total gap hours, and the gap threshold used.

    A sample holds its value until the next one (forward hold). An interval longer than the gap
    threshold is a gap: the sample before it is credited with one nominal interval (the median
    spacing) and the rest of the interval is gap. The last sample is credited with one nominal
    interval. Invalid samples (NaN readings) are credited with nothing; their whole interval is
    gap. The default threshold is ``max(3 × median spacing, 2 h)``.
    """
    n = times_h.size
    if n == 0:
        return np.zeros(0), 0.0, float(max_gap_h or DEFAULT_MIN_GAP_H)
    steps = np.diff(times_h)
    nominal = _median(steps)
    threshold = (
        float(max_gap_h) if max_gap_h is not None else max(GAP_FACTOR * nominal, DEFAULT_MIN_GAP_H)
    )
    intervals = np.append(steps, nominal)
    credited = np.where(intervals > threshold, min(nominal, threshold), intervals)
    credited = np.where(valid, credited, 0.0)
    gap = float(np.sum(intervals[:-1]) + nominal - np.sum(credited))
    return credited, max(gap, 0.0), threshold


def _median(x: FloatArray) -> float:
    """Median of a 1-D array (0 when empty); ``np.median``'s overhead dominates short series."""
    if x.size == 0:
        return 0.0
    ordered = np.sort(x)
    mid = ordered.size // 2
    return float(ordered[mid] if ordered.size % 2 else 0.5 * (ordered[mid - 1] + ordered[mid]))


def moving_average(
    times_h: FloatArray,
    values: FloatArray,
    weights: FloatArray,
    window_h: float,
    *,
    bounds: tuple[IntArray, IntArray] | None = None,
) -> FloatArray:
    """Centred, time-weighted moving average over ``window_h`` hours.

    Each sample's value is weighted by the hours it stands for; samples with zero weight (gaps,
    NaN) do not count. Where no weighted sample falls in the window the result is NaN. At the
    ends of the series the window is truncated to the data available. ``bounds``: the
    windows' `window_bounds` (the same for every quantity of a series), computed when omitted.
    """
    w = np.where(np.isfinite(values), weights, 0.0)
    xw = np.where(w > 0, values * w, 0.0)
    cum_w = np.concatenate(([0.0], np.cumsum(w)))
    cum_xw = np.concatenate(([0.0], np.cumsum(xw)))
    lo, hi = window_bounds(times_h, window_h) if bounds is None else bounds
    total_w = cum_w[hi] - cum_w[lo]
    total_xw = cum_xw[hi] - cum_xw[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = np.where(total_w > 0, total_xw / total_w, np.nan)
    return out


def window_bounds(times_h: FloatArray, window_h: float) -> tuple[IntArray, IntArray]:
    """For each sample, the first index inside its centred window of ``window_h`` hours and
    the first index after it (``searchsorted`` of ``times_h ∓ window_h / 2``, left and right).

    On a whole-hour grid (``times_h`` exactly 0, 1, 2, …: the reports' hourly series) the
    indices are counted directly — the smallest index ≥ a bound is its ceiling, the first one
    beyond it its floor + 1 — which gives the same indices without a binary search.
    """
    low = times_h - window_h / 2.0
    high = times_h + window_h / 2.0
    n = times_h.size
    if (
        n
        and math.isfinite(window_h)
        and times_h[-1] == n - 1
        and np.array_equal(times_h, np.arange(n, dtype=np.float64))
    ):
        lo = np.clip(np.ceil(low), 0, n).astype(np.intp)
        hi = np.clip(np.floor(high) + 1.0, 0, n).astype(np.intp)
        return lo, hi
    return (
        np.searchsorted(times_h, low, side="left"),
        np.searchsorted(times_h, high, side="right"),
    )


def elapsed_in_runs(condition: NDArray[np.bool_], hours: FloatArray) -> FloatArray:
    """Hours since the current run of ``condition`` began, at the *start* of each step.

    Works along axis 0 (time) for 1-D or 2-D inputs; 0 where the condition is false. ``hours``
    broadcasts against ``condition``.
    """
    h = np.broadcast_to(hours, condition.shape).astype(np.float64)
    in_run = np.where(condition, h, 0.0)
    cum = np.cumsum(in_run, axis=0)
    # cumulative total at the last step where the condition was false, carried forward
    marker = np.where(condition, 0.0, cum)
    base = np.maximum.accumulate(marker, axis=0)
    at_end = np.where(condition, cum - base, 0.0)
    result: FloatArray = np.where(condition, at_end - h, 0.0)
    return result
