"""The excursion rule class of `alerts.fleet.FleetEvaluator`: the four band rules of
`alerts.rules.excursion` (temperature and RH above and below the room's band, with the
deadband of their clear levels) for every air sensor in one array pass, by episode.

What the reference computes per sample (`alerts.rules.base.exceedances`: hysteresis from the
open alert's state at the window's first sample, the episode's first sample, the last fresh
sample at each evaluation time) is computed here per *episode*: a sensor's samples beyond the
warning level ("rises") and back past its clear level ("falls") split its window into runs;
an episode runs from a rise (or, when the alert was open, the window's first sample) to the next
fall. Only the samples inside episodes are looked at further (the critical level's hysteresis,
which can only hold inside an episode, and the evaluation times each one is the last sample
for); the stale evaluation times come from the gaps between samples. So a backtest's year of
steps costs a few passes over the samples, not one per step, and its findings per episode.

Live (one evaluation time), each rule also carries a summary of the samples before its settle
point (`Carried`: the last rise or fall, the last fall and the first rise after it, the last
critical-level event, the last sample — times, not states, so the open alerts of the next
cycle still decide the hysteresis where no sample did), and the next cycle evaluates only the
samples from that point on: the settle window, whose readings may still change, and what
arrived since — O(sensors × new samples). A reading later than the settle window is not seen
until the evaluator is rebuilt, the contract of `alerts.incremental` (the store read whole
each cycle, `StoreSource`, carries nothing). A window start the summary does not cover, time
going back, other sensors or several evaluation times evaluate the whole window again, as a
new evaluator does (a reload, a restart): the window holds all the state there is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING

import numpy as np

from repoclimate.alerts.evaluate import Active, ArraySource, ClassResult, HistorySource
from repoclimate.alerts.fleet import _array, _attribute, _Entry, _Member, _Raw, _RunEntry
from repoclimate.alerts.fleet_series import Segments, carry
from repoclimate.alerts.incremental import DEFAULT_SETTLE_S, IncrementalStoreSource
from repoclimate.alerts.model import EpochTimes, Finding, Severity
from repoclimate.alerts.replay import FindingRun
from repoclimate.alerts.rules import excursion
from repoclimate.alerts.rules.base import Levels
from repoclimate.alerts.series import BoolArray, FloatArray, IntArray
from repoclimate.history.ranges import search_ranges

if TYPE_CHECKING:
    from repoclimate.alerts.fleet import FleetEvaluator

_Compare = Callable[..., BoolArray]
"""`numpy.greater` or `numpy.less`: beyond a level on the rule's bad side."""

_NONE = -1

_SID = attrgetter("sid")

_LONG_SEGMENTS = 2048
"""Segments this long on average are compared segment by segment (`_beyond`)."""


def directions(m: _Member) -> dict[str, excursion._Direction]:
    """The member's excursion directions by rule (none when the rule is off)."""
    if not m.rules.excursion.enabled:
        return {}
    return {d.rule: d for d in excursion._directions(m.band, m.rules.excursion)}


@dataclass(frozen=True, slots=True)
class _Rule:
    """One excursion rule's parameters per member (levels NaN where it is not judged)."""

    name: str
    rank: int
    above: bool
    quantity: str
    unit: str
    label: str
    found: tuple[excursion._Direction | None, ...]
    judged: BoolArray
    warning: FloatArray
    warning_clear: FloatArray
    critical: FloatArray
    critical_clear: FloatArray

    @property
    def beyond(self) -> tuple[_Compare, _Compare]:
        """(beyond a level on the bad side, back past a level on the good side)."""
        return (np.greater, np.less) if self.above else (np.less, np.greater)


@dataclass(frozen=True, slots=True)
class Carried:
    """One rule's summary per member of the samples in ``[covers, settled)``: event times
    [epoch s] (NaN: none) and what they set. A window starting at ``S ≥ covers`` sees of them
    only those at or after ``S``."""

    settled: float
    end: float
    """The evaluation time it was carried from (time going back evaluates whole)."""
    covers: FloatArray
    event_t: FloatArray
    """The last rise or fall (warning level)."""
    event_on: BoolArray
    critical_t: FloatArray
    """The last sample beyond the critical level or back past its clear level."""
    critical_on: BoolArray
    fall_t: FloatArray
    """The last fall."""
    rise_t: FloatArray
    """The first rise after the last fall (with none, after ``covers``)."""
    last_t: FloatArray
    """The last sample, and its value."""
    last_v: FloatArray


@dataclass
class Kept:
    """What the class keeps between runs of one evaluator (whose registry and rules are fixed):
    the rules' parameters for its members, and each rule's carried summary."""

    sids: tuple[str, ...]
    index: dict[str, int]
    rules: list[_Rule]
    max_age: FloatArray
    carried: dict[str, Carried]
    runs_carried: int = 0
    """Runs evaluated from the carried summaries (the others evaluated whole windows)."""


def _settle_s(source: HistorySource) -> float | None:
    """How old a reading must be before it no longer changes [s], for the sources that promise
    it (preloaded arrays; `IncrementalStoreSource`, which reads no older readings again);
    None: whole windows are read from the store each cycle, and a late reading of any age is
    seen, so nothing is carried."""
    if isinstance(source, IncrementalStoreSource):
        return source.settle_s
    if isinstance(source, ArraySource):
        return DEFAULT_SETTLE_S
    return None


def _kept(ev: FleetEvaluator, members: Sequence[_Member], sids: tuple[str, ...]) -> Kept:
    kept = ev.excursion_kept
    if kept is not None and kept.sids == sids:
        return kept
    found_by_member = [ev._directions(m) for m in members]
    rules: list[_Rule] = []
    for rank, name in enumerate(excursion.RULES):
        found = tuple(d.get(name) for d in found_by_member)
        known = next((d for d in found if d is not None), None)
        if known is None:
            continue
        sign = 1.0 if known.above else -1.0
        limit = _attribute(found, "limit")
        margin = _attribute(found, "margin")
        critical = limit + sign * _attribute(found, "critical_offset")
        rules.append(
            _Rule(
                name,
                rank,
                known.above,
                known.quantity,
                known.unit,
                known.label,
                found,
                np.array([d is not None for d in found], dtype=np.bool_),
                limit,
                limit - sign * margin,
                critical,
                critical - sign * margin,
            )
        )
    max_age = _array(m.rules.health.silent_factor * m.sensor.expected_interval_s for m in members)
    kept = Kept(sids, {sid: k for k, sid in enumerate(sids)}, rules, max_age, {})
    ev.excursion_kept = kept
    return kept


def _open(kept: Kept, active: Active) -> dict[str, tuple[BoolArray, BoolArray]]:
    """Per rule of ``kept``, per member: whether the rule has an open alert, and whether that
    one is critical (one pass over the open alerts for all rules)."""
    opened = {
        rule.name: (
            np.zeros(len(kept.sids), dtype=np.bool_),
            np.zeros(len(kept.sids), dtype=np.bool_),
        )
        for rule in kept.rules
    }
    for sid, states in active.items():
        k = kept.index.get(sid)
        if k is None:
            continue
        for name, severity in states.items():
            found = opened.get(name)
            if found is not None and severity is not None:
                found[0][k] = True
                found[1][k] = severity == Severity.CRITICAL
    return opened


def excursion_class(
    ev: FleetEvaluator,
    members: Sequence[_Member],
    at: FloatArray,
    active: Active,
    result: ClassResult,
    entries: list[_Entry],
    runs: list[_RunEntry] | None = None,
) -> None:
    """The excursion class's findings (into ``entries``; ``runs`` given: into it, as a
    `FindingRun` per member and rule) and held subjects (into ``result``)."""
    sids = tuple(map(_SID, members))
    result.subjects.update(sids)
    if not members or at.size == 0:
        return
    kept = _kept(ev, members, sids)
    if not kept.rules:
        return
    raw = ev._raw_of(members)
    starts = np.fromiter(
        (m.data.raw[m.sensor.id].start for m in members), dtype=np.float64, count=len(members)
    )
    settle_s = _settle_s(ev.source) if at.size == 1 else None
    end = float(at[-1])
    carried = {
        rule.name: c
        for rule in kept.rules
        if (c := kept.carried.get(rule.name)) is not None
        and settle_s is not None
        and float(at[0]) >= c.settled
        and end >= c.end
        and bool(np.all(starts >= c.covers))
    }
    kept.carried.clear()
    settled = {c.settled for c in carried.values()}
    tail_from = min(settled) if len(settled) == 1 and len(carried) == len(kept.rules) else None
    if tail_from is None:
        carried = {}
    else:
        kept.runs_carried += 1
    times_of: dict[str, tuple[FloatArray, FloatArray, Segments]] = {}
    if tail_from is None:
        window_segs, window_times = raw.segs, raw.times
        window_index = None
    else:
        # each row's samples from the settle point on: its last ones (times in order)
        heads, ends = raw.segs.offsets[:-1], raw.segs.offsets[1:]
        lo = search_ranges(raw.times, heads, ends, np.full(raw.segs.count, tail_from))
        window_segs, window_index = Segments.from_lengths(ends - lo), _ranges(lo, ends)
        window_times = raw.times[window_index]
    order = None if bool(np.all(at[1:] >= at[:-1])) else np.argsort(at, kind="stable")
    helds: dict[tuple[str, bool], tuple[IntArray, IntArray]] = {}
    """The held steps of the rules judging every member, by quantity: the same samples."""
    sorted_at = at if order is None else at[order]
    opened = _open(kept, active)
    for rule in kept.rules:
        if not rule.judged.any():
            continue
        if rule.quantity not in times_of:
            values = raw.quantity(rule.quantity)
            if window_index is not None:
                values = values[window_index]
            valid = ~np.isnan(values)
            if valid.all():
                times_of[rule.quantity] = (window_times, values, window_segs)
            else:
                segs, keep = _compact(window_segs, valid)
                times_of[rule.quantity] = (window_times[keep], values[keep], segs)
        times, values, segs = times_of[rule.quantity]
        if not rule.judged.all():
            segs, keep = _compact(segs, rule.judged[segs.seg])
            times, values = times[keep], values[keep]
        was, was_critical = opened[rule.name]
        old = carried.get(rule.name)
        if old is None:
            virtual = np.zeros(times.size, dtype=np.bool_)
            on0, critical0, since0 = was, was_critical, np.full(segs.count, np.nan)
        else:
            on0, critical0, since0 = _from_carried(
                old, rule, members, raw, starts, was, was_critical
            )
            times, values, segs, virtual = _with_last(old, times, values, segs, starts)
        key = (rule.quantity, old is None)
        held = helds.get(key) if rule.judged.all() else None
        if held is None:
            held = _held(times, segs, rule.judged, sorted_at, kept.max_age)
            if rule.judged.all():
                helds[key] = held
        judged = _judge(
            times, values, segs, rule, on0, critical0, since0, sorted_at, kept.max_age, held
        )
        if order is not None:
            judged = judged.reordered(order)
        held_seg, held_step = judged.held
        result.output.held.extend(
            (j, rule.name, kept.sids[s])
            for s, j in zip(held_seg.tolist(), held_step.tolist(), strict=True)
        )
        _findings(rule, members, judged, entries, runs)
        if settle_s is not None:
            covers = starts if old is None else old.covers
            kept.carried[rule.name] = _carry(
                old, rule, judged, times, values, segs, virtual, end - settle_s, end, covers
            )


@dataclass(frozen=True, slots=True)
class _Judged:
    """A rule's hits (per hit: segment, step, value, critical, episode start, clearing) and
    its held (segment, step), each in (segment, step) order."""

    seg: IntArray
    step: IntArray
    value: FloatArray
    critical: BoolArray
    since: FloatArray
    clearing: BoolArray
    held: tuple[IntArray, IntArray]
    rises: BoolArray
    """Per sample: beyond the warning level, and back past its clear level."""
    falls: BoolArray

    def reordered(self, order: IntArray) -> _Judged:
        """With steps of sorted evaluation times mapped back to ``at``'s own order."""
        step = order[self.step]
        by = np.lexsort((step, self.seg))
        held_seg, held_step = self.held
        held_step = order[held_step]
        held_by = np.lexsort((held_step, held_seg))
        return _Judged(
            self.seg[by],
            step[by],
            self.value[by],
            self.critical[by],
            self.since[by],
            self.clearing[by],
            (held_seg[held_by], held_step[held_by]),
            self.rises,
            self.falls,
        )


def _beyond(compare: _Compare, values: FloatArray, levels: FloatArray, segs: Segments) -> BoolArray:
    """``compare(values, level of each element's segment)``: segment by segment when the
    segments are long (a backtest's year per sensor), else against the levels repeated."""
    if values.size < _LONG_SEGMENTS * max(segs.count, 1):
        with np.errstate(invalid="ignore"):
            repeated: BoolArray = compare(values, np.repeat(levels, segs.lengths))
        return repeated
    out = np.empty(values.size, dtype=np.bool_)
    bounds = segs.offsets.tolist()
    with np.errstate(invalid="ignore"):
        for k, level in enumerate(levels.tolist()):
            a, b = bounds[k], bounds[k + 1]
            compare(values[a:b], level, out=out[a:b])
    return out


def _ranges(lo: IntArray, hi: IntArray) -> IntArray:
    """``lo[k]…hi[k] - 1`` for every k, end to end."""
    lengths = np.maximum(hi - lo, 0)
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    first = np.cumsum(lengths) - lengths
    out: IntArray = np.arange(total, dtype=np.int64) - np.repeat(first - lo, lengths)
    return out


def _next_at_or_after(where: IntArray, index: IntArray, limit: IntArray, n: int) -> IntArray:
    """The first of the sorted indices ``where`` at or after each ``index``, at most
    ``limit``."""
    if where.size == 0:
        return np.minimum(np.full(index.size, n, dtype=np.int64), limit)
    k = np.searchsorted(where, index)
    found = np.where(k < where.size, where[np.minimum(k, where.size - 1)], n)
    result: IntArray = np.minimum(found, limit)
    return result


def _next_true(mask: BoolArray, index: IntArray, limit: IntArray) -> IntArray:
    """The first ``i ≥ index`` where ``mask`` holds, at most ``limit`` (``mask.size``: none).

    From the indices where it holds when they are few; else from those where it does not
    (the readings inside the band by the margin are most of a window: the falls)."""
    n = mask.size
    if 2 * int(np.count_nonzero(mask)) <= n:
        return _next_at_or_after(np.flatnonzero(mask), index, limit, n)
    off = np.flatnonzero(~mask)
    if off.size == 0:
        return np.minimum(index, limit)
    run_end = np.flatnonzero(np.diff(off) != 1)
    run_end = np.append(run_end, off.size - 1)
    k = np.minimum(np.searchsorted(off, index), off.size - 1)
    inside = off[k] == index
    after = off[run_end[np.searchsorted(run_end, k)]] + 1
    result: IntArray = np.minimum(np.where(inside, after, index), limit)
    return result


def _runs(
    rises: BoolArray, falls: BoolArray, segs: Segments, on0: BoolArray
) -> tuple[IntArray, IntArray, BoolArray, IntArray]:
    """The episodes: where each starts and stops (flat indices, stop exclusive), whether it
    was under way at the segment's first sample, and its segment — in flat order.

    An episode starts at a rise while off and stops at the next fall (or the segment's end);
    a segment that starts on (``on0``) is on from its first sample to its first fall."""
    ends = segs.offsets[1:]
    up = np.flatnonzero(rises)
    up_seg = segs.seg[up]
    head_seg = np.flatnonzero(on0 & (segs.lengths > 0))
    head_start = segs.offsets[head_seg]
    stops = _next_true(
        falls, np.concatenate((head_start, up)), np.concatenate((ends[head_seg], ends[up_seg]))
    )
    head_stop, stop = stops[: head_seg.size], stops[head_seg.size :]
    head_end = np.full(segs.count, _NONE, dtype=np.int64)
    head_end[head_seg] = head_stop
    outside = up >= head_end[up_seg]
    up, stop, up_seg = up[outside], stop[outside], up_seg[outside]
    first = np.ones(up.size, dtype=np.bool_)
    np.not_equal(stop[1:], stop[:-1], out=first[1:])
    start = np.concatenate((head_start, up[first]))
    order = np.argsort(start, kind="stable")
    return (
        start[order],
        np.concatenate((head_stop, stop[first]))[order],
        np.concatenate((np.ones(head_seg.size, np.bool_), np.zeros(int(first.sum()), np.bool_)))[
            order
        ],
        np.concatenate((head_seg, up_seg[first]))[order],
    )


def _fresh_until(
    at: FloatArray, t: FloatArray, max_age: FloatArray, lo: IntArray, hi: IntArray
) -> IntArray:
    """Per sample at ``t``, the end of its fresh steps in ``[lo, hi)``: the first step whose
    age ``at − t`` exceeds ``max_age``, as the reference computes the age (a difference,
    rounded; it grows with ``at``, so the fresh steps are a prefix)."""
    until = np.clip(np.searchsorted(at, t + max_age, side="right"), lo, hi)
    while True:
        back = until > lo
        back[back] = at[until[back] - 1] - t[back] > max_age[back]
        if not back.any():
            break
        until[back] -= 1
    while True:
        on = until < hi
        on[on] = at[until[on]] - t[on] <= max_age[on]
        if not on.any():
            break
        until[on] += 1
    result: IntArray = until
    return result


def _judge(
    times: FloatArray,
    values: FloatArray,
    segs: Segments,
    rule: _Rule,
    on0: BoolArray,
    critical0: BoolArray,
    since0: FloatArray,
    at: FloatArray,
    max_age: FloatArray,
    held: tuple[IntArray, IntArray],
) -> _Judged:
    """`alerts.rules.base.exceedances` for every segment, by episode (module docstring), with
    the held steps (`_held`).

    ``on0``/``critical0``: the hysteresis before each segment's first sample; ``since0``: the
    start of an episode under way then (NaN: the first sample's time). ``at`` ascending."""
    beyond, back = rule.beyond
    n = values.size
    rises = _beyond(beyond, values, rule.warning, segs)
    falls = _beyond(back, values, rule.warning_clear, segs)
    start, stop, head, run_seg = _runs(rises, falls, segs, on0)
    # the samples inside episodes, with their episode's start and critical state
    sample = _ranges(start, stop)
    run_lengths = stop - start
    seg = np.repeat(run_seg, run_lengths)
    began = np.where(head & ~np.isnan(since0[run_seg]), since0[run_seg], times[start])
    since = np.repeat(began, run_lengths)
    inside = values[sample]
    with np.errstate(invalid="ignore"):
        events = np.zeros(sample.size, dtype=np.int8)
        events[back(inside, np.repeat(rule.critical_clear[run_seg], run_lengths))] = -1
        events[beyond(inside, np.repeat(rule.critical[run_seg], run_lengths))] = 1
    critical = carry(events, Segments.from_lengths(run_lengths), head & critical0[run_seg])
    # the steps each sample inside an episode is the last fresh sample for
    t = times[sample]
    last = sample + 1 == segs.offsets[1:][seg]
    t_next = np.where(last, np.inf, times[np.minimum(sample + 1, max(n - 1, 0))])
    lo = np.searchsorted(at, t, side="left")
    nxt = np.searchsorted(at, t_next, side="left")
    until = _fresh_until(at, t, max_age[seg], lo, nxt)
    steps = _ranges(lo, until)
    hit = np.repeat(np.arange(sample.size, dtype=np.int64), np.maximum(until - lo, 0))
    return _Judged(
        seg[hit],
        steps,
        inside[hit],
        critical[hit],
        since[hit],
        ~rises[sample[hit]],
        held,
        rises,
        falls,
    )


def _held(
    times: FloatArray, segs: Segments, judged: BoolArray, at: FloatArray, max_age: FloatArray
) -> tuple[IntArray, IntArray]:
    """The (segment, step) of every judged segment at each step with no fresh sample: before
    its first sample, and after each sample followed by none for longer than its age."""
    n = times.size
    m = at.size
    lengths = segs.lengths
    nonempty = lengths > 0
    waits = np.empty(n)
    np.subtract(times[1:], times[:-1], out=waits[:-1])
    waits[segs.offsets[1:][nonempty] - 1] = np.inf
    gap = np.flatnonzero(_beyond(np.greater, waits, max_age, segs))
    t_next = np.where(np.isinf(waits[gap]), np.inf, times[np.minimum(gap + 1, max(n - 1, 0))])
    gap_seg = segs.seg[gap]
    nxt = np.searchsorted(at, t_next, side="left")
    lo = np.searchsorted(at, times[gap], side="left")
    gap_from = _fresh_until(at, times[gap], max_age[gap_seg], lo, nxt)
    first_seg = np.flatnonzero(judged)
    first_to = np.full(first_seg.size, m, dtype=np.int64)
    has = nonempty[first_seg]
    first_to[has] = np.searchsorted(at, times[segs.offsets[first_seg[has]]], side="left")
    seg = np.concatenate((first_seg, gap_seg))
    lo_all = np.concatenate((np.zeros(first_seg.size, dtype=np.int64), gap_from))
    hi_all = np.concatenate((first_to, nxt))
    by = np.lexsort((lo_all, seg))
    seg, lo_all, hi_all = seg[by], lo_all[by], hi_all[by]
    steps = _ranges(lo_all, hi_all)
    return np.repeat(seg, np.maximum(hi_all - lo_all, 0)), steps


def _from_carried(
    old: Carried,
    rule: _Rule,
    members: Sequence[_Member],
    raw: _Raw,
    starts: FloatArray,
    was: BoolArray,
    was_critical: BoolArray,
) -> tuple[BoolArray, BoolArray, FloatArray]:
    """The hysteresis at the settle point, and the start of an episode under way then, from
    the carried summary seen from each window's start and the open alerts (which decide where
    no sample in the window did)."""
    with np.errstate(invalid="ignore"):
        seen = old.last_t >= starts
        on0 = np.where(old.event_t >= starts, old.event_on, was)
        critical0 = np.where(old.critical_t >= starts, old.critical_on, was_critical)
        fell = old.fall_t >= starts
        rose = old.rise_t >= starts
    since0 = np.full(starts.size, np.nan)
    under_way = seen & on0
    known = under_way & (fell | (~was & rose))
    since0[known] = old.rise_t[known]
    # an episode older than the window's last fall: its start moves with the window's — its
    # first sample when the alert is open (the joined window's first, unless that one lacks
    # the quantity), else its first rise: looked up per sensor
    moving = np.flatnonzero(under_way & ~known)
    first = raw.segs.offsets[moving]
    direct = was[moving] & (first < raw.segs.offsets[moving + 1])
    direct[direct] = ~np.isnan(raw.quantity(rule.quantity)[first[direct]])
    since0[moving[direct]] = raw.times[first[direct]]
    beyond, _ = rule.beyond
    for k in moving[~direct].tolist():
        series = members[k].data.raw[members[k].sensor.id]
        values = series.quantity(rule.quantity)
        with np.errstate(invalid="ignore"):
            mask = (~np.isnan(values)) if was[k] else beyond(values, rule.warning[k])
        mask &= series.times < old.settled
        found = np.flatnonzero(mask)
        # none only if readings before the settle point changed (which sources promise not
        # to do): the episode is then taken as starting at the first reading evaluated
        since0[k] = series.times[found[0]] if found.size else np.nan
    return on0, critical0, since0


def _with_last(
    old: Carried, times: FloatArray, values: FloatArray, segs: Segments, starts: FloatArray
) -> tuple[FloatArray, FloatArray, Segments, BoolArray]:
    """The samples from the settle point, each segment led by the last sample before it (in
    the window), which is the last sample at an evaluation time before the first of them."""
    with np.errstate(invalid="ignore"):
        seen = old.last_t >= starts
    lengths = segs.lengths + seen
    led = Segments.from_lengths(lengths)
    moved = (
        np.arange(times.size, dtype=np.int64)
        + (led.offsets[:-1] + seen - segs.offsets[:-1])[segs.seg]
    )
    first = led.offsets[:-1][seen]
    out_times = np.empty(led.offsets[-1])
    out_values = np.empty(led.offsets[-1])
    out_times[moved], out_values[moved] = times, values
    out_times[first], out_values[first] = old.last_t[seen], old.last_v[seen]
    virtual = np.zeros(out_times.size, dtype=np.bool_)
    virtual[first] = True
    return out_times, out_values, led, virtual


def _compact(segs: Segments, keep: BoolArray) -> tuple[Segments, IntArray]:
    """`Segments.compact` by the indices kept (few of many: a window's settle tail)."""
    where = np.flatnonzero(keep)
    return Segments.from_offsets(np.searchsorted(where, segs.offsets)), where


def _last(mask: BoolArray, segs: Segments) -> IntArray:
    """Per segment, the flat index of its last element ``mask`` selects (−1: none)."""
    where = np.flatnonzero(mask)
    upto = np.searchsorted(where, segs.offsets[1:])
    out = np.full(segs.count, _NONE, dtype=np.int64)
    has = upto > np.searchsorted(where, segs.offsets[:-1])
    out[has] = where[upto[has] - 1]
    return out


def _first_after(mask: BoolArray, segs: Segments, after: IntArray) -> IntArray:
    """Per segment, the flat index of its first element after ``after`` (−1: from the
    segment's start) that ``mask`` selects (−1: none)."""
    where = np.flatnonzero(mask)
    before = np.searchsorted(where, np.where(after >= 0, after + 1, segs.offsets[:-1]))
    out = np.full(segs.count, _NONE, dtype=np.int64)
    has = np.searchsorted(where, segs.offsets[1:]) > before
    out[has] = where[before[has]]
    return out


def _carry(
    old: Carried | None,
    rule: _Rule,
    judged: _Judged,
    times: FloatArray,
    values: FloatArray,
    segs: Segments,
    virtual: BoolArray,
    settled: float,
    end: float,
    covers: FloatArray,
) -> Carried:
    """The summary at ``settled``: the old one moved on by the samples before it."""
    beyond, back = rule.beyond
    lengths = segs.lengths
    before = (times < settled) & ~virtual
    rises = judged.rises & before
    falls = judged.falls & before
    with np.errstate(invalid="ignore"):
        high = beyond(values, np.repeat(rule.critical, lengths)) & before
        low = back(values, np.repeat(rule.critical_clear, lengths)) & before
    count = segs.count
    if old is None:
        nan = np.full(count, np.nan)
        no = np.zeros(count, dtype=np.bool_)
        old = Carried(settled, end, covers, nan, no, nan, no, nan, nan, nan, nan)

    def moved(index: IntArray, then: FloatArray) -> FloatArray:
        return np.where(index >= 0, times[np.maximum(index, 0)], then)

    event = _last(rises | falls, segs)
    critical = _last(high | low, segs)
    fall = _last(falls, segs)
    rise = _first_after(rises, segs, fall)
    sample = _last(before, segs)
    rise_t = np.where(
        fall >= 0,
        np.where(rise >= 0, times[np.maximum(rise, 0)], np.nan),
        np.where(np.isnan(old.rise_t), moved(rise, old.rise_t), old.rise_t),
    )
    return Carried(
        settled,
        end,
        covers,
        moved(event, old.event_t),
        np.where(event >= 0, rises[np.maximum(event, 0)], old.event_on),
        moved(critical, old.critical_t),
        np.where(critical >= 0, high[np.maximum(critical, 0)], old.critical_on),
        moved(fall, old.fall_t),
        rise_t,
        moved(sample, old.last_t),
        np.where(sample >= 0, values[np.maximum(sample, 0)], old.last_v),
    )


def _findings(
    rule: _Rule,
    members: Sequence[_Member],
    judged: _Judged,
    entries: list[_Entry],
    runs: list[_RunEntry] | None = None,
) -> None:
    """The findings of the hits, each made once for the hits that share it (a backtest's
    episode is judged at thousands of steps, on a few hundred distinct readings): into
    ``entries``, or (``runs`` given) a `FindingRun` per member with hits, whose findings are
    made when first asked."""
    if judged.seg.size == 0:
        return
    by = np.lexsort((judged.clearing, judged.critical, judged.value, judged.since, judged.seg))
    fields = (judged.seg, judged.since, judged.value, judged.critical, judged.clearing)
    new = np.zeros(by.size, dtype=np.bool_)
    new[0] = True
    for column in fields:
        ordered = column[by]
        new[1:] |= ordered[1:] != ordered[:-1]
    group = np.empty(by.size, dtype=np.int64)
    group[by] = np.cumsum(new) - 1
    first = by[new]
    made = _Made(rule, members, judged, first)
    if runs is None:
        ranks = [m.rank for m in members]
        rank = rule.rank
        finding = made.finding
        entries.extend(
            ((ranks[s], rank, step), step, finding(g))
            for s, step, g in zip(
                judged.seg.tolist(), judged.step.tolist(), group.tolist(), strict=True
            )
        )
        return
    # each hit's value and since as its finding has them (the first hit's of its group)
    value, since = judged.value[first][group], judged.since[first][group]
    cut = np.flatnonzero(judged.seg[1:] != judged.seg[:-1]) + 1
    lows = [0, *cut.tolist()]
    highs = [*cut.tolist(), judged.seg.size]
    for s, lo, hi in zip(judged.seg[lows].tolist(), lows, highs, strict=True):
        m = members[s]
        p = m.rules.excursion
        d = rule.found[s]
        assert d is not None
        runs.append(
            (
                (m.rank, rule.rank),
                FindingRun(
                    rule.name,
                    m.subject,
                    judged.step[lo:hi],
                    judged.critical[lo:hi],
                    since[lo:hi],
                    value[lo:hi],
                    d.limit,
                    p.for_minutes * 60.0,
                    p.clear_after_minutes * 60.0,
                    made.of_hits(group[lo:hi].tolist()),
                ),
            )
        )


class _Made:
    """A rule's distinct findings (one per distinct segment, since, value, critical and
    clearing of its hits; ``first``: each one's first hit), each made when first asked."""

    def __init__(
        self, rule: _Rule, members: Sequence[_Member], judged: _Judged, first: IntArray
    ) -> None:
        self.rule = rule
        self.members = members
        self.columns = (
            judged.seg[first].tolist(),
            judged.value[first].tolist(),
            judged.critical[first].tolist(),
            judged.since[first].tolist(),
            judged.clearing[first].tolist(),
        )
        self.made: list[Finding | None] = [None] * first.size
        self.starts = EpochTimes()

    def of_hits(self, groups: list[int]) -> Callable[[int], Finding]:
        """The finding of the ``k``-th of hits whose distinct findings are ``groups``."""
        return lambda k: self.finding(groups[k])

    def finding(self, g: int) -> Finding:
        """The ``g``-th distinct finding."""
        found = self.made[g]
        if found is not None:
            return found
        rule = self.rule
        s, value, critical, since, clearing = (column[g] for column in self.columns)
        m = self.members[s]
        p = m.rules.excursion
        d = rule.found[s]
        assert d is not None
        label, unit = rule.label, rule.unit
        clear_s = p.clear_after_minutes * 60.0
        if clearing:
            sign = 1.0 if rule.above else -1.0
            back = "back below" if rule.above else "back above"
            lv = Levels(rule.above, d.limit, d.limit - sign * d.margin, 0.0, 0.0)
            summary = (
                f"{label} {value:.1f} {unit}, {back} the {m.band.profile} band limit "
                f"{d.limit:g} {unit} — {lv.clearing_note(label, unit, clear_s)}"
            )
        else:
            side = "above" if rule.above else "below"
            summary = (
                f"{label} {value:.1f} {unit} {side} the {m.band.profile} band "
                f"limit {d.limit:g} {unit}"
            )
        found = self.made[g] = Finding(
            rule=rule.name,
            subject=m.subject,
            severity=Severity.CRITICAL if critical else Severity.WARNING,
            since=self.starts[since],
            value=value,
            threshold=d.limit,
            unit=unit,
            summary=summary,
            advice=excursion._ADVICE[rule.name],
            for_s=p.for_minutes * 60.0,
            clear_s=clear_s,
        )
        return found
