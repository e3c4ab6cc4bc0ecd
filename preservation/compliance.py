"""Compliance of a room's series against a climate profile (`preservation.profiles` holds the
profiles' numbers).

:func:`compliance` measures a series against a profile: time in band, each short-term breach
(start, end, size), each band excursion, and the seasonal drift — time-weighted for irregular
sampling, with gaps reported and counted neither in nor out of band.

How a series is split (one decomposition for every profile)::

    reading = set point + seasonal drift + short-term fluctuation

- set point: the time-weighted mean of the series (ASHRAE's "annual average" when the series is
  a year);
- seasonal cycle: centred, time-weighted moving average over ``seasonal_window_h`` (30 days, the
  EN 15757 definition); seasonal drift = seasonal cycle − set point;
- short-term fluctuation: reading − centred moving average over ``short_term_window_h`` (24 h
  for standards that limit *daily* fluctuation, 30 days for ASHRAE and EN 15757, whose
  short-term fluctuations are everything faster than the seasonal cycle).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import ArrayLike

from repoclimate.preservation._series import (
    NS_PER_HOUR,
    BoolArray,
    FloatArray,
    IntArray,
    TimeArray,
    as_float_array,
    check_increasing,
    hours_since_start,
    moving_average,
    prepare_series,
    sample_durations,
    to_datetime64,
    window_bounds,
)
from repoclimate.preservation.profiles import (
    ExcursionKind,
    Profile,
    Quantity,
    get_profile,
)


@dataclass(frozen=True, slots=True)
class Excursion:
    """One continuous spell outside a limit.

    ``peak`` is the signed worst value: for a short-term breach the deviation from the running
    mean [K or % RH]; for a band excursion the distance beyond the band limit (+ above the upper
    limit, − below the lower one). ``end`` is the end of the last sample's interval.
    """

    kind: ExcursionKind
    quantity: Quantity
    start: np.datetime64
    end: np.datetime64
    peak: float
    limit: float

    @property
    def hours(self) -> float:
        """Duration of the excursion [h]."""
        return float((self.end - self.start) / np.timedelta64(1, "h"))


@dataclass(frozen=True, slots=True)
class SeasonalDrift:
    """How far the seasonal cycle (30-day mean) wandered from the set point (series mean)."""

    t_up_k: float
    t_down_k: float
    rh_up_pct: float
    rh_down_pct: float
    allowed_t_up_k: float | None
    allowed_t_down_k: float | None
    allowed_rh_pct: float | None
    within: bool | None
    """True/False against the profile's seasonal allowances; None when it has none."""
    span_days: float
    """Length of the series; a seasonal judgement needs months, ideally a year."""


@dataclass(frozen=True, slots=True)
class Compliance:
    """A series measured against a profile. Percentages are of the covered (non-gap) time."""

    profile_id: str
    covered_hours: float
    gap_hours: float
    gap_pct: float
    """Gap share of the whole span (covered + gap) [%]."""
    time_in_band_pct: float
    time_out_of_band_pct: float
    too_cold_pct: float
    too_warm_pct: float
    too_dry_pct: float
    too_damp_pct: float
    mean_t_c: float
    mean_rh_pct: float
    short_term_breaches: tuple[Excursion, ...]
    band_excursions: tuple[Excursion, ...]
    seasonal: SeasonalDrift
    historic_band_pct: tuple[float, float] | None
    """EN 15757: the acceptable band of RH fluctuation (low, high) [% RH]; None otherwise."""


def compliance(
    profile: Profile | str,
    times: ArrayLike | Sequence[datetime],
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    *,
    max_gap_h: float | None = None,
    reference: tuple[ArrayLike | Sequence[datetime], ArrayLike] | None = None,
) -> Compliance:
    """Measure a room's series against a climate profile.

    Parameters
    ----------
    profile : Profile or str
        The profile or its id.
    times : array of datetime64 or sequence of aware datetimes
        Sample times, strictly increasing, irregular spacing allowed.
    t_c, rh_pct : array_like
        Temperature [°C] and relative humidity [%] per sample; NaN for a missing value.
    max_gap_h : float, optional
        A silence longer than this is a gap [h]; default ``max(3 × median spacing, 2 h)``.
        Each sample counts for the time until the next one (one median spacing before a gap
        and for the last sample); gap time and NaN samples count neither in nor out of band.
    reference : (times, rh_pct), optional
        EN 15757 only: the historic period whose fluctuations define the band; the series
        itself by default.

    Returns
    -------
    Compliance
        Time in band and its complement (summing to 100 % of covered time), time too
        cold/warm/dry/damp, gap total, each short-term breach and band excursion with start,
        end and peak, and the seasonal drift against the profile's allowances.
    """
    prof = get_profile(profile) if isinstance(profile, str) else profile
    stamps, t, rh, times_h = prepare_series(times, t_c, rh_pct)
    valid = np.isfinite(rh) & (np.isfinite(t) | (not prof.has_temperature_rules))
    hours, gap_hours, threshold = sample_durations(times_h, valid, max_gap_h)
    gap_after = np.append(np.diff(times_h) > threshold, False)
    ref = None if reference is None else _reference_fluctuations(prof, reference, max_gap_h)
    return _measure(prof, stamps, times_h, t, rh, hours, gap_after, gap_hours, ref)


def compliances(
    profiles: Sequence[Profile | str],
    times: ArrayLike | Sequence[datetime],
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    *,
    max_gap_h: float | None = None,
) -> tuple[Compliance, ...]:
    """One series measured against several profiles: for each, what :func:`compliance` of the
    series against it gives (a report measures every room against every standard).

    The series is checked once, and the profiles that count the same samples (with or without
    temperature rules) share the sample hours, the gaps and the running means, so each running
    mean (quantity, window) is computed once for all of them.

    Parameters
    ----------
    profiles : sequence of Profile or str
        The profiles or their ids; the result is in their order.
    times, t_c, rh_pct, max_gap_h
        As for :func:`compliance`.
    """
    resolved = [get_profile(p) if isinstance(p, str) else p for p in profiles]
    stamps, t, rh, times_h = prepare_series(times, t_c, rh_pct)
    return measure_prepared(resolved, stamps, t, rh, times_h, max_gap_h)


def measure_prepared(
    profiles: Sequence[Profile],
    stamps: TimeArray,
    t: FloatArray,
    rh: FloatArray,
    times_h: FloatArray,
    max_gap_h: float | None,
) -> tuple[Compliance, ...]:
    """:func:`compliances` of a series already checked by `prepare_series` (``room_metrics``
    has it so)."""
    shared: dict[bool, tuple[FloatArray, BoolArray, float, _RunningMeans]] = {}
    done: dict[Profile, Compliance] = {}
    for prof in profiles:
        if prof in done:
            continue
        has_t = prof.has_temperature_rules
        if has_t not in shared:
            valid = np.isfinite(rh) & (np.isfinite(t) | (not has_t))
            hours, gap_hours, threshold = sample_durations(times_h, valid, max_gap_h)
            gap_after = np.append(np.diff(times_h) > threshold, False)
            running = _RunningMeans(times_h, {"t": t, "rh": rh}, hours)
            shared[has_t] = (hours, gap_after, gap_hours, running)
        hours, gap_after, gap_hours, running = shared[has_t]
        done[prof] = _measure(
            prof, stamps, times_h, t, rh, hours, gap_after, gap_hours, running=running
        )
    return tuple(done[prof] for prof in profiles)


def _measure(
    prof: Profile,
    stamps: TimeArray,
    times_h: FloatArray,
    t: FloatArray,
    rh: FloatArray,
    hours: FloatArray,
    gap_after: BoolArray,
    gap_hours: float,
    reference: tuple[FloatArray, FloatArray] | None = None,
    *,
    running: _RunningMeans | None = None,
) -> Compliance:
    """:func:`compliance` on prepared arrays (sample hours, gap flags). ``reference`` is an
    EN 15757 historic period's (fluctuations, hours); ``running``: the series' running means
    over these sample hours, shared with other profiles (`measure_prepared`)."""
    covered = float(np.sum(hours))
    span = covered + gap_hours
    w = hours
    has_t = prof.has_temperature_rules

    def share(mask: BoolArray) -> float:
        return min(100.0 * (float(np.sum(w[mask])) / covered), 100.0) if covered > 0 else math.nan

    if running is None:
        running = _RunningMeans(times_h, {"t": t, "rh": rh}, w)
    mean_t = running.mean("t")
    mean_rh = running.mean("rh")

    too_cold = (t < prof.t_min_c) if has_t else np.zeros(t.shape, bool)
    too_warm = (t > prof.t_max_c) if has_t else np.zeros(t.shape, bool)
    too_dry = rh < prof.rh_min_pct
    too_damp = rh > prof.rh_max_pct

    historic_band: tuple[float, float] | None = None
    short_breaches: list[_Runs] = []
    if prof.method == "historic":
        fluct = rh - running("rh", prof.short_term_window_h)
        source, source_w = reference if reference is not None else (fluct, w)
        half = prof.short_term_rh_pct or 0.0
        p7 = _weighted_percentile(source, source_w, 7.0)
        p93 = _weighted_percentile(source, source_w, 93.0)
        low = min(p7, -half) if math.isfinite(p7) else -half
        high = max(p93, half) if math.isfinite(p93) else half
        historic_band = (low, high)
        outside = (fluct < low) | (fluct > high)
        in_band = (w > 0) & ~outside & np.isfinite(fluct)
        short_breaches = _excursions(
            "short_term",
            "rh",
            outside & (w > 0),
            fluct,
            high,
            stamps,
            hours,
            gap_after,
            low_limit=low,
        )
    else:
        in_band = (w > 0) & ~(too_cold | too_warm | too_dry | too_damp)
        if prof.short_term_t_k is not None:
            dev_t = t - running("t", prof.short_term_window_h)
            breach = (np.abs(dev_t) > prof.short_term_t_k + 1e-9) & (w > 0)
            short_breaches += _excursions(
                "short_term", "t", breach, dev_t, prof.short_term_t_k, stamps, hours, gap_after
            )
        if prof.short_term_rh_pct is not None:
            dev_rh = rh - running("rh", prof.short_term_window_h)
            breach = (np.abs(dev_rh) > prof.short_term_rh_pct + 1e-9) & (w > 0)
            short_breaches += _excursions(
                "short_term",
                "rh",
                breach,
                dev_rh,
                prof.short_term_rh_pct,
                stamps,
                hours,
                gap_after,
            )

    band: list[_Runs] = []
    if prof.method == "fixed":
        live = w > 0
        band += _band_excursions(
            "t",
            t,
            too_cold & live,
            too_warm & live,
            prof.t_min_c,
            prof.t_max_c,
            stamps,
            hours,
            gap_after,
        )
        band += _band_excursions(
            "rh",
            rh,
            too_dry & live,
            too_damp & live,
            prof.rh_min_pct,
            prof.rh_max_pct,
            stamps,
            hours,
            gap_after,
        )

    in_pct = share(in_band)
    return Compliance(
        profile_id=prof.id,
        covered_hours=covered,
        gap_hours=gap_hours,
        gap_pct=100.0 * gap_hours / span if span > 0 else math.nan,
        time_in_band_pct=in_pct,
        time_out_of_band_pct=100.0 - in_pct if covered > 0 else math.nan,
        too_cold_pct=share(too_cold),
        too_warm_pct=share(too_warm),
        too_dry_pct=share(too_dry),
        too_damp_pct=share(too_damp),
        mean_t_c=mean_t,
        mean_rh_pct=mean_rh,
        short_term_breaches=_sorted(short_breaches),
        band_excursions=_sorted(band),
        seasonal=_seasonal(prof, running, t, span),
        historic_band_pct=historic_band,
    )


class _RunningMeans:
    """Time-weighted centred running means of a series' quantities, each (quantity, window)
    computed once: ASHRAE's short-term and seasonal windows are both 30 days, and EN 15757's
    short-term window is its seasonal one. Also each quantity's time-weighted mean and the
    seasonal cycle's drift from it, which depend on the sample hours only, so that profiles
    sharing them (`measure_prepared`) share these too."""

    def __init__(
        self, times_h: FloatArray, values: dict[Quantity, FloatArray], w: FloatArray
    ) -> None:
        self._times_h = times_h
        self._values = values
        self._w = w
        self._done: dict[tuple[Quantity, float], FloatArray] = {}
        self._bounds: dict[float, tuple[IntArray, IntArray]] = {}
        self._means: dict[Quantity, float] = {}
        self._drifts: dict[tuple[Quantity, float], tuple[float, float]] = {}

    def __call__(self, quantity: Quantity, window_h: float) -> FloatArray:
        key = (quantity, window_h)
        if key not in self._done:
            if window_h not in self._bounds:
                self._bounds[window_h] = window_bounds(self._times_h, window_h)
            self._done[key] = moving_average(
                self._times_h,
                self._values[quantity],
                self._w,
                window_h,
                bounds=self._bounds[window_h],
            )
        return self._done[key]

    def mean(self, quantity: Quantity) -> float:
        """The quantity's time-weighted mean (the set point)."""
        if quantity not in self._means:
            self._means[quantity] = _weighted_mean(self._values[quantity], self._w)
        return self._means[quantity]

    def drift(self, quantity: Quantity, window_h: float) -> tuple[float, float]:
        """How far the running mean over ``window_h`` rose above and fell below the quantity's
        mean, over the samples that count (NaN, NaN without any)."""
        key = (quantity, window_h)
        if key not in self._drifts:
            cycle = self(quantity, window_h)
            drift = cycle[np.isfinite(cycle) & (self._w > 0)] - self.mean(quantity)
            if drift.size == 0:
                self._drifts[key] = (math.nan, math.nan)
            else:
                self._drifts[key] = (
                    max(float(np.max(drift)), 0.0),
                    max(float(-np.min(drift)), 0.0),
                )
        return self._drifts[key]


def _weighted_mean(x: FloatArray, w: FloatArray) -> float:
    ok = np.isfinite(x) & (w > 0)
    total = float(np.sum(w[ok]))
    return float(np.sum(x[ok] * w[ok]) / total) if total > 0 else math.nan


def _weighted_percentile(x: FloatArray, w: FloatArray, q: float) -> float:
    ok = np.isfinite(x) & (w > 0)
    if not np.any(ok):
        return math.nan
    order = np.argsort(x[ok])
    xs, ws = x[ok][order], w[ok][order]
    cum = np.cumsum(ws) - 0.5 * ws
    return float(np.interp(q / 100.0 * float(np.sum(ws)), cum, xs))


def _reference_fluctuations(
    prof: Profile,
    reference: tuple[ArrayLike | Sequence[datetime], ArrayLike],
    max_gap_h: float | None,
) -> tuple[FloatArray, FloatArray]:
    ref_times, ref_rh = reference
    stamps = to_datetime64(ref_times)
    rh = np.atleast_1d(as_float_array(ref_rh))
    times_h = hours_since_start(stamps)
    check_increasing(times_h)
    hours, _, _ = sample_durations(times_h, np.isfinite(rh), max_gap_h)
    fluct = rh - moving_average(times_h, rh, hours, prof.short_term_window_h)
    return fluct, hours


def _excursion_maker() -> Callable[
    [ExcursionKind, Quantity, np.datetime64, np.datetime64, float, float], Excursion
]:
    """A constructor of `Excursion` from its fields in order, the same object as
    ``Excursion(...)`` makes, about twice as fast: a frozen dataclass's ``__init__`` sets each
    field through ``object.__setattr__``, which was a fifth of a year report's metrics (a
    year of a daily cycle against ISO 11799 is ~1 500 short-term breaches a room). Used while
    `Excursion` has exactly these fields, no defaults and no ``__post_init__`` (checked here;
    otherwise the class itself)."""
    fields = dataclasses.fields(Excursion)
    if (
        tuple(f.name for f in fields) != ("kind", "quantity", "start", "end", "peak", "limit")
        or hasattr(Excursion, "__post_init__")
        or any(
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            for f in fields
        )
    ):
        return Excursion
    set_kind, set_quantity, set_start, set_end, set_peak, set_limit = (
        getattr(Excursion, f.name).__set__ for f in fields
    )
    new = object.__new__

    def make(
        kind: ExcursionKind,
        quantity: Quantity,
        start: np.datetime64,
        end: np.datetime64,
        peak: float,
        limit: float,
    ) -> Excursion:
        excursion: Excursion = new(Excursion)
        set_kind(excursion, kind)
        set_quantity(excursion, quantity)
        set_start(excursion, start)
        set_end(excursion, end)
        set_peak(excursion, peak)
        set_limit(excursion, limit)
        return excursion

    return make


_new_excursion = _excursion_maker()


@dataclass(frozen=True, slots=True)
class _Runs:
    """Excursions of one kind and quantity as arrays, before they become `Excursion`s
    (`_sorted`): the index of each one's first sample, its start, end, peak and limit."""

    kind: ExcursionKind
    quantity: Quantity
    first: IntArray
    start: TimeArray
    end: TimeArray
    peak: FloatArray
    limit: FloatArray


def _run_bounds(mask: BoolArray, gap_after: BoolArray) -> tuple[IntArray, IntArray]:
    """First and last index of each run of True, a gap ending a run."""
    if mask.size == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    continues = mask[:-1] & mask[1:] & ~gap_after[:-1]
    starts = np.flatnonzero(mask & ~np.concatenate(([False], continues)))
    ends = np.flatnonzero(mask & ~np.concatenate((continues, [False])))
    return starts, ends


def _make(
    kind: ExcursionKind,
    quantity: Quantity,
    starts: IntArray,
    ends: IntArray,
    peaks: FloatArray,
    limits: FloatArray,
    stamps: TimeArray,
    hours: FloatArray,
) -> _Runs:
    end_ns = np.round(hours[ends] * NS_PER_HOUR).astype(np.int64).astype("timedelta64[ns]")
    end_times = stamps[ends] + end_ns
    first_times = stamps[starts]
    return _Runs(kind, quantity, starts, first_times, end_times, peaks, limits)


def _excursions(
    kind: ExcursionKind,
    quantity: Quantity,
    mask: BoolArray,
    values: FloatArray,
    limit: float,
    stamps: TimeArray,
    hours: FloatArray,
    gap_after: BoolArray,
    *,
    low_limit: float | None = None,
) -> list[_Runs]:
    starts, ends = _run_bounds(mask, gap_after)
    if starts.size == 0:
        return []
    filled = np.where(mask, values, np.nan)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
        highest = np.fmax.reduceat(filled, starts)[: starts.size]
        lowest = np.fmin.reduceat(filled, starts)[: starts.size]
    if low_limit is None:
        peaks = np.where(np.abs(highest) >= np.abs(lowest), highest, lowest)
        limits = np.full(peaks.shape, limit)
    else:
        above = (highest - limit) >= (low_limit - lowest)
        peaks = np.where(above, highest, lowest)
        limits = np.where(above, limit, low_limit)
    return [_make(kind, quantity, starts, ends, peaks, limits, stamps, hours)]


def _band_excursions(
    quantity: Quantity,
    values: FloatArray,
    below: BoolArray,
    above: BoolArray,
    low: float,
    high: float,
    stamps: TimeArray,
    hours: FloatArray,
    gap_after: BoolArray,
) -> list[_Runs]:
    out: list[_Runs] = []
    for mask, limit, reduce in ((below, low, np.fmin), (above, high, np.fmax)):
        starts, ends = _run_bounds(mask, gap_after)
        if starts.size == 0:
            continue
        worst = reduce.reduceat(np.where(mask, values, np.nan), starts)[: starts.size]
        limits = np.full(worst.shape, limit)
        out.append(_make("band", quantity, starts, ends, worst - limit, limits, stamps, hours))
    return out


def _sorted(parts: list[_Runs]) -> tuple[Excursion, ...]:
    """The excursions by start, temperature before RH at the same start (a stable sort: at
    equal keys, in the order given)."""
    parts = [p for p in parts if p.first.size]
    if not parts:
        return ()
    first = np.concatenate([p.first for p in parts])
    source = np.concatenate([np.full(p.first.size, i, dtype=np.intp) for i, p in enumerate(parts)])
    order = np.array([0 if p.quantity == "t" else 1 for p in parts], dtype=np.intp)[source]
    index = np.lexsort((order, first))
    which = source[index].tolist()
    kinds = [parts[i].kind for i in which]
    quantities = [parts[i].quantity for i in which]
    starts = list(np.concatenate([p.start for p in parts])[index])
    ends = list(np.concatenate([p.end for p in parts])[index])
    peaks = np.concatenate([p.peak for p in parts])[index].tolist()
    limits = np.concatenate([p.limit for p in parts])[index].tolist()
    return tuple(map(_new_excursion, kinds, quantities, starts, ends, peaks, limits))


def _seasonal(prof: Profile, running: _RunningMeans, t: FloatArray, span_h: float) -> SeasonalDrift:
    window = prof.seasonal_window_h
    t_up, t_down = running.drift("t", window) if np.any(np.isfinite(t)) else (math.nan, math.nan)
    rh_up, rh_down = running.drift("rh", window)
    within: bool | None = None
    if prof.has_seasonal_rules:
        checks = []
        if prof.seasonal_t_up_k is not None and math.isfinite(t_up):
            checks.append(t_up <= prof.seasonal_t_up_k + 1e-9)
        if prof.seasonal_t_down_k is not None and math.isfinite(t_down):
            checks.append(t_down <= prof.seasonal_t_down_k + 1e-9)
        if prof.seasonal_rh_pct is not None and math.isfinite(rh_up):
            checks.append(max(rh_up, rh_down) <= prof.seasonal_rh_pct + 1e-9)
        within = all(checks) if checks else None
    return SeasonalDrift(
        t_up_k=t_up,
        t_down_k=t_down,
        rh_up_pct=rh_up,
        rh_down_pct=rh_down,
        allowed_t_up_k=prof.seasonal_t_up_k,
        allowed_t_down_k=prof.seasonal_t_down_k,
        allowed_rh_pct=prof.seasonal_rh_pct,
        within=within,
        span_days=span_h / 24.0,
    )
