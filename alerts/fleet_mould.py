"""The fleet evaluator's mould and decay classes, its derived rows, its fetch from preloaded
arrays and the hourly means kept between runs, for `alerts.fleet.FleetEvaluator`.

Kept between runs, each only while it gives the same bits as computing whole (the golden tests
and ``tests/alerts/test_fleet_mould_carry.py`` compare with the sensor-by-sensor paths):

- `HourlyCache`: all sensors' hourly means on one grid as an `HourlyBlock` (``(sensors, hours)``
  matrices); a run computes only the window's first ``max_gap_h + 1`` hours and the settle
  window, in array passes over all sensors (`block_means`).
- `MouldCarry`: the mould class's per-member tables and its MRF/VTT matrices; each run
  integrates from each sensor's checkpoint (the alert state's, as the reference does) in the
  chunks `alerts.rules.mould.indices_many` uses, one array pass per model.
- `DecayCarry`: the rooms' mean hourly series and preservation-index rates; a run computes
  them again only at the hours the block computed again.
- derived rows (`derived_rows` with the evaluator): from the matrices, a row kept while its
  inputs (T, RH, MRF, VTT at the hour written) are the same bits.
- `FetchPlans`: per room and list of classes, what to read, and the room's `RoomData` (the same
  object every run, so the evaluator's members are too) — for preloaded arrays
  (`fetch_arrays`) and for the store (`fetch_room`: the store's windows and hourly means, asked
  as `Evaluator.fetch` asks them).

The incremental store source (`alerts.incremental.IncrementalStoreSource`, reading in bulk) is
fetched for all sensors at once too (`fetch_store`), its hourly blocks made of the store's own
means. Another source (the store read whole, `StoreSource`), or sensors not on one grid, take
the sensor-by-sensor paths of the classes as before.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from repoclimate.alerts.config import DecayParams, RulesConfig
from repoclimate.alerts.evaluate import Active, ArraySource, ClassResult, RoomData, lookbacks
from repoclimate.alerts.flat_history import FlatHistory
from repoclimate.alerts.fleet_series import Segments, episode_starts, hysteresis_mask
from repoclimate.alerts.incremental import IncrementalStoreSource
from repoclimate.alerts.model import Finding, Severity, from_epoch
from repoclimate.alerts.rules import decay, mould
from repoclimate.alerts.rules.base import when
from repoclimate.alerts.series import BoolArray, FloatArray, HourlySeries, IntArray, SensorSeries
from repoclimate.history.derived import PRESERVATION, DerivedRow
from repoclimate.preservation.decay import lifetime_multiplier, preservation_index
from repoclimate.preservation.mechanical import wood_emc
from repoclimate.preservation.mould import (
    MRF_RESET_AFTER_HOURS,
    MrfState,
    Sensitivity,
    VttState,
    _mrf,
    _vtt,
    days_to_mould,
)
from repoclimate.preservation.psychrometrics import dew_point, frost_point

if TYPE_CHECKING:
    from repoclimate.alerts.fleet import FleetEvaluator, _Member
    from repoclimate.alerts.topology import RoomNode


@dataclass(frozen=True, slots=True)
class _MouldStatic:
    """What the mould class needs per member that depends only on the registry and the rules."""

    fingerprints: list[str]
    groups: IntArray
    """Per member, its (sensitivity, decline) pair's index in ``models``."""
    models: list[tuple[Sensitivity, float]]
    settle: IntArray
    enabled: BoolArray
    mrf_warning: FloatArray
    vtt_warning: FloatArray
    mrf_critical: FloatArray
    vtt_critical: FloatArray
    ratio: FloatArray

    @classmethod
    def of(cls, members: Sequence[_Member]) -> _MouldStatic:
        models: dict[tuple[Sensitivity, float], int] = {}
        groups: list[int] = []
        fingerprints: list[str] = []
        known: dict[tuple[str, int], tuple[str, int]] = {}
        for m in members:
            p = m.rules.mould
            found = known.get((m.room.holdings, id(p)))
            if found is None:
                model = (
                    mould.sensitivity_for(m.room.holdings, p),
                    mould.decline_for(m.room.holdings),
                )
                found = (
                    mould.fingerprint(m.room.holdings, p),
                    models.setdefault(model, len(models)),
                )
                known[(m.room.holdings, id(p))] = found
            fingerprints.append(found[0])
            groups.append(found[1])
        params = [m.rules.mould for m in members]

        def floats(name: str) -> FloatArray:
            return np.array([getattr(p, name) for p in params], dtype=np.float64)

        return cls(
            fingerprints,
            np.array(groups, dtype=np.int64),
            list(models),
            np.array([p.settle_hours for p in params], dtype=np.int64),
            np.array([p.enabled for p in params], dtype=np.bool_),
            floats("mrf_warning"),
            floats("vtt_warning"),
            floats("mrf_critical"),
            floats("vtt_critical"),
            floats("clear_ratio"),
        )


class MouldCarry:
    """What the fleet mould class keeps between runs: the per-member tables, and the MRF and
    VTT matrices it hands out rows of (``RoomData.mould``: valid until the next run)."""

    def __init__(self) -> None:
        self._static: dict[tuple[str, ...], _MouldStatic] = {}
        self.last: tuple[tuple[str, ...], FloatArray, FloatArray, FloatArray] | None = None
        """The last array run's members, hour grid, MRF and VTT ``(members, hours)``."""
        self.derived: (
            tuple[object, FloatArray, FloatArray, list[DerivedRow | None], list[DerivedRow | None]]
            | None
        ) = None
        """The derived rows of the last run from the matrices, with their inputs (sensors'
        and rooms' T, RH, MRF, VTT at the hours written): rows whose inputs are the same bits
        are the same rows (`DerivedRow` is frozen)."""
        self._indices: (
            tuple[tuple[str, ...], FloatArray, FloatArray, FloatArray, IntArray] | None
        ) = None

    def static(self, sids: tuple[str, ...], members: Sequence[_Member]) -> _MouldStatic:
        found = self._static.get(sids)
        if found is None:
            if len(self._static) >= 4:
                self._static.clear()
            found = _MouldStatic.of(members)
            self._static[sids] = found
        return found

    def indices(
        self, sids: tuple[str, ...], grid: FloatArray, keep_from: IntArray
    ) -> tuple[FloatArray, FloatArray]:
        """``(members, hours)`` MRF and VTT matrices for this run, NaN before each row's
        ``keep_from`` (the rest is written by the caller)."""
        held = self._indices
        rows, n = len(sids), grid.size
        if held is not None and held[0] == sids and np.array_equal(held[1], grid):
            mrf, vtt = held[2], held[3]
            lo = min(int(keep_from.min()), int(held[4].min())) if rows else n
            if lo < n:
                blank = np.arange(lo, n)[None, :] < keep_from[:, None]
                mrf[:, lo:][blank] = np.nan
                vtt[:, lo:][blank] = np.nan
        else:
            mrf = np.full((rows, n), np.nan)
            vtt = np.full((rows, n), np.nan)
        self._indices = (sids, grid, mrf, vtt, keep_from)
        self.last = (sids, grid, mrf, vtt)
        return mrf, vtt


def _matrices(
    cache: HourlyCache | None, sids: tuple[str, ...], series: Sequence[HourlySeries]
) -> tuple[FloatArray, FloatArray, FloatArray] | None:
    """The members' hourly means as ``(members, hours)`` matrices (the cache's block itself
    when the members are its rows in order), or None when they are not on one grid."""
    grid = series[0].hours
    if any(s.hours is not grid and not np.array_equal(s.hours, grid) for s in series):
        return None
    if cache is not None:
        for block in cache.blocks:
            if block.sensors == sids and block.hours is grid:
                return grid, block.temperature, block.humidity
    return grid, np.stack([s.temperature for s in series]), np.stack([s.humidity for s in series])


def evaluate_mould(
    air: Sequence[_Member],
    at: FloatArray,
    active: Active,
    result: ClassResult,
    checkpoints: Mapping[str, mould.Checkpoint],
    evaluator: FleetEvaluator | None = None,
) -> None:
    """The mould class over the air sensors with hourly means (`alerts.rules.mould`): in
    array passes over all of them when they share one hour grid (`_mould_arrays`), else
    sensor by sensor (`mould.indices_many`)."""
    from repoclimate.alerts.fleet import _array, _held, _HourlyRows, _was

    rule = mould.RULE
    if evaluator is not None:
        evaluator.mould_carry.last = None
    members = [m for m in air if m.sensor.id in m.data.hourly]
    result.subjects.update(m.sid for m in members)
    if not members:
        return
    series = [m.data.hourly[m.sensor.id] for m in members]
    if evaluator is not None:
        sids = tuple(m.sensor.id for m in members)
        found = _matrices(evaluator.hourly_cache, sids, series)
        if found is not None:
            _mould_arrays(
                evaluator.mould_carry,
                members,
                sids,
                series,
                *found,
                at,
                active,
                result,
                checkpoints,
            )
            return
    params = [m.rules.mould for m in members]
    evaluated = [h.complete_before(at[[0, -1]]) for h in series]
    computed = mould.indices_many(
        series,
        [m.room.holdings for m in members],
        params,
        [checkpoints.get(m.sensor.id) for m in members],
        [int(e[1]) - p.settle_hours for e, p in zip(evaluated, params, strict=True)],
        [int(e[0]) for e in evaluated],
    )
    mrf_parts: list[FloatArray] = []
    vtt_parts: list[FloatArray] = []
    # The indices are NaN before the hour they were continued from (the checkpoint), so
    # no hysteresis event happens there: the rule runs from that hour on (capped at the
    # first hour evaluated), which gives the same states, episodes and findings as the
    # whole window at a fraction of the cost. ``skipped``: hours left out per member.
    skipped: list[int] = []
    trimmed: list[HourlySeries] = []
    for m, h, e, (mrf, vtt, checkpoint) in zip(members, series, evaluated, computed, strict=True):
        if checkpoint is not None:
            result.checkpoints[m.sensor.id] = checkpoint
        m.data.mould[m.sensor.id] = (mrf, vtt)
        finite = np.flatnonzero(np.isfinite(mrf) | np.isfinite(vtt))
        k0 = min(int(finite[0]) if finite.size else mrf.size, max(int(e[0]), 0))
        skipped.append(k0)
        trimmed.append(HourlySeries(h.hours[k0:], h.temperature[k0:], h.humidity[k0:]))
        mrf_parts.append(mrf[k0:])
        vtt_parts.append(vtt[k0:])
    rows = _HourlyRows.of(trimmed)
    segs = rows.segs
    mrf = np.concatenate(mrf_parts)
    vtt = np.concatenate(vtt_parts)
    enabled = np.array([p.enabled for p in params], dtype=np.bool_)
    local = rows.complete(at)
    known = np.isfinite(rows.temperature) & np.isfinite(rows.humidity)
    flat = np.minimum(segs.starts[:, None] + np.maximum(local, 0), max(known.size - 1, 0))
    fresh = (local >= 0) & (known[flat] if known.size else False)
    _held(result.output.held, fresh, enabled, rule, members)
    if known.size == 0:
        return
    mrf_w = _array(p.mrf_warning for p in params)[segs.seg]
    vtt_w = _array(p.vtt_warning for p in params)[segs.seg]
    mrf_c = _array(p.mrf_critical for p in params)[segs.seg]
    vtt_c = _array(p.vtt_critical for p in params)[segs.seg]
    ratio = _array(p.clear_ratio for p in params)[segs.seg]
    with np.errstate(invalid="ignore"):
        enter = (mrf >= mrf_w) | (vtt >= vtt_w)
        clear = (mrf < mrf_w * ratio) & (vtt < vtt_w * ratio)
        crit_enter = (mrf >= mrf_c) | (vtt >= vtt_c)
        crit_clear = (mrf < mrf_c * ratio) & (vtt < vtt_c * ratio)
    was, was_critical = _was(members, active, rule)
    on = hysteresis_mask(enter, clear, segs, was)
    seg, steps = np.nonzero(fresh & enabled[:, None] & on[flat])
    if seg.size == 0:
        return
    critical = hysteresis_mask(crit_enter, crit_clear, segs, was_critical)
    hour_end = rows.hours + 3600.0
    starts = episode_starts(on, segs, was)
    since = np.where(starts >= 0, hour_end[np.maximum(starts, 0)], hour_end)
    days = days_to_mould(rows.temperature, rows.humidity)
    damp = np.isfinite(days)
    for s, step in zip(seg.tolist(), steps.tolist(), strict=True):
        m = members[s]
        p = params[s]
        i = int(flat[s, step])
        t_c, rh_pct = float(rows.temperature[i]), float(rows.humidity[i])
        by_mrf = mrf[i] / p.mrf_warning >= vtt[i] / p.vtt_warning
        severity = Severity.CRITICAL if critical[i] else Severity.WARNING
        if by_mrf:
            value = float(mrf[i])
            threshold = p.mrf_critical if severity is Severity.CRITICAL else p.mrf_warning
            unit = "MRF"
        else:
            value = float(vtt[i])
            threshold = p.vtt_critical if severity is Severity.CRITICAL else p.vtt_warning
            unit = "VTT index"
        damp_since = (
            _damp_since(series[s], skipped[s] + i - int(segs.starts[s])) if damp[i] else 0.0
        )
        conditions = (
            f"damp since {when(damp_since, m.zone)}"
            if damp[i]
            else "conditions no longer favour germination"
        )
        sensitivity = mould.sensitivity_for(m.room.holdings, p)
        finding = Finding(
            rule=rule,
            subject=m.subject,
            severity=severity,
            since=from_epoch(float(since[i])),
            value=value,
            threshold=threshold,
            unit=unit,
            summary=(
                f"Mould risk factor {mrf[i]:.2f} (germination expected at 1), "
                f"VTT index {vtt[i]:.2f} ({sensitivity.replace('_', ' ')} material); "
                f"{conditions}; last hour {t_c:.1f} °C, {rh_pct:.0f} %RH"
            ),
            advice=mould._advice(t_c, rh_pct, bool(damp[i])),
            clear_s=p.clear_after_minutes * 60.0,
        )
        result.output.findings.append((step, finding))


def _mould_arrays(
    carry: MouldCarry,
    members: Sequence[_Member],
    sids: tuple[str, ...],
    series: Sequence[HourlySeries],
    grid: FloatArray,
    temperature: FloatArray,
    humidity: FloatArray,
    at: FloatArray,
    active: Active,
    result: ClassResult,
    checkpoints: Mapping[str, mould.Checkpoint],
) -> None:
    """The mould class over members on one hour grid, ``(members, hours)`` means: the same
    integration chunks as `mould.indices_many` (from each checkpoint to the new checkpoint
    hour, then on), each over all members of one model at once, and the rule's hysteresis
    from the hour integration continued from (the indices are NaN before it)."""
    from repoclimate.alerts.fleet import _was

    rule = mould.RULE
    static = carry.static(sids, members)
    rows, n = len(members), grid.size
    counted = np.searchsorted(grid + _HOUR, at, side="right").astype(np.int64)
    e_first, e_last = int(counted[0]) - 1, int(counted[-1]) - 1
    index = e_last - static.settle  # the checkpoint hour per member
    usable = np.minimum(index, e_first)
    # the checkpoints to continue from (`mould._continued_from`)
    starts = [checkpoints.get(s) for s in sids]
    nan = math.nan
    usable_starts = [
        start if start is not None and start.fingerprint == fp else None
        for start, fp in zip(starts, static.fingerprints, strict=True)
    ]
    matches = np.fromiter((s is not None for s in usable_starts), dtype=np.bool_, count=rows)
    hour = np.fromiter(
        (nan if s is None else s.hour for s in usable_starts), dtype=np.float64, count=rows
    )
    state = np.array(
        [
            [0.0 if s is None else s.mrf.value for s in usable_starts],
            [0.0 if s is None else s.mrf.dry_hours for s in usable_starts],
            [0.0 if s is None else s.vtt.index for s in usable_starts],
            [0.0 if s is None else s.vtt.hours_unfavourable for s in usable_starts],
        ],
        dtype=np.float64,
    ).reshape(4, rows)
    k = np.searchsorted(grid, hour)
    on_grid = k < n
    continued = matches & on_grid & (grid[np.minimum(k, max(n - 1, 0))] == hour) & (k <= usable)
    if n == 0:
        continued[:] = False
    state[:, ~continued] = 0.0
    first = np.where(continued, k + 1, 0)
    stop = np.maximum(index + 1, first)
    keep_from = np.where(continued, k, first)
    mrf, vtt = carry.indices(sids, grid, keep_from)
    cont = np.flatnonzero(continued)
    mrf[cont, k[cont]] = state[0, cont]
    vtt[cont, k[cont]] = state[2, cont]
    new_checkpoint = np.zeros(rows, dtype=np.bool_)
    for key in sorted(set(zip(first.tolist(), stop.tolist(), static.groups.tolist(), strict=True))):
        lo0, hi0, g = key
        group = np.flatnonzero((first == lo0) & (stop == hi0) & (static.groups == g))
        sensitivity, decline = static.models[g]
        for lo, hi in ((lo0, hi0), (hi0, n)):
            if hi <= lo:
                continue
            # in batches of members (each member's indices are its own: the same bits),
            # so that a cold start's working arrays stay small
            width = max(_INTEGRATE_CELLS // (hi - lo), 1)
            for part in range(0, group.size, width):
                sub = group[part : part + width]
                # (time × members), laid out as `mould.indices_many` stacks them
                t = np.ascontiguousarray(temperature[sub, lo:hi].T)
                rh = np.ascontiguousarray(humidity[sub, lo:hi].T)
                days = np.asarray(days_to_mould(t, rh), dtype=np.float64)
                m_chunk, end_dry = _mrf(
                    days, 1.0, state[0, sub], state[1, sub], MRF_RESET_AFTER_HOURS
                )
                v_chunk, unfav = _vtt(
                    t, rh, 1.0, sensitivity, 0.0, 0.0, decline, state[2, sub], state[3, sub]
                )
                mrf[sub, lo:hi] = m_chunk.T
                vtt[sub, lo:hi] = v_chunk.T
                state[0, sub] = m_chunk[-1]
                state[1, sub] = np.broadcast_to(end_dry, sub.shape)
                state[2, sub] = v_chunk[-1]
                state[3, sub] = np.broadcast_to(unfav, sub.shape)
                at_checkpoint = sub[index[sub] + 1 == hi]
                if at_checkpoint.size:
                    new_checkpoint[at_checkpoint] = True
                    for r in at_checkpoint.tolist():
                        result.checkpoints[sids[r]] = mould.Checkpoint(
                            float(grid[hi - 1]),
                            VttState(float(state[2, r]), float(state[3, r])),
                            MrfState(float(state[0, r]), float(state[1, r])),
                            static.fingerprints[r],
                        )
    # a checkpoint continued at its own hour stays the checkpoint
    same = np.flatnonzero(continued & (k == index) & (index >= 0) & ~new_checkpoint)
    for r in same.tolist():
        start = starts[r]
        assert start is not None
        result.checkpoints[sids[r]] = start
    for r, m in enumerate(members):
        m.data.mould[m.sensor.id] = (mrf[r], vtt[r])
    # the rule from the first hour with an index (capped at the first hour evaluated)
    finite = np.isfinite(mrf) | np.isfinite(vtt)
    lo_all = int(keep_from.min()) if rows else n
    tail = finite[:, lo_all:]
    first_finite = np.where(tail.any(axis=1), tail.argmax(axis=1) + lo_all, n)
    k0 = np.minimum(first_finite, max(e_first, 0))
    was, was_critical = _was(members, active, rule)
    # in batches of rows (each row's hysteresis is its own: the same findings, in the same
    # order), so that a cold start's flat arrays stay small
    r0 = 0
    while r0 < rows:
        r1 = min(r0 + max(_RULE_CELLS // max(n - int(k0[r0:].min()), 1), 1), rows)
        _mould_rule(
            static,
            slice(r0, r1),
            members,
            series,
            grid,
            temperature,
            humidity,
            mrf,
            vtt,
            k0,
            counted,
            was,
            was_critical,
            result,
        )
        r0 = r1


_RULE_CELLS = 1_000_000
"""Hours × members per batch of the mould rule's hysteresis (`_mould_arrays`)."""
_INTEGRATE_CELLS = 2_000_000
"""Hours × members per batch of the mould indices' integration (`_mould_arrays`)."""


def _mould_rule(
    static: _MouldStatic,
    rows: slice,
    all_members: Sequence[_Member],
    all_series: Sequence[HourlySeries],
    grid: FloatArray,
    all_temperature: FloatArray,
    all_humidity: FloatArray,
    all_mrf: FloatArray,
    all_vtt: FloatArray,
    all_k0: IntArray,
    counted: IntArray,
    all_was: BoolArray,
    all_was_critical: BoolArray,
    result: ClassResult,
) -> None:
    """The mould rule's hysteresis and findings for ``rows`` of `_mould_arrays`' members,
    each row from its hour ``k0`` on."""
    from repoclimate.alerts.fleet import _held

    rule = mould.RULE
    members, series = all_members[rows], all_series[rows]
    temperature, humidity = all_temperature[rows], all_humidity[rows]
    mrf, vtt, k0 = all_mrf[rows], all_vtt[rows], all_k0[rows]
    was, was_critical = all_was[rows], all_was_critical[rows]
    enabled = static.enabled[rows]
    n = grid.size
    base = int(k0.min()) if k0.size else n
    columns = np.arange(base, n, dtype=np.int64)
    inside = columns[None, :] >= k0[:, None]
    lengths = inside.sum(axis=1)
    segs = Segments.from_lengths(lengths.astype(np.int64))
    t_flat = temperature[:, base:][inside]
    h_flat = humidity[:, base:][inside]
    mrf_flat = mrf[:, base:][inside]
    vtt_flat = vtt[:, base:][inside]
    hour_flat = np.broadcast_to(grid[base:], inside.shape)[inside]
    local = np.maximum(counted[None, :] - k0[:, None], 0) - 1
    known = np.isfinite(t_flat) & np.isfinite(h_flat)
    flat = np.minimum(segs.starts[:, None] + np.maximum(local, 0), max(known.size - 1, 0))
    fresh = (local >= 0) & (known[flat] if known.size else False)
    _held(result.output.held, fresh, enabled, rule, members)
    if known.size == 0:
        return
    row = segs.seg + rows.start
    mrf_w, vtt_w = static.mrf_warning[row], static.vtt_warning[row]
    mrf_c, vtt_c = static.mrf_critical[row], static.vtt_critical[row]
    ratio = static.ratio[row]
    with np.errstate(invalid="ignore"):
        enter = (mrf_flat >= mrf_w) | (vtt_flat >= vtt_w)
        clear = (mrf_flat < mrf_w * ratio) & (vtt_flat < vtt_w * ratio)
    on = hysteresis_mask(enter, clear, segs, was)
    seg, steps = np.nonzero(fresh & enabled[:, None] & on[flat])
    if seg.size == 0:
        return
    with np.errstate(invalid="ignore"):
        crit_enter = (mrf_flat >= mrf_c) | (vtt_flat >= vtt_c)
        crit_clear = (mrf_flat < mrf_c * ratio) & (vtt_flat < vtt_c * ratio)
    critical = hysteresis_mask(crit_enter, crit_clear, segs, was_critical)
    hour_end = hour_flat + _HOUR
    begun = episode_starts(on, segs, was)
    since = np.where(begun >= 0, hour_end[np.maximum(begun, 0)], hour_end)
    for s, step in zip(seg.tolist(), steps.tolist(), strict=True):
        i = int(flat[s, step])
        result.output.findings.append(
            (
                step,
                _mould_finding(
                    members[s],
                    series[s],
                    int(k0[s]) + i - int(segs.starts[s]),
                    float(mrf_flat[i]),
                    float(vtt_flat[i]),
                    bool(critical[i]),
                    float(since[i]),
                ),
            )
        )


def _mould_finding(
    m: _Member,
    hourly: HourlySeries,
    k: int,
    mrf_i: float,
    vtt_i: float,
    critical: bool,
    since: float,
) -> Finding:
    """The mould finding of member ``m`` at hour ``k`` of its hourly series."""
    p = m.rules.mould
    t_c, rh_pct = float(hourly.temperature[k]), float(hourly.humidity[k])
    damp = bool(np.isfinite(days_to_mould(t_c, rh_pct)))
    by_mrf = mrf_i / p.mrf_warning >= vtt_i / p.vtt_warning
    severity = Severity.CRITICAL if critical else Severity.WARNING
    if by_mrf:
        value = mrf_i
        threshold = p.mrf_critical if severity is Severity.CRITICAL else p.mrf_warning
        unit = "MRF"
    else:
        value = vtt_i
        threshold = p.vtt_critical if severity is Severity.CRITICAL else p.vtt_warning
        unit = "VTT index"
    conditions = (
        f"damp since {when(_damp_since(hourly, k), m.zone)}"
        if damp
        else "conditions no longer favour germination"
    )
    sensitivity = mould.sensitivity_for(m.room.holdings, p)
    return Finding(
        rule=mould.RULE,
        subject=m.subject,
        severity=severity,
        since=from_epoch(since),
        value=value,
        threshold=threshold,
        unit=unit,
        summary=(
            f"Mould risk factor {mrf_i:.2f} (germination expected at 1), "
            f"VTT index {vtt_i:.2f} ({sensitivity.replace('_', ' ')} material); "
            f"{conditions}; last hour {t_c:.1f} °C, {rh_pct:.0f} %RH"
        ),
        advice=mould._advice(t_c, rh_pct, damp),
        clear_s=p.clear_after_minutes * 60.0,
    )


def evaluate_decay(
    rules_config: RulesConfig,
    rooms: Sequence[RoomData],
    at: FloatArray,
    result: ClassResult,
    evaluator: FleetEvaluator | None = None,
) -> None:
    """The decay class: each room's mean hourly series (`alerts.rules.decay.evaluate`); for
    one evaluation time with the rooms' sensors on one hourly block of the evaluator's cache,
    in array passes over all rooms with their means kept between runs (`DecayCarry`)."""
    if (
        evaluator is not None
        and at.size == 1
        and evaluator.decay_carry.evaluate(rules_config, rooms, float(at[0]), result, evaluator)
    ):
        return
    for data in rooms:
        room = data.room
        hourly = [data.hourly[s.id] for s in room.air if s.id in data.hourly]
        if not hourly:
            continue
        rules = rules_config.resolve(room.site, room.id, room.profile)
        result.subjects.add(room.subject.id)
        result.output.extend(
            decay.evaluate(HourlySeries.mean_of(hourly), room.subject, rules.decay, at)
        )


class DecayCarry:
    """The decay class's room means kept between runs: per room, the mean of its air sensors'
    hourly means (`HourlySeries.mean_of`'s bits), its preservation index rates, and the
    resolved decay rules. A run computes the means again only at the hours the hourly block
    computed again (the window's first hours and the settle window), as long as the block
    continued the result these means were taken from; otherwise all hours."""

    def __init__(self) -> None:
        self._params: dict[tuple[str, str], tuple[RoomNode, DecayParams]] = {}
        self._held: tuple[object, int, FloatArray, FloatArray, FloatArray, FloatArray] | None = None
        """(rooms' layout, block serial, grid, mean T, mean RH, rate) of the last run."""

    def _rules(self, rules_config: RulesConfig, room: RoomNode) -> DecayParams:
        found = self._params.get((room.site, room.id))
        if found is None or found[0] is not room:
            params = rules_config.resolve(room.site, room.id, room.profile).decay
            found = (room, params)
            self._params[(room.site, room.id)] = found
        return found[1]

    def evaluate(
        self,
        rules_config: RulesConfig,
        rooms: Sequence[RoomData],
        t: float,
        result: ClassResult,
        evaluator: FleetEvaluator,
    ) -> bool:
        """`decay.evaluate` of every room at time ``t``; False (nothing done) when the rooms'
        sensors are not one hourly block's rows in order."""
        judged: list[RoomData] = []
        counts: list[int] = []
        ids: list[str] = []
        for data in rooms:
            hourly = data.hourly
            mine = [s for s in _air_ids(data.room) if s in hourly]
            if mine:
                judged.append(data)
                counts.append(len(mine))
                ids.extend(mine)
        if not judged:
            return True
        sids = tuple(ids)
        block = next((b for b in evaluator.hourly_cache.blocks if b.sensors == sids), None)
        if block is None or any(
            d.hourly[s].hours is not block.hours for d in judged for s in _air_ids(d.room)[:1]
        ):
            return False
        grid = block.hours
        n = grid.size
        size = np.array(counts, dtype=np.int64)
        offsets = np.zeros(size.size + 1, dtype=np.int64)
        np.cumsum(size, out=offsets[1:])
        layout = (sids, tuple(counts))
        held = self._held
        if (
            held is not None
            and held[0] == layout
            and block.previous == held[1]
            and held[2].size
            and n
            and grid[0] >= held[2][0]
        ):
            shift = round((grid[0] - held[2][0]) / _HOUR)
            lo, hi = block.head, block.recomputed_from
            if shift == 0 and held[3].shape == (size.size, n):  # the same grid: in place
                mean_t, mean_h, rate = held[3], held[4], held[5]
            else:
                mean_t, mean_h, rate = (np.empty((size.size, n)) for _ in range(3))
                for new, old in zip((mean_t, mean_h, rate), held[3:], strict=True):
                    new[:, lo:hi] = old[:, shift + lo : shift + hi]
            columns = np.r_[0:lo, hi:n]
        else:
            mean_t, mean_h, rate = (np.empty((size.size, n)) for _ in range(3))
            columns = np.arange(n)
        if columns.size:
            mean_t[:, columns] = _room_means(block.temperature[:, columns], offsets)
            mean_h[:, columns] = _room_means(block.humidity[:, columns], offsets)
            rate[:, columns] = _rates(mean_t[:, columns], mean_h[:, columns])
        self._held = (layout, block.serial, grid, mean_t, mean_h, rate)
        ok = np.isfinite(mean_t) & np.isfinite(mean_h)
        for r, data in enumerate(judged):
            room = data.room
            params = self._rules(rules_config, room)
            result.subjects.add(room.subject.id)
            if params.enabled:
                _decay_room(result, room, params, t, grid, ok[r], rate[r])
        return True


_AIR: dict[int, tuple[RoomNode, tuple[str, ...]]] = {}
"""Per room (by identity), its air sensors' ids."""


def _air_ids(room: RoomNode) -> tuple[str, ...]:
    """``room.air``'s ids, kept per room (the property builds its tuple on every call)."""
    found = _AIR.get(id(room))
    if found is None or found[0] is not room:
        if len(_AIR) > 1_000_000:
            _AIR.clear()
        found = (room, tuple(s.id for s in room.air))
        _AIR[id(room)] = found
    return found[1]


def _room_means(values: FloatArray, offsets: IntArray) -> FloatArray:
    """Per room (rows ``[offsets[r], offsets[r + 1])`` of ``values``), the mean of its rows'
    non-NaN values hour by hour, summed row after row as ``numpy.nanmean`` along the first
    axis sums them (`HourlySeries.mean_of`), so the bits agree."""
    rooms = offsets.size - 1
    size = np.diff(offsets)
    widest = int(size.max()) if rooms else 0
    total = np.zeros((rooms, values.shape[1]))
    count = np.zeros((rooms, values.shape[1]), dtype=np.int64)
    for j in range(widest):
        has = size > j
        rows = offsets[:-1][has] + j
        v = values[rows]
        valid = ~np.isnan(v)
        total[has] = total[has] + np.where(valid, v, 0.0)
        count[has] += valid
    with np.errstate(invalid="ignore", divide="ignore"):
        mean: FloatArray = total / count
    return mean


def _rates(t_c: FloatArray, rh_pct: FloatArray) -> FloatArray:
    """Per hour, the rate `preservation.decay.twpi` sums (``1 / PI``, 0 where PI is not a
    positive number), as its ``_harmonic_mean`` computes it with unit weights."""
    pi = np.asarray(preservation_index(t_c, rh_pct), dtype=np.float64)
    ok = np.isfinite(pi) & (pi > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate: FloatArray = np.where(ok, 1.0 / np.where(ok, pi, 1.0), 0.0)
    return rate


def _twpi(rate: FloatArray, usable: BoolArray) -> float:
    """`preservation.decay.twpi` of the hours ``usable`` selects from their rates: the same
    sums of the same values in the same order."""
    chosen = rate[usable]
    weights = float(np.count_nonzero(chosen))
    if weights <= 0:
        return math.nan
    return float(np.float64(weights) / np.sum(chosen))


def _decay_room(
    result: ClassResult,
    room: RoomNode,
    params: DecayParams,
    t: float,
    hours: FloatArray,
    ok: BoolArray,
    rate: FloatArray,
) -> None:
    """`decay.evaluate` of one room at one time, from its mean's usable hours and rates."""
    rule = decay.RULE
    week = (hours >= t - decay.WEEK_S) & (hours + _HOUR <= t) & ok
    base = (hours >= t - decay.lookback_s(params)) & (hours < t - decay.WEEK_S) & ok
    need_week = params.min_coverage * 168
    need_base = params.min_coverage * 168 * params.baseline_weeks
    if week.sum() < need_week or base.sum() < need_base:
        result.output.held.append((0, rule, room.subject.id))
        return
    last = _twpi(rate, week)
    baseline = _twpi(rate, base)
    if not (np.isfinite(last) and np.isfinite(baseline)):
        result.output.held.append((0, rule, room.subject.id))
        return
    limit = baseline * (1.0 - params.drop_pct / 100.0)
    if last >= limit:
        return
    drop = 100.0 * (1.0 - last / baseline)
    result.output.findings.append(
        (
            0,
            Finding(
                rule=rule,
                subject=room.subject,
                severity=Severity.INFO,
                since=from_epoch(t - decay.WEEK_S),
                value=last,
                threshold=limit,
                unit="years",
                summary=(
                    f"TWPI of the last week {last:.0f} years, {drop:.0f} % below the "
                    f"{params.baseline_weeks}-week baseline of {baseline:.0f} years"
                ),
                advice=(
                    "Warmer or damper weeks speed chemical decay: review the temperature "
                    "and RH set points and the plant's schedule for this room."
                ),
                page=False,
                clear_s=params.clear_after_minutes * 60.0,
            ),
        )
    )


def _damp_since(hourly: HourlySeries, k: int) -> float:
    """The first hour of the damp spell (``days_to_mould`` finite) under way at hour ``k``,
    within the window (its first hour when the spell began before it): `since_times` of
    `episode_starts` over the whole window, for the one hour a finding reports."""
    days = days_to_mould(hourly.temperature[: k + 1], hourly.humidity[: k + 1])
    dry = np.flatnonzero(~np.isfinite(days))
    return float(hourly.hours[int(dry[-1]) + 1 if dry.size else 0])


def derived_rows(
    rooms: Sequence[RoomData], nows: FloatArray, evaluator: FleetEvaluator | None = None
) -> list[DerivedRow]:
    """`alerts.engine.derived_rows` of every room at once: the same rows in the same order,
    with each metric computed only at the hours written (the metrics are per hour; MRF and VTT
    index are the mould rule's, carried in ``RoomData.mould``). With the ``evaluator`` whose
    last run gave ``rooms``: from its hourly and mould matrices when they cover them."""
    if evaluator is not None and nows.size:
        found = _derived_from_matrices(rooms, nows, evaluator)
        if found is not None:
            return found
    return _derived_each(rooms, nows)


def _derived_from_matrices(
    rooms: Sequence[RoomData], nows: FloatArray, evaluator: FleetEvaluator
) -> list[DerivedRow] | None:
    """`derived_rows` from the run's matrices (one hourly block and the mould class's MRF
    and VTT over the same sensors, in the rooms' order); None when they do not cover the
    rooms (then sensor by sensor)."""
    carried = evaluator.mould_carry.last
    if carried is None:
        return None
    sids, grid, mrf, vtt = carried
    block = next(
        (b for b in evaluator.hourly_cache.blocks if b.sensors == sids and b.hours is grid), None
    )
    if block is None:
        return None
    # the rooms' sensors with hourly means and mould indices, in order: the block's rows
    counts: list[int] = []
    ids: list[str] = []
    for data in rooms:
        hourly, indices = data.hourly, data.mould
        mine = [s for s in _air_ids(data.room) if s in hourly and s in indices]
        counts.append(len(mine))
        ids.extend(mine)
    if tuple(ids) != sids:
        return None
    last = np.searchsorted(grid + _HOUR, nows, side="right").astype(np.int64) - 1
    last = last[last >= 0]
    if last.size == 0 or not sids:
        return []
    t = block.temperature[:, last]  # (sensors, hours written)
    rh = block.humidity[:, last]
    mrf_k, vtt_k = mrf[:, last], vtt[:, last]
    known = np.isfinite(t) & np.isfinite(rh)
    n_rooms = len(rooms)
    size = np.array(counts, dtype=np.int64)
    widest = int(size.max()) if n_rooms else 0
    offsets = np.zeros(n_rooms + 1, dtype=np.int64)
    np.cumsum(size, out=offsets[1:])
    # per room and place, the sensor's row (−1: none), for the room's means and worst indices
    place = offsets[:-1, None] + np.arange(widest, dtype=np.int64)[None, :]
    place = np.where(np.arange(widest)[None, :] < size[:, None], place, -1)
    # `_nanmean_rows`: the valid values summed sensor after sensor
    t_total = np.zeros((n_rooms, last.size))
    rh_total = np.zeros((n_rooms, last.size))
    t_count = np.zeros((n_rooms, last.size), dtype=np.int64)
    rh_count = np.zeros((n_rooms, last.size), dtype=np.int64)
    worst_mrf = np.full((n_rooms, last.size), np.nan)
    worst_vtt = np.full((n_rooms, last.size), np.nan)
    written = np.zeros((n_rooms, last.size), dtype=np.bool_)
    for j in range(widest):
        rows = place[:, j]
        has = rows >= 0
        r = np.maximum(rows, 0)
        t_j = np.where(has[:, None], t[r], np.nan)
        rh_j = np.where(has[:, None], rh[r], np.nan)
        ok_t, ok_rh = ~np.isnan(t_j), ~np.isnan(rh_j)
        t_total = t_total + np.where(ok_t, t_j, 0.0)
        rh_total = rh_total + np.where(ok_rh, rh_j, 0.0)
        t_count += ok_t
        rh_count += ok_rh
        k_j = has[:, None] & known[r]
        worst_mrf = np.where(k_j, np.fmax(worst_mrf, mrf_k[r]), worst_mrf)
        worst_vtt = np.where(k_j, np.fmax(worst_vtt, vtt_k[r]), worst_vtt)
        written |= k_j
    with np.errstate(invalid="ignore", divide="ignore"):
        t_room = t_total / t_count
        rh_room = rh_total / rh_count
    sensor_fields = _field_lists(_metrics(t.ravel(), rh.ravel()), mrf_k.ravel(), vtt_k.ravel())
    room_fields = _field_lists(
        _metrics(t_room.ravel(), rh_room.ravel()), worst_mrf.ravel(), worst_vtt.ravel()
    )
    room_ok_a = (written & np.isfinite(t_room) & np.isfinite(rh_room)).ravel()
    room_ok = room_ok_a.tolist()
    known_l = known.ravel().tolist()
    times = [from_epoch(float(grid[k])) for k in last.tolist()]
    width = last.size
    # rows of the last run whose inputs are the same bits: the same rows, kept
    inputs_s = np.stack([t.ravel(), rh.ravel(), mrf_k.ravel(), vtt_k.ravel()])
    inputs_r = np.stack(
        [t_room.ravel(), rh_room.ravel(), worst_mrf.ravel(), worst_vtt.ravel(), room_ok_a]
    )
    key = (sids, tuple(counts), tuple(grid[last].tolist()))
    held = evaluator.mould_carry.derived
    n_s, n_r = inputs_s.shape[1], inputs_r.shape[1]
    if held is not None and held[0] == key:
        same_s = (inputs_s.view(np.int64) == held[1].view(np.int64)).all(axis=0).tolist()
        same_r = (inputs_r.view(np.int64) == held[2].view(np.int64)).all(axis=0).tolist()
        old_s, old_r = held[3], held[4]
    else:
        same_s, same_r = [False] * n_s, [False] * n_r
        old_s, old_r = [None] * n_s, [None] * n_r
    new_s: list[DerivedRow | None] = [None] * n_s
    new_r: list[DerivedRow | None] = [None] * n_r
    rows_out: list[DerivedRow] = []
    append = rows_out.append
    for r, data in enumerate(rooms):
        room = data.room
        lo, hi = int(offsets[r]), int(offsets[r + 1])
        if hi == lo:
            continue
        for col in range(width):
            time = times[col]
            for s in range(lo, hi):
                i = s * width + col
                if known_l[i]:
                    row = old_s[i] if same_s[i] else None
                    if row is None:
                        row = DerivedRow(
                            PRESERVATION,
                            {
                                "site": room.site,
                                "room": room.id,
                                "sensor": sids[s],
                                "scope": "sensor",
                            },
                            sensor_fields(i),
                            time,
                        )
                    new_s[i] = row
                    append(row)
            j = r * width + col
            if room_ok[j]:
                row = old_r[j] if same_r[j] else None
                if row is None:
                    row = DerivedRow(
                        PRESERVATION,
                        {"site": room.site, "room": room.id, "scope": "room"},
                        room_fields(j),
                        time,
                    )
                new_r[j] = row
                append(row)
    evaluator.mould_carry.derived = (key, inputs_s, inputs_r, new_s, new_r)
    return rows_out


def _field_lists(
    metrics: Mapping[str, FloatArray], mrf: FloatArray, vtt: FloatArray
) -> Callable[[int], dict[str, float]]:
    """`_fields` of each value of the metrics (flat), from lists: ``fields(i)``."""
    names = (*_FIELDS, "mould_risk_factor", "vtt_mould_index")
    columns = [metrics[name].tolist() for name in _FIELDS] + [mrf.tolist(), vtt.tolist()]
    temperature = metrics["temperature"].tolist()
    humidity = metrics["humidity"].tolist()
    finite = math.isfinite

    def fields(i: int) -> dict[str, float]:
        out = {"temperature": temperature[i], "humidity": humidity[i]}
        for name, column in zip(names, columns, strict=True):
            value = column[i]
            if finite(value):
                out[name] = value
        return out

    return fields


def _derived_each(rooms: Sequence[RoomData], nows: FloatArray) -> list[DerivedRow]:
    """`derived_rows` room by room (rooms whose sensors are not on one run's matrices)."""
    plans: list[
        tuple[RoomData, list[tuple[str, HourlySeries, FloatArray, FloatArray]], IntArray]
    ] = []
    for data in rooms:
        sensors = [
            (s.id, data.hourly[s.id], *data.mould[s.id])
            for s in data.room.air
            if s.id in data.hourly and s.id in data.mould
        ]
        if not sensors or nows.size == 0:
            continue
        last = sensors[0][1].complete_before(nows)
        last = last[last >= 0]
        if last.size:
            plans.append((data, sensors, last))
    if not plans:
        return []
    # every (sensor, hour) written, and every (room, hour): gathered, then computed at once
    t_s: list[float] = []
    rh_s: list[float] = []
    t_r: list[float] = []
    rh_r: list[float] = []
    for _, sensors, last in plans:
        ks = last.tolist()
        temperature = np.vstack([h.temperature[last] for _, h, _, _ in sensors])
        humidity = np.vstack([h.humidity[last] for _, h, _, _ in sensors])
        t_s.extend(temperature.ravel().tolist())
        rh_s.extend(humidity.ravel().tolist())
        t_mean, rh_mean = _nanmean_rows(temperature), _nanmean_rows(humidity)
        t_r.extend(t_mean.tolist())
        rh_r.extend(rh_mean.tolist())
        assert len(ks) == t_mean.size
    sensor_metrics = _metrics(np.array(t_s), np.array(rh_s))
    room_metrics = _metrics(np.array(t_r), np.array(rh_r))
    rows: list[DerivedRow] = []
    at_s = 0
    at_r = 0
    for data, sensors, last in plans:
        room = data.room
        n = len(sensors)
        width = last.size
        for col, k in enumerate(last.tolist()):
            grid = sensors[0][1].hours
            time = from_epoch(float(grid[k]))
            written = False
            worst_mrf = np.nan
            worst_vtt = np.nan
            for row, (sensor_id, hourly, mrf, vtt) in enumerate(sensors):
                i = at_s + row * width + col
                if not (np.isfinite(hourly.temperature[k]) and np.isfinite(hourly.humidity[k])):
                    continue
                worst_mrf = float(np.fmax(worst_mrf, mrf[k]))
                worst_vtt = float(np.fmax(worst_vtt, vtt[k]))
                written = True
                rows.append(
                    DerivedRow(
                        PRESERVATION,
                        {
                            "site": room.site,
                            "room": room.id,
                            "sensor": sensor_id,
                            "scope": "sensor",
                        },
                        _fields(sensor_metrics, i, float(mrf[k]), float(vtt[k])),
                        time,
                    )
                )
            j = at_r + col
            if (
                written
                and np.isfinite(room_metrics["temperature"][j])
                and np.isfinite(room_metrics["humidity"][j])
            ):
                rows.append(
                    DerivedRow(
                        PRESERVATION,
                        {"site": room.site, "room": room.id, "scope": "room"},
                        _fields(room_metrics, j, worst_mrf, worst_vtt),
                        time,
                    )
                )
        at_s += n * width
        at_r += width
    return rows


def _nanmean_rows(values: FloatArray) -> FloatArray:
    """Column means of the non-NaN values, summed row after row as `HourlySeries.mean_of`
    (``numpy.nanmean`` along the first axis) sums them, so the bits agree."""
    valid = ~np.isnan(values)
    total = np.zeros(values.shape[1])
    for row in range(values.shape[0]):
        total = total + np.where(valid[row], values[row], 0.0)
    count = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean: FloatArray = total / count
    return mean


def _metrics(t_c: FloatArray, rh_pct: FloatArray) -> dict[str, FloatArray]:
    """The per-hour metrics of `preservation.metrics.RoomMetrics.series` but the mould indices,
    by field name (``days_to_mould`` NaN where infinite)."""
    days = days_to_mould(t_c, rh_pct)
    return {
        "temperature": t_c,
        "humidity": rh_pct,
        "dew_point": dew_point(t_c, rh_pct),
        "frost_point": frost_point(t_c, rh_pct),
        "emc": wood_emc(t_c, rh_pct),
        "preservation_index": preservation_index(t_c, rh_pct),
        "lifetime_multiplier": lifetime_multiplier(t_c, rh_pct),
        "days_to_mould": np.where(np.isfinite(days), days, np.nan),
    }


_FIELDS = (
    "dew_point", "frost_point", "emc", "preservation_index", "lifetime_multiplier",
    "days_to_mould",
)  # fmt: skip


def _fields(metrics: Mapping[str, FloatArray], i: int, mrf: float, vtt: float) -> dict[str, float]:
    """A derived row's fields, in `alerts.engine._fields`' order: the readings, then every
    finite derived value."""
    fields = {
        "temperature": float(metrics["temperature"][i]),
        "humidity": float(metrics["humidity"][i]),
    }
    for name in _FIELDS:
        value = float(metrics[name][i])
        if np.isfinite(value):
            fields[name] = value
    if np.isfinite(mrf):
        fields["mould_risk_factor"] = mrf
    if np.isfinite(vtt):
        fields["vtt_mould_index"] = vtt
    return fields


_HOURLY_BATCH = 4_000_000
"""Readings per batch of `hourly_many`."""


def hourly_many(
    wanted: Sequence[tuple[SensorSeries, float, float, int]],
) -> list[HourlySeries]:
    """`HourlySeries.from_series(series, start, end, max_gap_h)` of many series in one pass:
    each hour's mean is summed in the same order (``numpy.bincount`` over the readings in time
    order), so the means are the same bits. Done in batches of ``_HOURLY_BATCH`` readings
    (each series' means are its own: the same bits), so that the working arrays of a cold
    start of 100 000 sensors stay a few hundred MB."""
    if not wanted:
        return []
    total = 0
    for k, w in enumerate(wanted):
        total += len(w[0])
        if total > _HOURLY_BATCH and k + 1 < len(wanted):
            return hourly_many(wanted[: k + 1]) + hourly_many(wanted[k + 1 :])
    segs = Segments.from_lengths(np.array([len(w[0]) for w in wanted], dtype=np.int64))
    times = np.concatenate([w[0].times for w in wanted])
    firsts = np.array([np.floor(w[1] / 3600.0) * 3600.0 for w in wanted])
    lasts = np.array([np.floor(w[2] / 3600.0) * 3600.0 for w in wanted])
    gaps = np.array([w[3] * 3600.0 for w in wanted])
    sizes = np.maximum(np.round((lasts - firsts) / 3600.0).astype(np.int64) + 1, 0)
    grid_segs = Segments.from_lengths(sizes)
    grid = firsts[grid_segs.seg] + 3600.0 * (np.arange(grid_segs.seg.size) - grid_segs.first)
    base = float(min(firsts.min(), np.floor(times.min() / 3600.0) * 3600.0 if times.size else 0))
    span = int(np.round((max(lasts.max(), times.max() if times.size else 0) - base) / 3600.0)) + 2
    grid_key = grid_segs.seg * span + np.round((grid - base) / 3600.0).astype(np.int64)
    filled: dict[str, FloatArray] = {}
    for name in ("temperature", "humidity"):
        values = np.concatenate([getattr(w[0], name) for w in wanted])
        valid = ~np.isnan(values)
        hours = np.floor(times[valid] / 3600.0) * 3600.0
        seg = segs.seg[valid]
        key = seg * span + np.round((hours - base) / 3600.0).astype(np.int64)
        bins, inverse = np.unique(key, return_inverse=True)
        sums = np.bincount(inverse, weights=values[valid])
        counts = np.bincount(inverse)
        means = sums / counts
        bin_hours = base + 3600.0 * (bins % span)
        bin_seg = bins // span
        idx = np.searchsorted(bins, grid_key, side="right") - 1
        ok = (idx >= 0) & (bin_seg[np.maximum(idx, 0)] == grid_segs.seg)
        age = np.where(ok, grid - bin_hours[np.maximum(idx, 0)], np.inf)
        ok &= age <= gaps[grid_segs.seg]
        out = np.full(grid.size, np.nan)
        out[ok] = means[idx[ok]]
        filled[name] = out
    bounds = grid_segs.offsets.tolist()
    return [
        HourlySeries(
            grid[bounds[k] : bounds[k + 1]],
            filled["temperature"][bounds[k] : bounds[k + 1]],
            filled["humidity"][bounds[k] : bounds[k + 1]],
        )
        for k in range(len(wanted))
    ]


_HOUR = 3600.0

_SensorPlan = tuple[str, float, tuple[float, int, float] | None]
"""Per sensor of a room: id, raw lookback [s], and (hourly lookback [s], longest gap carried
over [h], settle window [s]) when its hourly means are needed."""


class FetchPlans:
    """What `fetch_arrays` reads for each room, per list of classes: resolved once (the
    registry and the rules are fixed for an evaluator's lifetime)."""

    def __init__(self) -> None:
        self._plans: dict[
            tuple[str, ...], dict[int, tuple[RoomNode, list[_SensorPlan], RoomData]]
        ] = {}

    def of(
        self, evaluator: FleetEvaluator, room: RoomNode, classes: tuple[str, ...]
    ) -> tuple[list[_SensorPlan], RoomData]:
        """The room's plan, and its `RoomData` (the same object run after run, its history
        replaced by each: the evaluator's members stay the same objects too)."""
        per_room = self._plans.setdefault(classes, {})
        found = per_room.get(id(room))
        if found is not None and found[0] is room:
            return found[1], found[2]
        band = evaluator.bands(room.profile)
        plan: list[_SensorPlan] = []
        for sensor in room.sensors:
            rules = evaluator._resolve(room, sensor.id)
            raw_s, hourly_s = lookbacks(rules, band, classes, sensor.expected_interval_s)
            hourly = None
            if hourly_s and not sensor.surface:
                # the mould indices take in readings up to settle_hours late
                settle = (rules.mould.settle_hours + 1) * _HOUR
                hourly = (hourly_s, rules.mould.max_gap_hours, settle)
            plan.append((sensor.id, raw_s, hourly))
        data = RoomData(room, {}, {})
        per_room[id(room)] = (room, plan, data)
        return plan, data


def fetch_arrays(
    evaluator: FleetEvaluator,
    source: ArraySource,
    rooms: Sequence[RoomNode],
    classes: Sequence[str],
    at: FloatArray,
) -> list[RoomData]:
    """`Evaluator.fetch` of every room from preloaded arrays, with the hourly means of all
    sensors computed in array passes and kept between runs (`HourlyCache`: each run computes
    only the hours that may have changed)."""
    end = float(at[-1])
    first = float(at[0])
    direct = type(source).raw is ArraySource.raw
    walk = _FetchWalk.of(evaluator, rooms, classes, first, end)
    if direct:  # every window found in the source's flat buffer at once (views of it)
        flat = source.flat()
        rows = flat.rows([sensor_id for _, sensor_id, _ in walk.raw])
        starts = np.fromiter(
            (start for _, _, start in walk.raw), dtype=np.float64, count=len(walk.raw)
        )
        lo = flat.bounds(rows, starts, "left").tolist()
        hi = flat.bounds(rows, end, "right").tolist()
        window = flat.window
        for (raw, sensor_id, start), row, a, b in zip(walk.raw, rows.tolist(), lo, hi, strict=True):
            raw[sensor_id] = window(row, sensor_id, a, b, start)
    else:
        for raw, sensor_id, start in walk.raw:
            raw[sensor_id] = source.raw(sensor_id, start, end)
    walk.fill_hourly(evaluator, source)
    return walk.rooms


@dataclass(slots=True)
class _FetchWalk:
    """The windows every room's plan asks for (`FetchPlans`), gathered in one walk for the
    bulk fetches (`fetch_arrays`, `fetch_store`): the rooms' `RoomData` with empty window
    maps, the raw windows to fill as ``(map, sensor, start)``, and the hourly windows as
    `HourlyCache.many` takes them with the maps their series go into."""

    rooms: list[RoomData]
    raw: list[tuple[dict[str, SensorSeries], str, float]]
    hourly: list[dict[str, HourlySeries]]
    wanted: list[tuple[str, float, float, float, int]]
    settles: list[float]

    @classmethod
    def of(
        cls,
        evaluator: FleetEvaluator,
        rooms: Sequence[RoomNode],
        classes: Sequence[str],
        first: float,
        end: float,
    ) -> _FetchWalk:
        walk = cls([], [], [], [], [])
        wanted_classes = tuple(classes)
        plans = evaluator.fetch_plans
        for room in rooms:
            raw: dict[str, SensorSeries] = {}
            hourly: dict[str, HourlySeries] = {}
            plan, data = plans.of(evaluator, room, wanted_classes)
            for sensor_id, raw_s, hourly_plan in plan:
                walk.raw.append((raw, sensor_id, first - raw_s))
                if hourly_plan is not None:
                    hourly_s, gap, settle = hourly_plan
                    walk.wanted.append((sensor_id, hourly_s, first - hourly_s, end, gap))
                    walk.settles.append(settle)
                    walk.hourly.append(hourly)
            data.raw, data.hourly, data.mould = raw, hourly, {}
            walk.rooms.append(data)
        return walk

    def fill_hourly(
        self, evaluator: FleetEvaluator, source: ArraySource | IncrementalStoreSource
    ) -> None:
        """The hourly windows from the evaluator's `HourlyCache`, into their rooms' maps."""
        made = evaluator.hourly_cache.many(source, self.wanted, self.settles)
        for target, (sensor_id, *_), series in zip(self.hourly, self.wanted, made, strict=True):
            target[sensor_id] = series


def fetch_room(
    evaluator: FleetEvaluator, room: RoomNode, classes: Sequence[str], at: FloatArray
) -> RoomData:
    """`Evaluator.fetch` of one room from a source that serves its own windows (the store,
    `alerts.incremental.IncrementalStoreSource`): the same windows asked in the same order,
    with the room's plan resolved once (`FetchPlans`) and its `RoomData` the same object run
    after run (so the evaluator's members, and the classes' carried state, are too)."""
    end = float(at[-1])
    first = float(at[0])
    plan, data = evaluator.fetch_plans.of(evaluator, room, tuple(classes))
    source = evaluator.source
    raw: dict[str, SensorSeries] = {}
    hourly: dict[str, HourlySeries] = {}
    for sensor_id, raw_s, hourly_plan in plan:
        raw[sensor_id] = source.raw(sensor_id, first - raw_s, end)
        if hourly_plan is not None:
            hourly_s, gap, _ = hourly_plan
            hourly[sensor_id] = source.hourly(sensor_id, first - hourly_s, end, gap)
    data.raw, data.hourly, data.mould = raw, hourly, {}
    return data


def fetch_store(
    evaluator: FleetEvaluator,
    source: IncrementalStoreSource,
    rooms: Sequence[RoomNode],
    classes: Sequence[str],
    at: FloatArray,
) -> list[RoomData]:
    """`Evaluator.fetch` of every room from the store through the incremental source, for
    all sensors at once: the raw windows in one query of what arrived
    (`IncrementalStoreSource.raw_many`), the hourly means as `HourlyCache` blocks of the
    store's means (`IncrementalStoreSource.hour_means`, one query), so that the classes' kept
    state (running sums, decay, derived rows) works as it does for preloaded arrays. The
    same windows as `fetch_room`'s; plans and `RoomData` kept per room (`FetchPlans`)."""
    end = float(at[-1])
    walk = _FetchWalk.of(evaluator, rooms, classes, float(at[0]), end)
    starts = np.array([start for _, _, start in walk.raw], dtype=np.float64)
    series = source.raw_many([sensor_id for _, sensor_id, _ in walk.raw], starts, end)
    for (raw, sensor_id, _), found in zip(walk.raw, series, strict=True):
        raw[sensor_id] = found
    walk.fill_hourly(evaluator, source)
    return walk.rooms


def _hour_index(times: FloatArray) -> IntArray:
    """Each time's hour as a whole number of hours since the epoch (``floor(t / 3600)``)."""
    index: IntArray = np.floor(times / _HOUR).astype(np.int64)
    return index


def block_means(
    lengths: IntArray,
    times: FloatArray,
    values: FloatArray,
    first_hour: int,
    columns: int,
    gap: int,
) -> FloatArray:
    """`hourly_many`'s means of one quantity for rows of readings laid end to end (row ``r``:
    the next ``lengths[r]`` readings, in time order) on one hour grid of ``columns`` hours from
    hour ``first_hour`` (hours since the epoch): ``(rows, columns)``. Each hour's mean is
    summed in reading order (``numpy.bincount``), each grid hour takes the newest mean at or
    before it within ``gap`` hours — the same bits as `hourly_many` of each row on that grid.
    Readings before the grid count for the carried-over hours, as they do there."""
    return block_means_of(lengths, times, (values,), first_hour, columns, gap)[0]


def block_means_of(
    lengths: IntArray,
    times: FloatArray,
    quantities: Sequence[FloatArray],
    first_hour: int,
    columns: int,
    gap: int,
) -> list[FloatArray]:
    """`block_means` of several quantities of the same readings: the bins and the grid's
    look-up found once for the quantities whose readings are present at the same times (the
    usual case), so only the sums are per quantity — the same bits as one call each."""
    out: list[FloatArray] = []
    layouts: list[tuple[BoolArray, _Layout | None]] = []
    for values in quantities:
        valid = ~np.isnan(values)
        layout = next((lay for v, lay in layouts if np.array_equal(v, valid)), None)
        if layout is None:
            layout = _Layout.of(lengths, times, valid, first_hour, columns, gap)
            layouts.append((valid, layout))
        out.append(layout.means(values[valid]) if layout.filled else layout.empty())
    return out


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where `block_means` puts the means of the readings ``valid`` selects: each reading's
    bin (row and hour, in reading order), and each grid cell's bin (``take``) where one is
    within ``gap`` hours (``ok``)."""

    shape: tuple[int, int]
    inverse: IntArray
    counts: IntArray
    ok: BoolArray
    take: IntArray
    filled: bool

    @classmethod
    def of(
        cls,
        lengths: IntArray,
        times: FloatArray,
        valid: BoolArray,
        first_hour: int,
        columns: int,
        gap: int,
    ) -> _Layout:
        rows = lengths.size
        nothing = np.empty(0, dtype=np.int64)
        if rows == 0 or columns <= 0 or not valid.any():
            return cls((rows, columns), nothing, nothing, np.empty(0, np.bool_), nothing, False)
        row = np.repeat(np.arange(rows, dtype=np.int64), lengths)[valid]
        hour = _hour_index(times[valid])
        lowest = min(int(hour.min()), first_hour)
        span = max(int(hour.max()), first_hour + columns) - lowest + 2
        key = row * span + (hour - lowest)
        step = np.diff(key)
        if step.size and step.min() < 0:  # not in time order: sort the bins as `hourly_many`
            bins, inverse = np.unique(key, return_inverse=True)
        else:
            new = np.empty(key.size, dtype=np.bool_)
            new[0] = True
            np.not_equal(key[1:], key[:-1], out=new[1:])
            inverse = np.cumsum(new) - 1
            bins = key[new]
        grid_key = (np.arange(rows, dtype=np.int64) * span)[:, None] + (
            np.arange(columns, dtype=np.int64) + (first_hour - lowest)
        )[None, :]
        idx = np.searchsorted(bins, grid_key, side="right") - 1
        at = np.maximum(idx, 0)
        bin_row = bins // span
        ok = (idx >= 0) & (bin_row[at] == np.arange(rows, dtype=np.int64)[:, None])
        ok &= grid_key - bins[at] <= gap
        return cls((rows, columns), inverse, np.bincount(inverse), ok, idx[ok], True)

    def empty(self) -> FloatArray:
        return np.full(self.shape, np.nan)

    def means(self, values: FloatArray) -> FloatArray:
        """The means of ``values`` (one per valid reading, in reading order) on the grid."""
        out = self.empty()
        means = np.bincount(self.inverse, weights=values) / self.counts
        out[self.ok] = means[self.take]
        return out


@dataclass(slots=True)
class HourlyBlock:
    """The hourly means of a list of sensors on one hour grid, as ``(sensors, hours)``
    matrices, kept by `HourlyCache` between runs. Rows are handed out as views: valid until
    the next run of the cache (which may write into them). Read, do not write."""

    sensors: tuple[str, ...]
    hours: FloatArray
    temperature: FloatArray
    humidity: FloatArray
    start: float
    end: float
    recomputed_from: int
    """The first column computed afresh in the last run (the settle window's first hour;
    0 when the whole block was computed). Columns before it were carried over, except the
    window's first ``max_gap_h + 1`` (``head``), which are computed afresh too."""
    head: int
    """How many of the first columns were computed afresh in the last run."""
    serial: int = -1
    """This result's number (`HourlyCache.kept`)."""
    previous: int = -1
    """The number of the result it continued (−1: computed whole)."""

    def row(self, k: int) -> HourlySeries:
        return HourlySeries(self.hours, self.temperature[k], self.humidity[k])


_BLOCKS_KEPT = 8
"""Hourly blocks an `HourlyCache` keeps (one per lookback, gap and list of sensors)."""


class HourlyCache:
    """Each sensor's hourly means kept between runs, so that a run computes only the hours
    whose readings may have changed: the last ``settle_s`` (or the request's longer settle
    window) before the previous run's end and everything after it, plus the window's first
    ``max_gap_h + 1`` hours (the first hour's mean has only the readings from the window's
    start on, and a gap carried over from it reaches ``max_gap_h`` hours further) — the same
    bits as `hourly_many` over the whole window, as long as readings older than the settle
    window before a run's end do not change. The evaluator asks for the mould rule's
    ``settle_hours`` + 1 h, so what the mould indices take in late is taken in here too; a
    reading later than that is not seen until the engine is rebuilt.

    Requests that share lookback, gap, window and settle time are kept together as one
    `HourlyBlock` (all sensors on one hour grid), computed in array passes over all of them.
    A window starting before the one held, an earlier end, other sensors or another source:
    computed whole."""

    def __init__(self, settle_s: float = 3600.0) -> None:
        self.settle_s = settle_s
        self._blocks: dict[tuple[float, int, tuple[str, ...]], HourlyBlock] = {}
        self._source: object | None = None
        self.blocks: list[HourlyBlock] = []
        """The blocks of the last run, in the order their requests first came."""
        self.placed: list[tuple[HourlyBlock, int]] = []
        """Per request of the last run, its block and row."""
        self.kept: dict[str, tuple[int, int, float, float]] = {}
        """Per sensor of the last run: (the number of the result its means continued, −1 when
        computed whole; this result's number; the first hour taken over unchanged from that
        result and the hour after the last [epoch s], NaN when none) — read only."""
        self._serial = 0
        self._flat_rows: dict[tuple[str, ...], tuple[FlatHistory, IntArray]] = {}

    def many(
        self,
        source: ArraySource | IncrementalStoreSource,
        wanted: Sequence[tuple[str, float, float, float, int]],
        settles: Sequence[float] | None = None,
    ) -> list[HourlySeries]:
        """`hourly_many` of ``(sensor, lookback_s, start, end, max_gap_h)`` requests;
        ``settles``: per request, a longer settle window than ``settle_s`` [s] (the mould
        rule's ``settle_hours``: readings that late still count)."""
        if source is not self._source:
            self._blocks.clear()
            self._source = source
        groups: dict[tuple[float, int, float, float, float], list[int]] = {}
        for k, (_, lookback, start, end, gap) in enumerate(wanted):
            settle = self.settle_s if settles is None else max(self.settle_s, settles[k])
            groups.setdefault((lookback, gap, start, end, settle), []).append(k)
        placed: list[tuple[HourlyBlock, int]] = [None] * len(wanted)  # type: ignore[list-item]
        blocks: list[HourlyBlock] = []
        for (lookback, gap, start, end, settle), ks in groups.items():
            sensors = tuple(wanted[k][0] for k in ks)
            if isinstance(source, IncrementalStoreSource):
                block = self._store_block(source, sensors, lookback, gap, start, end)
            else:
                block = self._block(source, sensors, lookback, gap, start, end, settle)
            blocks.append(block)
            for row, k in enumerate(ks):
                placed[k] = (block, row)
        if len(self._blocks) > _BLOCKS_KEPT:
            keep = {id(b) for b in blocks}
            for key in [key for key, b in self._blocks.items() if id(b) not in keep]:
                del self._blocks[key]
        self.blocks = blocks
        self.placed = placed
        kept: dict[str, tuple[int, int, float, float]] = {}
        for block in blocks:
            if block.previous >= 0 and block.recomputed_from > block.head:
                span = (float(block.hours[block.head]), float(block.hours[block.recomputed_from]))
            else:
                span = (math.nan, math.nan)
            kept.update(dict.fromkeys(block.sensors, (block.previous, block.serial, *span)))
        self.kept = kept
        return [block.row(row) for block, row in placed]

    def _block(
        self,
        source: ArraySource,
        sensors: tuple[str, ...],
        lookback: float,
        gap: int,
        start: float,
        end: float,
        settle: float,
    ) -> HourlyBlock:
        first, last, columns, hours = _hour_grid(start, end)
        key = (lookback, gap, sensors)
        held = self._blocks.get(key)
        since = 0 if held is None else int(np.floor((held.end - settle) / _HOUR))
        head_last = first + gap  # the last hour the window's start reaches
        held_first = 0 if held is None or held.hours.size == 0 else int(held.hours[0] // _HOUR)
        means: Callable[[Sequence[tuple[float, float, int, int]]], list[_Means]]
        if type(source).raw is ArraySource.raw:  # the windows found in its flat buffer
            flat = source.flat()
            rows = self._rows(flat, sensors)
            means = functools.partial(_flat_means, flat, rows, gap=gap)
        else:  # a source that serves its own windows: the whole window of each
            series = [source.raw(s, start, end) for s in sensors]
            means = functools.partial(self._means, series, gap=gap)
        if (
            held is None
            or held.hours.size == 0
            or first < held_first
            or end < held.end
            or since <= head_last + 1
        ):
            t, h = means(((start, end, first, columns),))[0]
            self._serial += 1
            block = HourlyBlock(sensors, hours, t, h, start, end, 0, columns, self._serial)
            self._blocks[key] = block
            return block
        lead = head_last - first + 1
        fresh_from = since - first
        tail = last - since + 1
        (lead_t, lead_h), (tail_t, tail_h) = means(
            (
                (start, min((head_last + 1) * _HOUR, end), first, lead),
                (max(start, (since - gap) * _HOUR), end, since, tail),
            )
        )
        shift = first - held_first
        if shift == 0 and held.temperature.shape[1] == columns:
            t, h = held.temperature, held.humidity  # the same grid: written in place
        else:
            t = np.empty((len(sensors), columns))
            h = np.empty((len(sensors), columns))
            t[:, lead:fresh_from] = held.temperature[:, shift + lead : shift + fresh_from]
            h[:, lead:fresh_from] = held.humidity[:, shift + lead : shift + fresh_from]
        t[:, :lead], h[:, :lead] = lead_t, lead_h
        t[:, fresh_from:], h[:, fresh_from:] = tail_t, tail_h
        self._serial += 1
        block = HourlyBlock(
            sensors, hours, t, h, start, end, fresh_from, lead, self._serial, held.serial
        )
        self._blocks[key] = block
        return block

    def _rows(self, flat: FlatHistory, sensors: tuple[str, ...]) -> IntArray:
        """``flat.rows(sensors)``, kept per list of sensors while the buffer is the same."""
        found = self._flat_rows.get(sensors)
        if found is not None and found[0] is flat:
            return found[1]
        if len(self._flat_rows) >= _BLOCKS_KEPT:
            self._flat_rows.clear()
        rows = flat.rows(sensors)
        self._flat_rows[sensors] = (flat, rows)
        return rows

    def _store_block(
        self,
        source: IncrementalStoreSource,
        sensors: tuple[str, ...],
        lookback: float,
        gap: int,
        start: float,
        end: float,
    ) -> HourlyBlock:
        """The block of the store's hourly means (`IncrementalStoreSource.hour_means`: the
        store's own aggregate, as `StoreSource.hourly` reads it, not means of the readings),
        carried over each hour as `HourlySeries.from_means` carries it. The columns from the
        window's ``max_gap_h + 1``-th to the first one the source read again are those of the
        last run: each depends only on the means of its last ``max_gap_h + 1`` hours, all
        inside the window and read before."""
        first, last, columns, hours = _hour_grid(start, end)
        key = (lookback, gap, sensors)
        held = self._blocks.get(key)
        after = None if held is None else held.end
        mean_t, mean_h, read_from = source.hour_means(key, sensors, first, last, end, after)
        held_first = 0 if held is None or held.hours.size == 0 else int(held.hours[0] // _HOUR)
        # the window's first hour moved: its first max_gap_h + 1 hours lose the means before it
        lead = 0 if held is not None and first == held_first else min(gap + 1, columns)
        self._serial += 1
        if (
            held is None
            or held.hours.size == 0
            or first < held_first
            or end < held.end
            or read_from <= lead
        ):
            t, h = _carried_over(mean_t, gap), _carried_over(mean_h, gap)
            block = HourlyBlock(sensors, hours, t, h, start, end, 0, columns, self._serial)
        elif lead == 0 and held.temperature.shape[1] == columns:
            # the same grid: the columns the source read again written in place (those before
            # depend only on means read before: the same bits)
            for matrix, means in ((held.temperature, mean_t), (held.humidity, mean_h)):
                matrix[:, read_from:] = _carried_over(means, gap, read_from)
            block = HourlyBlock(
                sensors,
                hours,
                held.temperature,
                held.humidity,
                start,
                end,
                read_from,
                0,
                self._serial,
                held.serial,
            )
        else:
            t, h = _carried_over(mean_t, gap), _carried_over(mean_h, gap)
            block = HourlyBlock(
                sensors, hours, t, h, start, end, read_from, lead, self._serial, held.serial
            )
        self._blocks[key] = block
        return block

    @staticmethod
    def _means(
        series: Sequence[SensorSeries | None],
        windows: Sequence[tuple[float, float, int, int]],
        gap: int,
    ) -> list[tuple[FloatArray, FloatArray]]:
        """Per window ``(since, until, first hour, columns)``: `block_means` of each series'
        readings with ``since <= time <= until``, temperature and humidity. Done in batches
        of rows of about ``_BLOCK_BATCH`` readings and grid cells (each row's means are its
        own: the same bits), so that the working arrays of a cold start of 100 000 sensors
        stay about a hundred MB, not ten GB."""
        lefts = np.array([w[0] for w in windows])
        rights = np.array([w[1] for w in windows])
        cells = sum(w[3] for w in windows)
        rows = len(series)
        out: list[tuple[FloatArray, FloatArray]] = []
        parts = _BlockParts(len(windows))
        done = 0
        for s in series:
            parts.add(s, lefts, rights)
            parts.cost += cells
            if parts.cost >= _BLOCK_BATCH and parts.rows < rows - done:
                if not out:
                    out = [(np.empty((rows, w[3])), np.empty((rows, w[3]))) for w in windows]
                parts.means_into(out, done, windows, gap)
                done += parts.rows
                parts = _BlockParts(len(windows))
        if not out:
            return parts.means(windows, gap)
        parts.means_into(out, done, windows, gap)
        return out


_BLOCK_BATCH = 1_000_000
"""Readings plus grid cells per batch of rows of `HourlyCache._means`."""

_Means = tuple[FloatArray, FloatArray]


def _flat_means(
    flat: FlatHistory,
    rows: IntArray,
    windows: Sequence[tuple[float, float, int, int]],
    gap: int,
) -> list[_Means]:
    """`HourlyCache._means` of the sensors at ``rows`` of ``flat`` (−1: none): each window's
    readings found by one search over all rows and gathered per batch of rows of about
    ``_BLOCK_BATCH`` readings and grid cells — the same readings in the same order as the
    per-series path, so the same bits."""
    n = rows.size
    bounds: list[tuple[IntArray, IntArray]] = []
    cost = np.zeros(n, dtype=np.int64)
    for since, until, _, columns in windows:
        lo = flat.bounds(rows, since, "left")
        hi = np.maximum(flat.bounds(rows, until, "right"), lo)
        bounds.append((lo, hi))
        cost += hi - lo + columns
    out = [(np.empty((n, w[3])), np.empty((n, w[3]))) for w in windows]
    ends = np.cumsum(cost)
    row = 0
    while row < n:
        reached = int(ends[row - 1]) if row else 0
        stop = min(int(np.searchsorted(ends, reached + _BLOCK_BATCH, side="left")) + 1, n)
        for (t, h), (lo, hi), (_, _, first, columns) in zip(out, bounds, windows, strict=True):
            index, time_index = flat.gather(rows[row:stop], lo[row:stop], hi[row:stop])
            lengths = hi[row:stop] - lo[row:stop]
            t[row:stop], h[row:stop] = block_means_of(
                lengths,
                flat.times[time_index],
                (flat.temperature[index], flat.humidity[index]),
                first,
                columns,
                gap,
            )
        row = stop
    return out


def _hour_grid(start: float, end: float) -> tuple[int, int, int, FloatArray]:
    """A block's hours for the window ``[start, end]`` [epoch s]: the first and last (whole
    hours since the epoch), their number and their starts [epoch s]."""
    first = int(np.floor(start / _HOUR))
    last = int(np.floor(end / _HOUR))
    columns = max(last - first + 1, 0)
    hours = (first + np.arange(columns, dtype=np.float64)) * _HOUR if columns else np.empty(0)
    return first, last, columns, hours


class _BlockParts:
    """A batch of rows of `HourlyCache._means`: per window, each row's readings in it."""

    def __init__(self, windows: int) -> None:
        self.parts: list[tuple[list[FloatArray], list[FloatArray], list[FloatArray], list[int]]]
        self.parts = [([], [], [], []) for _ in range(windows)]
        self.rows = 0
        self.cost = 0
        """Readings and grid cells so far."""

    def add(self, s: SensorSeries | None, lefts: FloatArray, rights: FloatArray) -> None:
        """One more row: ``s``'s readings with ``left <= time <= right`` per window."""
        self.rows += 1
        if s is None:
            for _, _, _, lengths in self.parts:
                lengths.append(0)
            return
        times = s.times
        lo = times.searchsorted(lefts, side="left").tolist()
        hi = times.searchsorted(rights, side="right").tolist()
        for (ts, tt, hh, lengths), a, b in zip(self.parts, lo, hi, strict=True):
            if b > a:
                ts.append(times[a:b])
                tt.append(s.temperature[a:b])
                hh.append(s.humidity[a:b])
                lengths.append(b - a)
                self.cost += b - a
            else:
                lengths.append(0)

    def means(
        self, windows: Sequence[tuple[float, float, int, int]], gap: int
    ) -> list[tuple[FloatArray, FloatArray]]:
        """Per window, `block_means` of these rows, temperature and humidity."""
        nothing = np.empty(0)
        out: list[tuple[FloatArray, FloatArray]] = []
        for (ts, tt, hh, lengths), (_, _, first, columns) in zip(self.parts, windows, strict=True):
            n = np.array(lengths, dtype=np.int64)
            times = np.concatenate(ts) if ts else nothing
            out.append(
                (
                    block_means(
                        n, times, np.concatenate(tt) if tt else nothing, first, columns, gap
                    ),
                    block_means(
                        n, times, np.concatenate(hh) if hh else nothing, first, columns, gap
                    ),
                )
            )
        return out

    def means_into(
        self,
        out: list[tuple[FloatArray, FloatArray]],
        row: int,
        windows: Sequence[tuple[float, float, int, int]],
        gap: int,
    ) -> None:
        """`means` written into rows ``row`` on of ``out``."""
        for (t, h), (bt, bh) in zip(out, self.means(windows, gap), strict=True):
            t[row : row + self.rows] = bt
            h[row : row + self.rows] = bh


def _carried_over(means: FloatArray, gap: int, lo: int = 0) -> FloatArray:
    """`alerts.series.fill_hourly` of each row of ``means`` (one column per hour, NaN: no
    mean) on its own hours: each hour takes the latest mean at or before it, at most ``gap``
    hours old — the same values as `HourlySeries.from_means` of the row's means. Only the
    columns from ``lo`` on are returned (they need the means from ``lo - gap`` on)."""
    begin = max(lo - gap, 0)
    means = means[:, begin:]
    rows, n = means.shape
    out = np.full((rows, n), np.nan)
    if rows == 0 or n == 0:
        return out[:, lo - begin :]
    column = np.arange(n, dtype=np.int64)
    latest = np.maximum.accumulate(np.where(np.isnan(means), -1, column[None, :]), axis=1)
    ok = (latest >= 0) & (column[None, :] - latest <= gap)
    taken = np.take_along_axis(means, np.maximum(latest, 0), axis=1)
    out[ok] = taken[ok]
    return out[:, lo - begin :]
