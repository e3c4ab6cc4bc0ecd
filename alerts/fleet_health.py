"""The health and condensation rule classes of `alerts.fleet.FleetEvaluator`: every sensor of a
class in one array pass (silent, stuck, battery and out-of-range sensors; surface condensation and
saturation), with the findings of `alerts.rules.health` and `alerts.rules.condensation` — the
reference evaluator's, finding for finding (``tests/alerts/test_fleet_health.py``,
``test_golden.py``).

Nothing is carried between runs. Instead each rule runs its hysteresis and episodes only for
the sensors a cheap necessary condition leaves (a stuck sensor's last two readings agree; a
low battery has a value not above its clear level; an impossible reading lies outside the
range; a saturated room has RH above the warning level; a condensing surface may come within
the warning margin of the air's highest possible dew point; or the rule's alert is open): the
others cannot be on at any step, so they have no finding, and their holds are computed for
all as before. In the live cycle (one time, after every reading) that leaves a few sensors of
10 000, and saturation and surfaces take each sensor's freshness from its last reading alone.
Over many evaluation times in order (a backtest's year, where nearly every sensor is left) the
work goes by readings instead of (sensor, step) matrices (`_by_gaps`): the stale steps come
from the gaps longer than the age limit (`_stale_steps`), a rule's hits from the readings where
it is on, each with the steps whose last reading it is (`_steps_after`), and each distinct
finding is built once and shared by those steps (one builder per rule, `_stuck_finding`,
`_surface_finding`, …, for the live cycle and the backtest alike). A year's readings are
costly to copy, so the backtest copies little: stuck runs come from the samples that continue
a run (few where values change, `_long_runs`), saturation and surfaces join only the two
columns they read (`_valid_of`), nothing is compacted when nothing is left out (`_compact`),
and levels shared by every sensor are compared as one number (`_per_sample`).

The surfaces' air dew point (`_worst_dew_point_by_pair`) makes the reference's own
`numpy.fmax` calls, one per (surface, air sensor of its room), on arrays of the same length:
where a +0.0 and a −0.0 dew point tie, which one `numpy.fmax` keeps depends on the array's
length and the element's place in it, so only the same calls give the same bits (the texts
print the sign).

`alerts.fleet` imports this module when a class runs (this one imports its helpers).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from repoclimate.alerts.evaluate import Active, ClassResult
from repoclimate.alerts.fleet import (
    _array,
    _attribute,
    _Entry,
    _held,
    _Hits,
    _Member,
    _Raw,
    _threshold,
    _threshold_on,
    _was,
)
from repoclimate.alerts.fleet_series import (
    Segments,
    episode_starts,
    fresh_steps,
    hysteresis_below,
    hysteresis_mask,
    last_at_or_before,
    last_valid,
    since_times,
)
from repoclimate.alerts.model import Finding, Severity, from_epoch
from repoclimate.alerts.rules import condensation, health
from repoclimate.alerts.rules.base import Levels, span, when
from repoclimate.alerts.series import BoolArray, FloatArray, IntArray, SensorSeries
from repoclimate.preservation.psychrometrics import dew_point

if TYPE_CHECKING:
    from repoclimate.alerts.fleet import FleetEvaluator


def condensation_class(
    ev: FleetEvaluator,
    members: Sequence[_Member],
    at: FloatArray,
    active: Active,
    result: ClassResult,
) -> None:
    """The condensation class: surface condensation at the surface sensors, saturation at the
    air sensors of rooms without one."""
    entries: list[_Entry] = []
    with_surface: dict[int, bool] = {}
    surfaces: list[_Member] = []
    saturation: list[_Member] = []
    air: list[_Member] = []
    place: list[int] = []
    """Per saturation member, its place among the air sensors."""
    for m in members:
        if m.sensor.surface:
            surfaces.append(m)
            continue
        room = id(m.room)
        if room not in with_surface:
            with_surface[room] = any(s.surface for s in m.room.sensors)
        if not with_surface[room]:
            place.append(len(air))
            saturation.append(m)
        air.append(m)
    result.subjects.update(m.sid for m in surfaces)
    result.subjects.update(m.sid for m in saturation)
    if surfaces:
        _surface(ev, surfaces, at, active, result, entries)
    if saturation:
        # the air sensors' raw windows, when another class joined them in this run
        joined = ev._joined.get(tuple(m.sid for m in air))
        found = None if joined is None else (joined, np.array(place, dtype=np.int64))
        _saturation(ev, saturation, at, active, result, entries, found)
    entries.sort(key=lambda entry: entry[0])
    result.output.findings.extend((step, f) for _, step, f in entries)


def _last_within(times: FloatArray, segs: Segments, seg: IntArray, at: FloatArray) -> IntArray:
    """Per query ``(seg[q], at[q])``: the index within segment ``seg[q]`` of its last sample at
    or before ``at[q]`` (−1: none) — `numpy.searchsorted` (``side="right"``) per segment.

    One search over keys ``segment · 2^e + (time − base)`` with ``2^e`` beyond the times'
    span, which keep the segments apart and the times in order, as long as the keys give back
    the times exactly (checked; else per segment)."""
    if at.size == 0:
        return np.empty(0, dtype=np.int64)
    if times.size == 0:
        return np.full(at.size, -1, dtype=np.int64)
    base = float(np.floor(min(times.min(), at.min())))
    top = max(times.max(), at.max()) - base
    scale = 2.0 ** math.ceil(math.log2(top + 2.0))
    keys = segs.seg * scale + (times - base)
    wanted = seg * scale + (at - base)
    if np.array_equal((keys - segs.seg * scale) + base, times) and np.array_equal(
        (wanted - seg * scale) + base, at
    ):
        found: IntArray = np.searchsorted(keys, wanted, side="right") - segs.starts[seg] - 1
        return found
    out = np.empty(at.size, dtype=np.int64)
    bounds = segs.offsets.tolist()
    order = np.argsort(seg, kind="stable")
    cuts = np.searchsorted(seg[order], np.arange(segs.count + 1))
    for k in range(segs.count):
        asked = order[cuts[k] : cuts[k + 1]]
        if asked.size:
            own = times[bounds[k] : bounds[k + 1]]
            out[asked] = np.searchsorted(own, at[asked], side="right") - 1
    return out


@dataclass(frozen=True, slots=True)
class _AirSources:
    """The room air's dew points a list of surface members reads (`_air_sources`)."""

    air: _Raw
    """The air sensors' raw windows, each once."""
    valid: BoolArray
    """Per air reading, whether temperature and RH are both valid."""
    segs: Segments
    times: FloatArray
    dew_point: FloatArray
    """The air sensors' valid dew points (`resample_ffill`'s source values), end to end."""
    pairs: IntArray
    """Per (member, air sensor of its room), member after member: the air sensor."""
    count: IntArray
    """Per member, its room's air sensors (none when not enabled)."""
    max_age_s: FloatArray
    """Per member, how old an air reading may be [s]."""


def _air_sources(members: Sequence[_Member], enabled: BoolArray) -> _AirSources:
    """The dew point of every air sensor's valid readings of the members' rooms, in one call
    for all (element by element: the same bits as per sensor; each air sensor once however
    many surfaces its room has)."""
    index: dict[int, int] = {}
    air: list[SensorSeries] = []
    pairs: list[int] = []
    count = np.zeros(len(members), dtype=np.int64)
    for k, (m, on) in enumerate(zip(members, enabled.tolist(), strict=True)):
        if not on:
            continue
        for s in m.room.air:
            series = m.data.raw[s.id]
            j = index.setdefault(id(series), len(air))
            if j == len(air):
                air.append(series)
            pairs.append(j)
        count[k] = len(m.room.air)
    joined = _Raw.of(air)
    valid = ~np.isnan(joined.temperature) & ~np.isnan(joined.humidity)
    by_valid, kept = _compact(joined.segs, valid)
    times = _take(joined.times, kept)
    dp: FloatArray = (
        np.asarray(
            dew_point(_take(joined.temperature, kept), _take(joined.humidity, kept)),
            dtype=np.float64,
        )
        if times.size
        else np.empty(0)
    )
    # `resample_ffill` keeps the valid source values (a dew point out of range is NaN)
    source, known = _compact(by_valid, ~np.isnan(dp))
    max_age_s = _array(m.rules.condensation.max_age_minutes * 60.0 for m in members)
    return _AirSources(
        joined,
        valid,
        source,
        _take(times, known),
        _take(dp, known),
        np.array(pairs, dtype=np.int64),
        count,
        max_age_s,
    )


def _compact(segs: Segments, keep: BoolArray) -> tuple[Segments, IntArray | None]:
    """`Segments.compact`, or ``segs`` and None when ``keep`` keeps every element (`_take`:
    nothing gathered)."""
    if bool(keep.all()):
        return segs, None
    return segs.compact(keep)


def _take(values: FloatArray, kept: IntArray | None) -> FloatArray:
    """The elements `_compact` kept (all, the same array, for None: read, do not write)."""
    return values if kept is None else values[kept]


def _worst_dew_point(src: _AirSources, member: IntArray, times: FloatArray) -> FloatArray:
    """Per query ``(member[q], times[q])``: the room air's dew point then — each air sensor's
    last one at or before it, if recent enough (`resample_ffill`), by one search over all
    (`_last_within`), and the highest by `numpy.fmax` over the room's air sensors in their
    order. Where a +0.0 and a −0.0 tie, `numpy.fmax.reduceat` may keep the other zero than
    `alerts.rules.condensation.air_dew_point`'s calls do: for where the value's sign cannot
    matter (whether it is known); the findings' values come from `_worst_dew_point_by_pair`."""
    per = src.count[member]
    total = int(per.sum())
    group = np.zeros(per.size + 1, dtype=np.int64)
    np.cumsum(per, out=group[1:])
    query = np.repeat(np.arange(times.size, dtype=np.int64), per)
    first_pair = np.zeros(src.count.size + 1, dtype=np.int64)
    np.cumsum(src.count, out=first_pair[1:])
    pair = first_pair[member][query] + np.arange(total, dtype=np.int64) - group[query]
    j = src.pairs[pair]
    at = times[query]
    local = _last_within(src.times, src.segs, j, at)
    ok = local >= 0
    flat = np.minimum(src.segs.starts[j] + np.maximum(local, 0), max(src.times.size - 1, 0))
    if src.times.size:
        age = np.where(ok, at - src.times[flat], np.inf)
        ok &= age <= src.max_age_s[member][query]
        values = np.where(ok, src.dew_point[flat], np.nan)
    else:
        values = np.full(total, np.nan)
    worst = np.full(times.size, np.nan)
    some = per > 0
    if total:
        worst[some] = np.fmax.reduceat(values, group[:-1][some])
    return worst


def _air_dew_points(
    ev: FleetEvaluator, members: Sequence[_Member], enabled: BoolArray
) -> tuple[Segments, FloatArray, FloatArray, FloatArray, FloatArray]:
    """The surface members' valid surface temperatures where the margin to the room air's dew
    point (`alerts.rules.condensation.air_dew_point`) is known, end to end: their segments,
    times, surface temperatures, dew points and margins (nothing for a member not enabled)."""
    src = _air_sources(members, enabled)
    segs, times, t_surface = _valid_of(members, enabled, "temperature")
    worst = _worst_dew_point_by_pair(src, segs, times)
    margin = t_surface - worst
    out, known = _compact(segs, ~np.isnan(margin))
    return (
        out,
        _take(times, known),
        _take(t_surface, known),
        _take(worst, known),
        _take(margin, known),
    )


def _worst_dew_point_by_pair(src: _AirSources, segs: Segments, times: FloatArray) -> FloatArray:
    """`alerts.rules.condensation.air_dew_point` at every sample of the members' segments
    ``segs`` (``times`` in order within each; each air sensor's valid dew points in ``src``):
    per member and air sensor of its room, one `numpy.searchsorted` of all the member's times
    in the air sensor's (`resample_ffill`'s index), and `numpy.fmax` of the member's values so
    far with that sensor's, in the room's order — the reference's calls on arrays of the same
    lengths, hence the same bits even where a +0.0 and a −0.0 tie (which of the two
    `numpy.fmax` keeps depends on the array's length and the element's place in it)."""
    worst = np.full(times.size, np.nan)
    bounds = segs.offsets.tolist()
    air = src.segs.offsets.tolist()
    first = 0
    for k, n in enumerate(src.count.tolist()):
        pairs = src.pairs[first : first + n].tolist()
        first += n
        lo, hi = bounds[k], bounds[k + 1]
        if hi == lo:
            continue
        at = times[lo:hi]
        out = np.full(at.size, np.nan)
        for j in pairs:
            if air[j + 1] == air[j]:  # no valid dew point: NaN throughout, fmax keeps out
                continue
            flat = np.searchsorted(src.times[air[j] : air[j + 1]], at, side="right") - 1
            ok = flat >= 0
            flat += air[j]
            np.maximum(flat, air[j], out=flat)
            ok &= np.subtract(at, src.times[flat]) <= src.max_age_s[k]
            out = np.fmax(out, np.where(ok, src.dew_point[flat], np.nan))
        worst[lo:hi] = out
    return worst


_MARGIN_SLACK_K = 1e-6
"""How far below the lowest possible margin a surface's warning margin must lie to leave the
surface out of the hysteresis (`_surface_now`): more than the dew point's rounding [K]."""


def _surface_now(
    ev: FleetEvaluator,
    members: Sequence[_Member],
    enabled: BoolArray,
    at: FloatArray,
    was: BoolArray,
    warn: FloatArray,
    max_age: FloatArray,
) -> tuple[BoolArray, IntArray] | None:
    """Surface condensation at one evaluation time no earlier than any surface reading (the
    live cycle): whether each member's data is fresh ``(members, 1)``, exactly for the members
    left out, and the enabled members whose hysteresis may be on — an open alert, a margin
    that may fall below the warning margin (the lowest surface temperature less the highest
    dew point the room's air can have: the dew point rises with temperature and RH, so at
    most that of each air sensor's highest of both), or a last surface reading whose margin
    is unknown (its freshness then needs the whole way). None when a surface reading lies
    after the time."""
    t = float(at[0])
    surface = _Raw.of([m.data.raw[m.sensor.id] for m in members])
    segs = surface.segs
    some = segs.lengths > 0
    ends = segs.offsets[1:] - 1
    if bool(np.any(surface.times[ends[some]] > t)):
        return None
    valid = ~np.isnan(surface.temperature) & enabled[segs.seg]
    index = np.arange(valid.size, dtype=np.int64)
    latest = np.full(segs.count, -1, dtype=np.int64)
    lowest = np.full(segs.count, np.nan)
    if valid.size:
        last_valid = np.maximum.accumulate(np.where(valid, index, -1))
        latest[some] = last_valid[ends[some]]
        latest[latest < segs.starts] = -1
        lowest[some] = np.fmin.reduceat(
            np.where(valid, surface.temperature, np.nan), segs.starts[some]
        )
    src = _air_sources(members, enabled)
    highest = np.full(len(members), np.nan)
    air = src.air
    if src.pairs.size and air.times.size:
        heads = air.segs.starts[air.segs.lengths > 0]
        t_max = np.full(air.segs.count, np.nan)
        rh_max = np.full(air.segs.count, np.nan)
        t_max[air.segs.lengths > 0] = np.fmax.reduceat(
            np.where(src.valid, air.temperature, np.nan), heads
        )
        rh_max[air.segs.lengths > 0] = np.fmax.reduceat(
            np.where(src.valid, air.humidity, np.nan), heads
        )
        # an air sensor without a valid reading adds nothing; one out of range, no bound
        bound = np.where(
            np.isnan(t_max), -np.inf, np.asarray(dew_point(t_max, rh_max), dtype=np.float64)
        )[src.pairs]
        room = src.count > 0
        first_pair = np.zeros(src.count.size, dtype=np.int64)
        np.cumsum(src.count[:-1], out=first_pair[1:])
        # NaN (out of range, no valid reading) anywhere: no bound
        worst = np.maximum.reduceat(bound, first_pair[room])
        highest[room] = worst
    has = latest >= 0
    tail = np.flatnonzero(has)
    last_known = np.zeros(len(members), dtype=np.bool_)
    last_known[tail] = ~np.isnan(
        surface.temperature[latest[tail]] - _worst_dew_point(src, tail, surface.times[latest[tail]])
    )
    age = np.subtract(t, surface.times[np.maximum(latest, 0)])
    with np.errstate(invalid="ignore"):
        fresh = has & last_known & np.less_equal(age, max_age)
        safe = lowest - highest > warn + _MARGIN_SLACK_K
    few = np.flatnonzero(enabled & (was | ~safe | (has & ~last_known)))
    return fresh[:, None], few


def _surface(
    ev: FleetEvaluator,
    members: Sequence[_Member],
    at: FloatArray,
    active: Active,
    result: ClassResult,
    entries: list[_Entry],
) -> None:
    """Surface condensation at ``members``; at one time after every surface reading, the
    hysteresis is run only for the members `_surface_now` leaves."""
    rule = condensation.SURFACE
    enabled = np.array([m.rules.condensation.enabled for m in members], dtype=np.bool_)
    params = [m.rules.condensation for m in members]
    warn = _array(p.dew_point_margin_k for p in params)
    crit = _array(p.critical_margin_k for p in params)
    clear = _array(p.clear_margin_k for p in params)
    max_age = ev._max_age(members)
    was, was_critical = _was_of(members, active, rule)
    now = _surface_now(ev, members, enabled, at, was, warn, max_age) if at.size == 1 else None
    if now is None:
        few = np.arange(len(members), dtype=np.int64)
    else:
        fresh_now, few = now
    chosen = [members[k] for k in few.tolist()]
    segs, times, t_surface, dp, margin = _air_dew_points(ev, chosen, enabled[few])
    levels = (warn[few], (warn + clear)[few], crit[few], (crit + clear)[few])
    if now is None and _by_gaps(at, max_age):
        hits, seg, steps = _threshold_gaps(
            times, margin, segs, at, max_age[few], was[few], was_critical[few], False, levels
        )
        _held_at(result.output.held, seg, steps, enabled, rule, members)
    else:
        hits, fresh = _threshold(
            times, margin, segs, at, max_age[few], was[few], was_critical[few], False, levels
        )
        if now is not None:
            fresh_now[few] = fresh
            fresh = fresh_now
        _held(result.output.held, fresh, enabled, rule, members)
    _shared_findings(
        hits,
        few,
        members,
        entries,
        lambda s, i, critical, since, clearing: _surface_finding(
            members[s], critical, since, clearing, t_surface[i], margin[i], dp[i]
        ),
    )


def _shared_findings(
    hits: _Hits,
    few: IntArray,
    members: Sequence[_Member],
    entries: list[_Entry],
    build: Callable[[int, int, bool, float, bool], Finding],
) -> None:
    """The findings of a class's first rule (`_threshold`, `_threshold_gaps`; hits of members
    ``few``): one per sample, ``build(member, sample, critical, since, clearing)``, shared by
    the steps whose last reading that sample is."""
    built: dict[int, Finding] = {}
    for k, step, i, critical, since, clearing in hits.rows():
        s = int(few[k])
        finding = built.get(i)
        if finding is None:
            finding = build(s, i, critical, since, clearing)
            built[i] = finding
        entries.append(((members[s].rank, 0, step), step, finding))


def _surface_finding(
    m: _Member,
    critical: bool,
    since: float,
    clearing: bool,
    t_surface: float,
    margin: float,
    dp: float,
) -> Finding:
    """Surface condensation's finding (`alerts.rules.condensation.evaluate_surface`): the
    surface temperature, its margin to the air's dew point and that dew point."""
    p = m.rules.condensation
    clear_s = p.clear_after_minutes * 60.0
    w = p.dew_point_margin_k
    if clearing:
        hold = f" for {clear_s / 60.0:.0f} min" if clear_s > 0 else ""
        summary = (
            f"Surface at {t_surface:.1f} °C is {margin:.1f} K above the air's dew "
            f"point {dp:.1f} °C, more than the {w:g} K warning margin — clearing: "
            f"needs ≥ {w + p.clear_margin_k:g} K{hold}"
        )
    else:
        summary = (
            f"Surface at {t_surface:.1f} °C is only {margin:.1f} K above the "
            f"air's dew point {dp:.1f} °C"
        )
    advice = (
        "Look for wet patches on this wall or floor; raise the surface temperature or lower "
        "the air's moisture, and move holdings away from cold outside walls."
    )
    return _condensation_finding(
        condensation.SURFACE, m, critical, since, (float(margin), w, "K"), summary, advice
    )


def _condensation_finding(
    rule: str,
    m: _Member,
    critical: bool,
    since: float,
    value: tuple[float, float, str],
    summary: str,
    advice: str,
) -> Finding:
    """A condensation rule's finding: ``value`` (the value, its threshold and unit), with the
    member's hold times."""
    p = m.rules.condensation
    return Finding(
        rule=rule,
        subject=m.subject,
        severity=Severity.CRITICAL if critical else Severity.WARNING,
        since=from_epoch(since),
        value=value[0],
        threshold=value[1],
        unit=value[2],
        summary=summary,
        advice=advice,
        for_s=p.for_minutes * 60.0,
        clear_s=p.clear_after_minutes * 60.0,
    )


def _saturation(
    ev: FleetEvaluator,
    members: Sequence[_Member],
    at: FloatArray,
    active: Active,
    result: ClassResult,
    entries: list[_Entry],
    joined: tuple[_Raw, IntArray] | None = None,
) -> None:
    """Saturation at ``members``; ``joined``: a join of raw windows that holds theirs, and
    their places in it. The hysteresis is run only for the members that have a reading above
    the warning level or an open alert (the others' is off throughout)."""
    rule = condensation.SATURATION
    params = [m.rules.condensation for m in members]
    judged = ev._table(
        "saturation.judged",
        members,
        lambda: np.array([p.enabled for p in params], dtype=np.bool_),
    )
    warn, crit, margin = (
        ev._table(f"saturation.{name}", members, _attribute, params, name)
        for name in ("rh_warning", "rh_critical", "rh_clear_margin")
    )
    max_age = ev._max_age(members)
    was, was_critical = _was_of(members, active, rule)
    now = None
    if at.size == 1:
        raw, place = (ev._raw_of(members), None) if joined is None else joined
        now = _saturation_now(raw, place, at, judged, warn, max_age, was)
    if now is not None:
        fresh, few = now
        _held(result.output.held, fresh, judged, rule, members)
        if few.size == 0:
            return
        part = _Raw.of([members[k].data.raw[members[k].sensor.id] for k in few.tolist()])
        chosen, kept = part.segs.compact(~np.isnan(part.humidity))
        times, rh = part.times[kept], part.humidity[kept]
    else:
        segs, times, rh = _valid_of(members, judged, "humidity")
        if _by_gaps(at, max_age):
            seg, steps, _ = _stale_steps(times, segs, at, max_age)
            _held_at(result.output.held, seg, steps, judged, rule, members)
        else:
            _, _, fresh = fresh_steps(times, segs, at, max_age)
            _held(result.output.held, fresh, judged, rule, members)
        with np.errstate(invalid="ignore"):
            above = rh > _per_sample(warn, segs)
        few = np.flatnonzero(was | _segment_any(above, segs))
        if few.size == 0:
            return
        chosen, picked = _pick(segs, few)
        if picked is not None:
            times, rh = times[picked], rh[picked]
    levels = (warn[few], (warn - margin)[few], crit[few], (crit - margin)[few])
    threshold = _threshold_gaps if _by_gaps(at, max_age[few]) else _threshold
    hits = threshold(
        times, rh, chosen, at, max_age[few], was[few], was_critical[few], True, levels
    )[0]
    _shared_findings(
        hits,
        few,
        members,
        entries,
        lambda s, i, critical, since, clearing: _saturation_finding(
            members[s], critical, since, clearing, rh[i]
        ),
    )


def _valid_of(
    members: Sequence[_Member], judged: BoolArray, name: str
) -> tuple[Segments, FloatArray, FloatArray]:
    """The judged members' own readings with a valid ``name`` end to end (the others'
    segments empty): their segments, times and values — only the two columns joined."""
    series = [m.data.raw[m.sensor.id] for m in members]
    on = judged.tolist()
    chosen = [s for s, keep in zip(series, on, strict=True) if keep]
    lengths = np.array([len(s) if keep else 0 for s, keep in zip(series, on, strict=True)])
    segs = Segments.from_lengths(lengths.astype(np.int64))
    if not chosen:
        return segs, np.empty(0), np.empty(0)
    times = np.concatenate([s.times for s in chosen])
    values = np.concatenate([getattr(s, name) for s in chosen])
    segs, kept = _compact(segs, ~np.isnan(values))
    return segs, _take(times, kept), _take(values, kept)


def _pick(segs: Segments, few: IntArray) -> tuple[Segments, IntArray | None]:
    """Segments ``few`` (in order) of ``segs`` end to end, and the flat indices of their
    elements (None: all of them, as they were)."""
    if few.size == segs.count:
        return segs, None
    lengths = segs.lengths[few]
    picked = Segments.from_lengths(lengths)
    kept: IntArray = np.arange(picked.seg.size, dtype=np.int64)
    kept += np.repeat(segs.starts[few] - picked.starts, lengths)
    return picked, kept


def _held_at(
    held: list[tuple[int, str, str]],
    seg: IntArray,
    steps: IntArray,
    judged: BoolArray,
    rule: str,
    members: Sequence[_Member],
) -> None:
    """`alerts.fleet._held` from the stale (segment, step) pairs (`_stale_steps`): hold
    ``rule`` for each judged member at each of its stale steps."""
    on = judged[seg]
    held.extend(
        (j, rule, members[k].sid) for k, j in zip(seg[on].tolist(), steps[on].tolist(), strict=True)
    )


def _saturation_finding(
    m: _Member, critical: bool, since: float, clearing: bool, rh: float
) -> Finding:
    """Saturation's finding (`alerts.rules.condensation.evaluate_saturation`) at RH ``rh``."""
    p = m.rules.condensation
    clear_s = p.clear_after_minutes * 60.0
    if clearing:
        lv = Levels(True, p.rh_warning, p.rh_warning - p.rh_clear_margin, 0, 0)
        summary = (
            f"RH {rh:.1f} %, back below {p.rh_warning:g} % — {lv.clearing_note('RH', '%', clear_s)}"
        )
    else:
        summary = f"RH {rh:.1f} % — the air is close to saturation"
    advice = (
        "Condensation forms on anything slightly colder than the air: look for water on "
        "walls, pipes and boxes, and find the moisture source."
    )
    return _condensation_finding(
        condensation.SATURATION,
        m,
        critical,
        since,
        (float(rh), p.rh_warning, "%RH"),
        summary,
        advice,
    )


def _saturation_now(
    raw: _Raw,
    place: IntArray | None,
    at: FloatArray,
    judged: BoolArray,
    warn: FloatArray,
    max_age: FloatArray,
    was: BoolArray,
) -> tuple[BoolArray, IntArray] | None:
    """Saturation at one evaluation time no earlier than any reading (the live cycle), from
    each member's last valid RH and its highest (``raw``: a join holding the members' windows,
    at ``place``, or theirs alone): whether each member's data is fresh ``(members, 1)`` and
    the judged members whose hysteresis can be on (a reading above the warning level, or an
    open alert). None when a reading lies after the time (then the whole way)."""
    t = float(at[0])
    seg = np.arange(raw.segs.count, dtype=np.int64) if place is None else place
    first, end = raw.segs.offsets[seg], raw.segs.offsets[seg + 1]
    some = end > first
    last = np.maximum(end - 1, 0)
    if raw.times.size == 0:
        return np.zeros((seg.size, 1), dtype=np.bool_), np.flatnonzero(judged & was)
    if bool(np.any(raw.times[last[some]] > t)):
        return None
    latest = np.where(some, last, -1)
    for k in np.flatnonzero(some & np.isnan(raw.humidity[last])).tolist():
        valid = np.flatnonzero(~np.isnan(raw.humidity[first[k] : end[k]]))
        latest[k] = first[k] + valid[-1] if valid.size else -1
    exists = latest >= 0
    age = np.subtract(t, raw.times[np.maximum(latest, 0)])
    with np.errstate(invalid="ignore"):
        fresh = exists & np.less_equal(age, max_age)
    most = np.full(seg.size, np.nan)
    heads = raw.segs.starts[raw.segs.lengths > 0]
    if heads.size:
        highest = np.full(raw.segs.count, np.nan)
        highest[raw.segs.lengths > 0] = np.fmax.reduceat(raw.humidity, heads)
        most = highest[seg]
    with np.errstate(invalid="ignore"):
        few = np.flatnonzero(judged & (was | (most > warn)))
    return fresh[:, None], few


def health_class(
    ev: FleetEvaluator,
    members: Sequence[_Member],
    at: FloatArray,
    active: Active,
    result: ClassResult,
    entries: list[_Entry],
) -> None:
    """The health class. Silence is judged for every member; stuck values, battery and
    out-of-range readings only for the members a cheap necessary condition leaves (a stuck
    sensor's last two readings agree; a low battery has a value at or below its clear level;
    an impossible reading lies outside the range or its alert is open) — the rest cannot have
    a finding, and their holds are the silence's — each rule over its few members as over all."""
    result.subjects.update(m.sid for m in members)
    if not members:
        return
    enabled = ev._table(
        "health.enabled",
        members,
        lambda: np.array([m.rules.health.enabled for m in members], dtype=np.bool_),
    )
    series = [m.data.raw[m.sensor.id] for m in members]
    raw = _Raw.of(series)
    segs = raw.segs
    silent_after = ev._max_age(members)
    if _by_gaps(at, silent_after):
        _health_steps(ev, members, series, raw, at, active, enabled, silent_after, result, entries)
        return
    flat, exists, fresh = fresh_steps(raw.times, segs, at, silent_after)
    seg, steps = np.nonzero(~fresh & enabled[:, None])
    known = exists[seg, steps]
    _silent(
        ev, members, series, raw.times, at, seg, steps, known, flat[seg, steps], result, entries
    )
    for rule in health.RULES[1:]:
        _held(result.output.held, fresh, enabled, rule, members)
    if raw.times.size == 0:
        return
    judged = fresh & enabled[:, None]
    # over many steps (the backtest) nearly every sensor passes: not worth asking
    stuck = _maybe_stuck(raw, flat, judged) if at.size <= _FEW_STEPS else enabled.copy()
    if stuck.any():
        few, part = _part(members, series, stuck, raw)
        if part.times.size:
            flat_part = _flat(part, flat[stuck], segs.starts[stuck])
            _stuck(few, part, flat_part, judged[stuck], entries)
    _battery_of(ev, members, series, raw, at, active, enabled, entries)
    was_out, _ = _was_of(members, active, health.RULES[3])
    out = enabled & (was_out | _maybe_out_of_range(ev, members, raw))
    if out.any():
        few, part = _part(members, series, out, raw)
        if part.times.size:
            flat_part = _flat(part, flat[out], segs.starts[out])
            _out_of_range(few, part, flat_part, judged[out], active, entries)


def _battery_of(
    ev: FleetEvaluator,
    members: Sequence[_Member],
    series: Sequence[SensorSeries],
    raw: _Raw,
    at: FloatArray,
    active: Active,
    enabled: BoolArray,
    entries: list[_Entry],
) -> None:
    """The battery rule for the enabled members whose readings may be low (`_maybe_low`),
    live and over many steps alike."""
    battery = enabled & _maybe_low(ev, members, raw)
    if battery.any():
        few, part = _part(members, series, battery, raw)
        if part.times.size:
            _battery(few, part, at, active, enabled[battery], entries)


def _part(
    members: Sequence[_Member], series: Sequence[SensorSeries], keep: BoolArray, raw: _Raw
) -> tuple[list[_Member], _Raw]:
    """The members ``keep`` selects and their raw windows, joined (``raw``: all of them)."""
    if keep.all():
        return list(members), raw
    chosen = np.flatnonzero(keep).tolist()
    return [members[k] for k in chosen], _Raw.of([series[k] for k in chosen])


def _flat(part: _Raw, flat: IntArray, starts: IntArray) -> IntArray:
    """Flat sample indices of the whole join (``(members, times)``, members' segments starting
    at ``starts``) as indices into ``part``, the join of those members alone."""
    moved: IntArray = flat - starts[:, None] + part.segs.starts[:, None]
    # where a member has no reading the index is clipped (as `fresh_steps` clips it): unread
    np.clip(moved, 0, max(part.times.size - 1, 0), out=moved)
    return moved


def _maybe_stuck(raw: _Raw, flat: IntArray, judged: BoolArray) -> BoolArray:
    """Per member, whether it may be stuck at a judged step: a stuck run holds at least
    ``stuck_min_readings`` (≥ 2) readings, so the step's sample and the one before it lie in
    it — both in the window, their valid temperatures equal and their valid RH equal."""
    segs = raw.segs
    before = flat - 1
    inside = judged & (before >= segs.starts[:, None])
    before = np.maximum(before, 0)
    for values in (raw.temperature, raw.humidity):
        now, then = values[flat], values[before]
        with np.errstate(invalid="ignore"):
            differ = (now != then) & ~np.isnan(now) & ~np.isnan(then)
        inside &= ~differ
    maybe: BoolArray = np.any(inside, axis=1)
    return maybe


def _maybe_low(ev: FleetEvaluator, members: Sequence[_Member], raw: _Raw) -> BoolArray:
    """Per member, whether its battery may be low: one of its values is not above the warning
    level plus the margin (every value above it clears the hysteresis)."""
    params = [m.rules.health for m in members]
    clear = ev._table(
        "health.battery_clear",
        members,
        lambda: (
            _array(p.battery_warning for p in params) + _array(p.battery_margin for p in params)
        ),
    )
    with np.errstate(invalid="ignore"):
        low = raw.battery <= _per_sample(clear, raw.segs)
    return _segment_any(low, raw.segs)


def _maybe_out_of_range(ev: FleetEvaluator, members: Sequence[_Member], raw: _Raw) -> BoolArray:
    """Per member, whether one of its readings is outside the physical range (without one,
    and without an open alert, the hysteresis never turns on)."""
    segs = raw.segs
    params = [m.rules.health for m in members]
    limits = ev._table(
        "health.ranges",
        members,
        lambda: np.array(
            [(*p.temperature_range, *p.humidity_range) for p in params], dtype=np.float64
        ).reshape(len(members), 4),
    )
    maybe = np.zeros(segs.count, dtype=np.bool_)
    nonempty = segs.lengths > 0
    if not nonempty.any():
        return maybe
    heads = segs.starts[nonempty]
    lo, hi = limits[nonempty].T[[0, 2]], limits[nonempty].T[[1, 3]]
    for q, values in enumerate((raw.temperature, raw.humidity)):
        with np.errstate(invalid="ignore"):
            least = np.fmin.reduceat(values, heads)
            most = np.fmax.reduceat(values, heads)
            maybe[nonempty] |= (least < lo[q]) | (most > hi[q])
    return maybe


def _silent(
    ev: FleetEvaluator,
    members: Sequence[_Member],
    series: Sequence[SensorSeries],
    times: FloatArray,
    at: FloatArray,
    seg: IntArray,
    steps: IntArray,
    exists: BoolArray,
    flat: IntArray,
    result: ClassResult,
    entries: list[_Entry],
) -> None:
    """Silence at each enabled member's stale steps ``(seg, steps)`` (member after member,
    step after step): whether it has a reading at or before the step, and the flat index of
    that last reading (`alerts.fleet_series.fresh_steps`)."""
    rule = health.RULES[0]
    if seg.size == 0:
        return
    first_seen: dict[int, float | None] = {}
    for k, (s, step) in enumerate(zip(seg.tolist(), steps.tolist(), strict=True)):
        m = members[s]
        p = m.rules.health
        silent_after = p.silent_factor * m.sensor.expected_interval_s
        t = float(at[step])
        own = series[s]
        if exists[k]:
            last: float | None = float(times[flat[k]])
        else:
            last = ev._heard_before(own) if not len(own) else None
        if last is not None:
            since = last
            summary = f"No reading for {span(t - last)} (last reading {when(last, m.zone)})"
        else:
            key = id(m.data)
            if key not in first_seen:
                first_seen[key] = min(
                    (float(r.times[0]) for r in m.data.raw.values() if len(r)), default=None
                )
            opened = own.start if ev.silent_from is None else max(own.start, ev.silent_from)
            unheard = health._Unheard(opened, first_seen[key], None)
            since = min(unheard.counted_from(t), t)
            if t - since < silent_after:
                result.output.held.append((step, rule, m.sid))
                continue
            summary = (
                f"No reading for at least {span(t - since)} (none since {when(since, m.zone)})"
            )
        finding = Finding(
            rule=rule,
            subject=m.subject,
            severity=Severity.WARNING,
            since=from_epoch(since),
            value=t - since,
            threshold=silent_after,
            unit="s",
            summary=summary,
            advice=(
                "Check the sensor's battery and radio link (gateway, Zigbee coordinator, "
                "Wi-Fi), then the collector's log for rejected messages from it."
            ),
            clear_s=p.clear_after_minutes * 60.0,
        )
        entries.append(((m.rank, 0, step), step, finding))


def _stuck(
    members: Sequence[_Member],
    raw: _Raw,
    flat: IntArray,
    fresh: BoolArray,
    entries: list[_Entry],
) -> None:
    segs = raw.segs
    started = _run_starts((raw.temperature, raw.humidity), segs)
    valid_any = ~(np.isnan(raw.temperature) & np.isnan(raw.humidity))
    reported = _segment_any(valid_any, segs)
    cum = np.zeros(valid_any.size + 1, dtype=np.int64)
    np.cumsum(valid_any, out=cum[1:])
    # at the judged samples only
    began_at = started[flat]
    readings_at = cum[flat + 1] - cum[began_at]
    duration_at = raw.times[flat] - raw.times[began_at]
    hours = _array(m.rules.health.stuck_hours for m in members)
    least = np.array([m.rules.health.stuck_min_readings for m in members], dtype=np.int64)
    stuck = (duration_at >= hours[:, None] * 3600.0) & (readings_at >= least[:, None])
    seg, steps = np.nonzero(fresh & reported[:, None] & stuck)
    for s, step in zip(seg.tolist(), steps.tolist(), strict=True):
        m = members[s]
        began = float(raw.times[began_at[s, step]])
        finding = _stuck_finding(m, began, float(duration_at[s, step]), int(readings_at[s, step]))
        entries.append(((m.rank, 1, step), step, finding))


def _stuck_finding(m: _Member, began: float, duration_s: float, readings: int) -> Finding:
    """The stuck rule's finding (`alerts.rules.health`): the same values since ``began`` for
    ``duration_s`` over ``readings`` readings."""
    p = m.rules.health
    return Finding(
        rule=health.RULES[1],
        subject=m.subject,
        severity=Severity.WARNING,
        since=from_epoch(began),
        value=duration_s / 3600.0,
        threshold=p.stuck_hours,
        unit="h",
        summary=f"Same values for {duration_s / 3600.0:.1f} h ({readings} readings)",
        advice=(
            "The sensor reports but its values do not change: check that it is not "
            "frozen, saturated or reporting a cached value; power-cycle it."
        ),
        clear_s=p.clear_after_minutes * 60.0,
    )


def _battery(
    members: Sequence[_Member],
    raw: _Raw,
    at: FloatArray,
    active: Active,
    enabled: BoolArray,
    entries: list[_Entry],
) -> None:
    rule = health.RULES[2]
    segs, keep = raw.segs.compact(~np.isnan(raw.battery) & enabled[raw.segs.seg])
    if keep.size == 0:
        return
    times, values = raw.times[keep], raw.battery[keep]
    params = [m.rules.health for m in members]
    warn = _array(p.battery_warning for p in params)
    margin = _array(p.battery_margin for p in params)
    crit = _array(p.battery_critical for p in params)
    was, _ = _was_of(members, active, rule)
    on = hysteresis_below(values, warn[segs.seg], (warn + margin)[segs.seg], segs, was)
    critical = values < crit[segs.seg]
    since = since_times(episode_starts(on, segs, was), times, segs)
    local = last_at_or_before(times, segs, at)
    flat = np.minimum(segs.starts[:, None] + np.maximum(local, 0), times.size - 1)
    seg, steps = np.nonzero((local >= 0) & on[flat])
    for s, step in zip(seg.tolist(), steps.tolist(), strict=True):
        m = members[s]
        p = params[s]
        i = int(flat[s, step])
        value = float(values[i])
        finding = Finding(
            rule=rule,
            subject=m.subject,
            severity=Severity.CRITICAL if critical[i] else Severity.WARNING,
            since=from_epoch(float(since[i])),
            value=value,
            threshold=p.battery_warning,
            unit="%",
            summary=f"Battery at {value:.0f} %",
            advice="Replace or recharge the battery before the sensor falls silent.",
            clear_s=p.clear_after_minutes * 60.0,
        )
        entries.append(((m.rank, 2, step), step, finding))


def _out_of_range(
    members: Sequence[_Member],
    raw: _Raw,
    flat: IntArray,
    fresh: BoolArray,
    active: Active,
    entries: list[_Entry],
) -> None:
    rule = health.RULES[3]
    segs = raw.segs
    params = [m.rules.health for m in members]
    t_lo = _array(p.temperature_range[0] for p in params)[segs.seg]
    t_hi = _array(p.temperature_range[1] for p in params)[segs.seg]
    h_lo = _array(p.humidity_range[0] for p in params)[segs.seg]
    h_hi = _array(p.humidity_range[1] for p in params)[segs.seg]
    t, h = raw.temperature, raw.humidity
    with np.errstate(invalid="ignore"):
        t_bad = (t < t_lo) | (t > t_hi)
        h_bad = (h < h_lo) | (h > h_hi)
        t_good = (t >= t_lo) & (t <= t_hi)
        h_good = (h >= h_lo) & (h <= h_hi)
    was, _ = _was_of(members, active, rule)
    t_on = hysteresis_mask(t_bad, t_good, segs, was)
    h_on = hysteresis_mask(h_bad, h_good, segs, was)
    on = t_on | h_on
    seg, steps = np.nonzero(fresh & on[flat])
    if seg.size == 0:
        return
    since = since_times(episode_starts(on, segs, was), raw.times, segs)
    last_t = last_valid(t, segs)
    last_h = last_valid(h, segs)
    for s, step in zip(seg.tolist(), steps.tolist(), strict=True):
        m = members[s]
        p = params[s]
        i = int(flat[s, step])
        if t_on[i]:
            value, unit, name = float(last_t[i]), "°C", "Temperature"
            lo, hi = p.temperature_range
        else:
            value, unit, name = float(last_h[i]), "%RH", "RH"
            lo, hi = p.humidity_range
        threshold = hi if value > hi else lo
        finding = Finding(
            rule=rule,
            subject=m.subject,
            severity=Severity.WARNING,
            since=from_epoch(float(since[i])),
            value=value,
            threshold=threshold,
            unit=unit,
            summary=f"{name} reading {value:.1f} {unit} outside {lo:g}…{hi:g} {unit}",
            advice=(
                "A reading no room can have: check the probe (wet, detached, broken) "
                "and the sensor's registry entry (calibration, humidity as a fraction)."
            ),
            clear_s=p.out_of_range_clear_minutes * 60.0,
        )
        entries.append(((m.rank, 3, step), step, finding))


def _segment_any(mask: BoolArray, segs: Segments) -> BoolArray:
    """`alerts.fleet_series.segment_any`: per segment, whether ``mask`` holds anywhere in it
    (by `numpy.logical_or.reduceat` over the non-empty segments: no count per sample)."""
    found = np.zeros(segs.count, dtype=np.bool_)
    nonempty = segs.lengths > 0
    if nonempty.any():
        found[nonempty] = np.logical_or.reduceat(mask, segs.starts[nonempty])
    return found


def _per_sample(values: FloatArray, segs: Segments) -> FloatArray | float:
    """A per-segment level per sample to compare with, ``values[segs.seg]`` — or, when every
    segment has the same value, that value (a comparison with it gives, element for element,
    what one with the array gives, without the array; not for arithmetic: −0.0 equals 0.0)."""
    if values.size and bool(np.all(values == values[0])):
        return float(values[0])
    per: FloatArray = values[segs.seg]
    return per


def _was_of(members: Sequence[_Member], active: Active, rule: str) -> tuple[BoolArray, BoolArray]:
    """`alerts.fleet._was`: per member, whether ``rule`` has an open alert and whether that one
    is critical — by going over the open alerts (few) instead of over the members (many)."""
    was = np.zeros(len(members), dtype=np.bool_)
    critical = np.zeros(len(members), dtype=np.bool_)
    if not active:
        return was, critical
    rank = {m.sid: k for k, m in enumerate(members)}
    if len(rank) != len(members):  # a subject twice: as the reference reads it, member by member
        return _was(members, active, rule)
    for sid, rules in active.items():
        k = rank.get(sid)
        state = None if k is None else rules.get(rule)
        if state is not None:
            was[k] = True
            critical[k] = state == Severity.CRITICAL
    return was, critical


_FEW_STEPS = 16
"""Up to this many evaluation times, the stuck rule asks `_maybe_stuck` which sensors to judge."""


def _by_gaps(at: FloatArray, max_age: FloatArray) -> bool:
    """Whether freshness is worked out from the readings' gaps (`_stale_steps`) instead of
    per member and step: over many evaluation times in order (the backtest) and ages known."""
    return (
        at.size > _FEW_STEPS
        and bool(np.all(at[1:] >= at[:-1]))
        and not bool(np.any(np.isnan(max_age)))
    )


def _next_times(times: FloatArray, segs: Segments, samples: IntArray) -> FloatArray:
    """Per sample of ``samples``, the time of the next sample of its segment (+inf after the
    segment's last)."""
    nxt = np.full(samples.size, np.inf)
    after = samples + 1
    place = np.minimum(np.searchsorted(segs.offsets, after), segs.offsets.size - 1)
    inside = segs.offsets[place] != after  # the next sample does not begin a segment
    nxt[inside] = times[after[inside]]
    return nxt


def _steps_after(
    times: FloatArray, segs: Segments, samples: IntArray, at: FloatArray, max_age: FloatArray
) -> tuple[IntArray, IntArray, BoolArray]:
    """The evaluation times (in order) whose last sample is one of ``samples``: per such
    time, its place in ``samples``, the step, and whether the sample is at most ``max_age``
    (per sample) old then — as `alerts.fleet_series.fresh_steps` has it."""
    lo = np.searchsorted(at, times[samples], side="left")
    hi = np.searchsorted(at, _next_times(times, segs, samples), side="left")
    count = hi - lo
    which = np.repeat(np.arange(samples.size, dtype=np.int64), count)
    before = np.zeros(samples.size, dtype=np.int64)
    np.cumsum(count[:-1], out=before[1:])
    steps = lo[which] + np.arange(which.size, dtype=np.int64) - before[which]
    age = np.subtract(at[steps], times[samples][which])
    with np.errstate(invalid="ignore"):
        fresh = np.less_equal(age, max_age[which])
    return which, steps, fresh


def _stale_steps(
    times: FloatArray, segs: Segments, at: FloatArray, max_age: FloatArray
) -> tuple[IntArray, IntArray, IntArray]:
    """`alerts.fleet_series.fresh_steps`' stale (segment, step) pairs, segment after segment
    and step after step, with the flat index of the step's last sample (−1: none), from the
    gaps alone (``at`` in order): a step can be stale only before a segment's first sample or
    in a gap longer than the segment's ``max_age`` (the age is at most the gap's, rounding
    included); the steps in those gaps are checked as `fresh_steps` checks them."""
    nonempty = segs.lengths > 0
    gap = np.empty(times.size)  # to the next sample of the segment, +inf after its last
    np.subtract(times[1:], times[:-1], out=gap[:-1])
    gap[segs.offsets[1:][nonempty] - 1] = np.inf
    candidates = np.flatnonzero(gap > _per_sample(max_age, segs))
    del gap
    owner = segs.seg[candidates]
    which, steps_a, fresh = _steps_after(times, segs, candidates, at, max_age[owner])
    stale = ~fresh
    seg_a, steps_a, last_a = owner[which][stale], steps_a[stale], candidates[which][stale]
    heads = np.full(segs.count, at.size, dtype=np.int64)
    heads[nonempty] = np.searchsorted(at, times[segs.starts[nonempty]], side="left")
    seg_b = np.repeat(np.arange(segs.count, dtype=np.int64), heads)
    before = np.zeros(segs.count, dtype=np.int64)
    np.cumsum(heads[:-1], out=before[1:])
    steps_b = np.arange(seg_b.size, dtype=np.int64) - before[seg_b]
    seg = np.concatenate((seg_b, seg_a))
    steps = np.concatenate((steps_b, steps_a))
    last = np.concatenate((np.full(seg_b.size, -1, dtype=np.int64), last_a))
    order = np.argsort(seg * max(at.size, 1) + steps, kind="stable")
    return seg[order], steps[order], last[order]


def _threshold_gaps(
    times: FloatArray,
    values: FloatArray,
    segs: Segments,
    at: FloatArray,
    max_age_s: FloatArray,
    was: BoolArray,
    was_critical: BoolArray,
    above: bool,
    levels: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
) -> tuple[_Hits, IntArray, IntArray]:
    """`alerts.fleet._threshold` over many evaluation times in order (`_by_gaps`): its
    hysteresis (`alerts.fleet._threshold_on`), the hits from the samples where the rule is on
    (`_steps_after`), and the stale (segment, step) pairs from the gaps (`_stale_steps`)
    instead of the fresh steps ``(segments, times)``."""
    stale_seg, stale_steps, _ = _stale_steps(times, segs, at, max_age_s)
    if times.size == 0:
        return _Hits.none(), stale_seg, stale_steps
    on, critical, beyond, since = _threshold_on(
        times, values, segs, was, was_critical, above, levels
    )
    samples = np.flatnonzero(on)
    which, steps, fresh = _steps_after(times, segs, samples, at, max_age_s[segs.seg[samples]])
    index = samples[which][fresh]
    hits = _Hits(
        segs.seg[index], steps[fresh], index, critical[index], since[index], ~beyond[index]
    )
    return hits, stale_seg, stale_steps


def _health_steps(
    ev: FleetEvaluator,
    members: Sequence[_Member],
    series: Sequence[SensorSeries],
    raw: _Raw,
    at: FloatArray,
    active: Active,
    enabled: BoolArray,
    silent_after: FloatArray,
    result: ClassResult,
    entries: list[_Entry],
) -> None:
    """The health class over many evaluation times in order (the backtest), by the readings'
    gaps and runs instead of per member and step: the stale steps from the gaps longer than
    the silence limit (`_stale_steps`), stuck values at the steps whose last reading ends a
    long enough run (`_stuck_runs`), a finding built once per reading and shared between its
    steps. Battery and out-of-range readings as in `health_class`."""
    segs, times = raw.segs, raw.times
    seg, steps, last = _stale_steps(times, segs, at, silent_after)
    on = enabled[seg]
    seg, steps, last = seg[on], steps[on], last[on]
    _silent(ev, members, series, times, at, seg, steps, last >= 0, last, result, entries)
    sids = [members[k].sid for k in seg.tolist()]
    step_list = steps.tolist()
    for rule in health.RULES[1:]:
        result.output.held.extend((j, rule, sid) for j, sid in zip(step_list, sids, strict=True))
    if times.size == 0:
        return
    _stuck_runs(members, raw, at, silent_after, enabled, entries)
    _battery_of(ev, members, series, raw, at, active, enabled, entries)
    was_out, _ = _was_of(members, active, health.RULES[3])
    out = enabled & (was_out | _maybe_out_of_range(ev, members, raw))
    if out.any():
        few, part = _part(members, series, out, raw)
        if part.times.size:
            flat, _, fresh = fresh_steps(part.times, part.segs, at, silent_after[out])
            _out_of_range(few, part, flat, fresh & enabled[out][:, None], active, entries)


def _stuck_runs(
    members: Sequence[_Member],
    raw: _Raw,
    at: FloatArray,
    max_age: FloatArray,
    enabled: BoolArray,
    entries: list[_Entry],
) -> None:
    """`_stuck` over many evaluation times in order: the readings that end a stuck run (long
    and many enough, of an enabled member that reported), then the fresh steps whose last
    reading that is (`_steps_after`), one finding per reading."""
    segs, times = raw.segs, raw.times
    valid_any = ~(np.isnan(raw.temperature) & np.isnan(raw.humidity))
    every = bool(valid_any.all())
    reported = segs.lengths > 0 if every else _segment_any(valid_any, segs)
    hours = _array(m.rules.health.stuck_hours for m in members)
    least = np.array([m.rules.health.stuck_min_readings for m in members], dtype=np.int64)
    # ``least`` readings lie in a run only when it began ``least − 1`` samples back or more
    maybe, began = _long_runs(
        _run_breaks((raw.temperature, raw.humidity), segs), max(int(least.min()) - 1, 0)
    )
    if every:  # each sample a reading
        readings = maybe + 1 - began
    else:
        cum = np.zeros(valid_any.size + 1, dtype=np.int64)
        np.cumsum(valid_any, out=cum[1:])
        readings = cum[maybe + 1] - cum[began]
    duration = times[maybe] - times[began]
    seg = segs.seg
    owner = seg[maybe]
    stuck = (
        (duration >= hours[owner] * 3600.0)
        & (readings >= least[owner])
        & (enabled & reported)[owner]
    )
    samples = maybe[stuck]
    if samples.size == 0:
        return
    began, duration, readings = began[stuck], duration[stuck], readings[stuck]
    which, steps, fresh = _steps_after(times, segs, samples, at, max_age[seg[samples]])
    built: dict[int, Finding] = {}
    for w, step in zip(which[fresh].tolist(), steps[fresh].tolist(), strict=True):
        m = members[int(seg[samples[w]])]
        finding = built.get(w)
        if finding is None:
            finding = _stuck_finding(
                m, float(times[began[w]]), float(duration[w]), int(readings[w])
            )
            built[w] = finding
        entries.append(((m.rank, 1, step), step, finding))


def _run_breaks(quantities: Sequence[FloatArray], segs: Segments) -> BoolArray:
    """Per sample, whether a run of equal values (of every quantity) begins there: at a
    segment's first sample and at a valid value that differs from the segment's previous valid
    one or has none before it (NaN continues a run) — the valid values compared with each
    other only."""
    n = segs.seg.size
    changed = np.zeros(n, dtype=np.bool_)
    for values in quantities:
        if not np.isnan(values).any():  # every value valid: compared with the one before
            np.not_equal(values[1:], values[:-1], out=changed[1:], where=~changed[1:])
            continue
        where = np.flatnonzero(~np.isnan(values))
        if where.size == 0:
            continue
        valid = values[where]
        seg = segs.seg[where]
        breaks = np.ones(where.size, dtype=np.bool_)
        breaks[1:] = (valid[1:] != valid[:-1]) | (seg[1:] != seg[:-1])
        changed[where[breaks]] = True
    changed[segs.starts[segs.lengths > 0]] = True
    return changed


def _run_starts(quantities: Sequence[FloatArray], segs: Segments) -> IntArray:
    """`alerts.fleet_series.run_starts` of each quantity, their latest per sample: where the
    current run of equal values (of every quantity) began (`_run_breaks`)."""
    changed = _run_breaks(quantities, segs)
    index = np.arange(changed.size, dtype=np.int64)
    starts: IntArray = np.maximum.accumulate(np.where(changed, index, 0))
    return starts


def _long_runs(breaks: BoolArray, back: int) -> tuple[IntArray, IntArray]:
    """The samples whose run (`_run_breaks`) began ``back`` or more samples before them, in
    order, and per such sample where its run began (`_run_starts`) — from the samples that
    continue a run (few where values change), when ``back`` ≥ 1: a run's continuing samples
    follow each other, right after its first."""
    if back <= 0:
        index = np.arange(breaks.size, dtype=np.int64)
        return index, np.maximum.accumulate(np.where(breaks, index, 0))
    going = np.flatnonzero(~breaks)
    opens = np.ones(going.size, dtype=np.bool_)
    np.not_equal(going[1:], going[:-1] + 1, out=opens[1:])
    heads = np.flatnonzero(opens)
    began = np.repeat(going[heads] - 1, np.diff(heads, append=going.size))
    long = going - began >= back
    return going[long], began[long]
