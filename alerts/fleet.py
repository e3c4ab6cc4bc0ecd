"""The rule classes evaluated across sensors: every sensor of a class in one array pass.

`FleetEvaluator` reads the same history as `alerts.evaluate.Evaluator` (the same windows, from
the same `HistorySource`) and returns the same `ClassResult`s — the same findings in the same
order, the same held subjects, the same mould checkpoints — but instead of one NumPy call chain
per sensor and rule it lays all sensors' samples end to end (`alerts.fleet_series.Segments`)
and runs each rule once over the lot, as `preservation.fleet_metrics` does for the science. Its
per-sensor parameters (levels, windows, ages) are arrays over the segments, so sensors of
different profiles and overrides share one pass.

The per-sensor `Evaluator` is kept as the reference: the golden tests
(``tests/alerts/test_golden.py``) run both over a synthetic network, cycle for cycle, and the
benchmark (``bench/alerts.py``) times both in one run.

Kept between runs (the evaluator lives as long as its engine, whose registry and rules are
fixed: a reload builds a new one): each sensor's hourly means (`HourlyCache`: a run computes
only the hours whose readings may have changed), the rules resolved per sensor, the lookbacks
and the excursion directions, and the fluctuation's running sums (`RunningSums`: within an
hour only the sums from the first hour whose mean changed are computed again). The mould rule
runs from the hour its indices were continued from (the checkpoint), not over the whole month
fetched.

Two parts stay per sensor: the mould indices (`alerts.rules.mould.indices`: the models carry a
state per series, which `preservation.mould` integrates for one series at a time) and the
surface sensors' air dew point (a few sensors). The findings' texts are built per finding, for
the few sensors that have one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

import numpy as np
from numpy.typing import NDArray

from repoclimate.alerts.config import RULE_CLASSES, RulesConfig, RuleSet
from repoclimate.alerts.evaluate import (
    CLASS_RULES,
    Active,
    ArraySource,
    ClassResult,
    Evaluator,
    HistorySource,
    RoomData,
    lookbacks,
)
from repoclimate.alerts.fleet_series import (
    Segments,
    episode_starts,
    fresh_steps,
    hysteresis_above,
    hysteresis_below,
    hysteresis_mask,
    last_at_or_before,
    last_valid,
    run_starts,
    segment_any,
    since_times,
)
from repoclimate.alerts.model import EpochTimes, Finding, Severity, Subject, from_epoch
from repoclimate.alerts.rules import condensation, decay, excursion, fluctuation, health, mould
from repoclimate.alerts.rules.base import Band, Levels, span, when
from repoclimate.alerts.series import BoolArray, FloatArray, HourlySeries, IntArray, SensorSeries
from repoclimate.alerts.topology import RoomNode, SensorNode, Topology
from repoclimate.history.derived import PRESERVATION, DerivedRow
from repoclimate.history.store import StoreUnavailable
from repoclimate.preservation.decay import lifetime_multiplier, preservation_index
from repoclimate.preservation.mechanical import wood_emc
from repoclimate.preservation.mould import days_to_mould
from repoclimate.preservation.psychrometrics import dew_point, frost_point

log = logging.getLogger(__name__)

_Entry = tuple[tuple[int, int, int], int, Finding]
"""(order key: sensor rank, rule rank, step), step, finding: sorted into the reference's order."""


@dataclass(frozen=True, slots=True)
class _Member:
    """One sensor evaluated, with what its rules need."""

    rank: int
    sensor: SensorNode
    room: RoomNode
    data: RoomData
    rules: RuleSet
    band: Band
    subject: Subject
    zone: tzinfo
    sid: str


@dataclass(frozen=True, slots=True)
class _Raw:
    """Raw readings of a list of members, end to end."""

    segs: Segments
    times: FloatArray
    temperature: FloatArray
    humidity: FloatArray
    battery: FloatArray

    @classmethod
    def of(cls, series: Sequence[SensorSeries]) -> _Raw:
        lengths = np.array([len(s) for s in series], dtype=np.int64)

        def joined(name: str) -> FloatArray:
            if not series:
                return np.empty(0)
            return np.concatenate([getattr(s, name) for s in series])

        return cls(
            Segments.from_lengths(lengths),
            joined("times"),
            joined("temperature"),
            joined("humidity"),
            joined("battery"),
        )

    def quantity(self, name: str) -> FloatArray:
        values: FloatArray = getattr(self, name)
        return values


@dataclass(frozen=True, slots=True)
class _Hits:
    """Where a threshold rule holds at a fresh step: per hit its segment, step, flat sample
    index, criticality, episode start and whether it is only clearing."""

    seg: IntArray
    step: IntArray
    index: IntArray
    critical: BoolArray
    since: FloatArray
    clearing: BoolArray

    def rows(self) -> Iterable[tuple[int, int, int, bool, float, bool]]:
        return zip(
            self.seg.tolist(),
            self.step.tolist(),
            self.index.tolist(),
            self.critical.tolist(),
            self.since.tolist(),
            self.clearing.tolist(),
            strict=True,
        )


def _threshold(
    times: FloatArray,
    values: FloatArray,
    segs: Segments,
    at: FloatArray,
    max_age_s: FloatArray,
    was: BoolArray,
    was_critical: BoolArray,
    above: bool,
    levels: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
) -> tuple[_Hits, BoolArray]:
    """`alerts.rules.base.exceedances` for every segment at once: levels (warning, its clear
    level, critical, its clear level) per segment. Returns the hits and the fresh steps
    ``(segments, times)``."""
    flat, _, fresh = fresh_steps(times, segs, at, max_age_s)
    warning, warning_clear, critical_level, critical_clear = (lv[segs.seg] for lv in levels)
    if above:
        on = hysteresis_above(values, warning, warning_clear, segs, was)
        critical = hysteresis_above(values, critical_level, critical_clear, segs, was_critical)
        with np.errstate(invalid="ignore"):
            beyond = values > warning
    else:
        on = hysteresis_below(values, warning, warning_clear, segs, was)
        critical = hysteresis_below(values, critical_level, critical_clear, segs, was_critical)
        with np.errstate(invalid="ignore"):
            beyond = values < warning
    if times.size == 0:
        none = np.empty(0, dtype=np.int64)
        return _Hits(none, none, none, np.empty(0, np.bool_), np.empty(0), np.empty(0, np.bool_)), (
            fresh
        )
    since = since_times(episode_starts(on, segs, was), times, segs)
    seg, step = np.nonzero(fresh & on[flat])
    index = flat[seg, step]
    hits = _Hits(seg, step, index, critical[index], since[index], (on & ~beyond)[index])
    return hits, fresh


def _was(members: Sequence[_Member], active: Active, rule: str) -> tuple[BoolArray, BoolArray]:
    """Per member: whether ``rule`` has an open alert, and whether that one is critical."""
    nothing: Mapping[str, Severity] = {}
    states = [active.get(m.sid, nothing).get(rule) for m in members]
    was = np.array([s is not None for s in states], dtype=np.bool_)
    critical = np.array([s == Severity.CRITICAL for s in states], dtype=np.bool_)
    return was, critical


def _held(
    held: list[tuple[int, str, str]],
    fresh: BoolArray,
    judged: BoolArray,
    rule: str,
    members: Sequence[_Member],
) -> None:
    """Hold ``rule`` for each judged member at each step where its data is not fresh."""
    seg, step = np.nonzero(~fresh & judged[:, None])
    held.extend((j, rule, members[s].sid) for s, j in zip(seg.tolist(), step.tolist(), strict=True))


def _array(values: Iterable[float | None]) -> FloatArray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _attribute(found: Sequence[object | None], name: str) -> FloatArray:
    """Each item's attribute ``name`` (NaN where the item is None)."""
    return _array(None if d is None else getattr(d, name) for d in found)


def _fluctuation_limits(members: Sequence[_Member], name: str) -> FloatArray:
    """Each member's fluctuation limit ``name``: its rules' or else its band's."""
    return _array(getattr(m.rules.fluctuation, name) or getattr(m.band, name) for m in members)


@dataclass(frozen=True, slots=True)
class _HourlyRows:
    """Members' hourly series end to end, all on one hour grid ending at the same hour: row
    ``r`` holds the last ``lengths[r]`` hours of ``grid``."""

    grid: FloatArray
    segs: Segments
    hours: FloatArray
    temperature: FloatArray
    humidity: FloatArray
    pad: IntArray
    """Per row, how many of the grid's first hours it lacks."""

    @classmethod
    def of(cls, series: Sequence[HourlySeries]) -> _HourlyRows:
        lengths = np.array([s.hours.size for s in series], dtype=np.int64)
        longest = series[int(np.argmax(lengths))].hours if series else np.empty(0)
        for s in series:
            if s.hours.size and (
                s.hours[-1] != longest[-1] or s.hours[0] != longest[-s.hours.size]
            ):
                raise ValueError("hourly series of one evaluation must end at the same hour")

        def joined(name: str) -> FloatArray:
            return np.concatenate([getattr(s, name) for s in series]) if series else np.empty(0)

        return cls(
            longest,
            Segments.from_lengths(lengths),
            joined("hours"),
            joined("temperature"),
            joined("humidity"),
            longest.size - lengths,
        )

    def quantity(self, name: str) -> FloatArray:
        values: FloatArray = getattr(self, name)
        return values

    def complete(self, at: FloatArray) -> IntArray:
        """`HourlySeries.complete_before` per row ``(rows, times)``, within the row (−1: none)."""
        counted = np.searchsorted(self.grid + 3600.0, at, side="right").astype(np.int64)
        local: IntArray = np.maximum(counted[None, :] - self.pad[:, None], 0) - 1
        return local

    def matrix(self, values: FloatArray) -> FloatArray:
        """``values`` (one per hour of the rows) as ``(rows, grid)``, NaN before each row (a
        view of ``values`` when every row spans the whole grid: read, do not write)."""
        if not self.pad.any():  # every row spans the grid: the rows are end to end already
            return values.reshape(self.segs.count, self.grid.size)
        out = np.full((self.segs.count, self.grid.size), np.nan)
        columns = np.arange(values.size, dtype=np.int64) - self.segs.first + self.pad[self.segs.seg]
        out[self.segs.seg, columns] = values
        return out


class RunningSums:
    """The running sums and counts of one quantity's valid hourly values per row, from the
    window's first hour (`alerts.rules.fluctuation.trailing_mean`'s cumulative sums, over the
    rows of `_HourlyRows`), kept between runs.

    `update` with the next run's values (same rows, same hour grid) computes the sums again
    only from the first hour where any row's value differs in its bits (the hours the hourly
    means recomputed: the window's first hours and the settle window), continuing each row's
    sequential sum from the kept one, so the sums are the same bits as computed whole. A
    different grid (the window's first hour moved: once an hour) or other rows: `of` anew."""

    def __init__(
        self,
        sids: tuple[str, ...],
        grid: FloatArray,
        pad: IntArray,
        values: FloatArray,
        sums: FloatArray,
        counts: NDArray[np.int32],
    ) -> None:
        self.sids = sids
        self.grid = grid
        self.pad = pad
        self.values = values
        """The ``(rows, grid)`` values the sums were computed from."""
        self.sums = sums
        self.counts = counts

    @classmethod
    def of(cls, sids: tuple[str, ...], rows: _HourlyRows, values: FloatArray) -> RunningSums:
        shape = (rows.segs.count, rows.grid.size + 1)
        valid = ~np.isnan(values)
        sums = np.zeros(shape)
        np.cumsum(np.where(valid, values, 0.0), axis=1, out=sums[:, 1:])
        counts = np.zeros(shape, dtype=np.int32)  # kept: half the memory of int64
        np.cumsum(valid, axis=1, out=counts[:, 1:])
        return cls(sids, rows.grid, rows.pad, values, sums, counts)

    def fits(self, sids: tuple[str, ...], rows: _HourlyRows) -> bool:
        """Whether ``rows`` are the rows and hour grid these sums were computed over."""
        return (
            sids == self.sids
            and np.array_equal(rows.grid, self.grid)
            and np.array_equal(rows.pad, self.pad)
        )

    def update(self, values: FloatArray) -> int:
        """Bring the sums in line with ``values`` (same shape as the kept ones); returns the
        first hour computed again (the grid's size when none changed)."""
        same = values.view(np.int64) == self.values.view(np.int64)
        changed = np.flatnonzero(~same.all(axis=0))
        k0 = int(changed[0]) if changed.size else values.shape[1]
        self.values = values
        if k0 == values.shape[1]:
            return k0
        tail = values[:, k0:]
        valid = ~np.isnan(tail)
        # each row's sum continued sequentially from the kept one at hour k0: the same
        # additions in the same order as a cumulative sum from the first hour
        seeded = np.empty((values.shape[0], tail.shape[1] + 1))
        seeded[:, 0] = self.sums[:, k0]
        seeded[:, 1:] = np.where(valid, tail, 0.0)
        np.cumsum(seeded, axis=1, out=self.sums[:, k0:])
        counted = np.empty((values.shape[0], tail.shape[1] + 1), dtype=np.int32)
        counted[:, 0] = self.counts[:, k0]
        counted[:, 1:] = valid
        np.cumsum(counted, axis=1, out=self.counts[:, k0:])
        return k0


class FleetEvaluator(Evaluator):
    """`Evaluator` with every rule class run across sensors (see the module's docstring)."""

    rooms: list[RoomData]
    """The rooms the last `run` evaluated, with their history and mould indices (for
    `derived_rows`)."""

    def __init__(
        self,
        topology: Topology,
        rules: RulesConfig,
        source: HistorySource,
        bands: Callable[[str], Band],
        silent_from: float | None = None,
    ) -> None:
        super().__init__(topology, rules, source, bands, silent_from)
        self.hourly_cache = HourlyCache()
        """Each sensor's hourly means between runs (preloaded arrays only)."""
        # What depends only on the registry and the rules, which are fixed for an engine's
        # lifetime (a reload builds a new engine): resolved once, not every cycle.
        self._resolved: dict[tuple[str, str, str], RuleSet] = {}
        self._lookbacks: dict[tuple[str, tuple[str, ...]], tuple[float, float]] = {}
        self._excursions: dict[str, dict[str, excursion._Direction]] = {}
        self.running_sums: dict[str, RunningSums] = {}
        self._tables: dict[tuple[str, tuple[str, ...]], NDArray[Any]] = {}
        self._joined: dict[tuple[str, ...], _Raw] = {}
        """The raw windows joined in this run, by members."""
        """The fluctuation's running sums of the last run, per quantity."""

    def _resolve(self, room: RoomNode, sensor: str) -> RuleSet:
        key = (room.site, room.id, sensor)
        found = self._resolved.get(key)
        if found is None:
            found = self.rules.resolve(room.site, room.id, room.profile, sensor)
            self._resolved[key] = found
        return found

    def _table(
        self,
        name: str,
        members: Sequence[_Member],
        compute: Callable[..., NDArray[Any]],
        *args: Any,
    ) -> NDArray[Any]:
        """``compute(*args)``: an array of per-member parameters, kept for these members (the
        parameters depend only on the registry and the rules, fixed for the evaluator's
        lifetime). Read, do not write."""
        key = (name, tuple(m.sid for m in members))
        found = self._tables.get(key)
        if found is None:
            if len(self._tables) >= _TABLES_KEPT:
                self._tables.clear()
            found = compute(*args)
            found.flags.writeable = False
            self._tables[key] = found
        return found

    def _max_age(self, members: Sequence[_Member]) -> FloatArray:
        """Per member, the age after which its data is not fresh [s]."""
        max_age: FloatArray = self._table(
            "max_age",
            members,
            lambda: _array(
                m.rules.health.silent_factor * m.sensor.expected_interval_s for m in members
            ),
        )
        return max_age

    def _raw_of(self, members: Sequence[_Member]) -> _Raw:
        """`_Raw.of` the members' raw windows, joined once per run for classes that share
        members (excursion and fluctuation: the air sensors)."""
        key = tuple(m.sid for m in members)
        found = self._joined.get(key)
        if found is None:
            found = _Raw.of([m.data.raw[m.sensor.id] for m in members])
            self._joined[key] = found
        return found

    def _directions(self, m: _Member) -> dict[str, excursion._Direction]:
        """The member's excursion directions by rule (none when the rule is off)."""
        found = self._excursions.get(m.sid)
        if found is None:
            found = (
                {d.rule: d for d in excursion._directions(m.band, m.rules.excursion)}
                if m.rules.excursion.enabled
                else {}
            )
            self._excursions[m.sid] = found
        return found

    def run(
        self,
        classes: Iterable[str],
        at: FloatArray,
        active: Active,
        on_room: Callable[[RoomData], None] | None = None,
        checkpoints: Mapping[str, mould.Checkpoint] | None = None,
        *,
        sites: Collection[str] | None = None,
    ) -> dict[str, ClassResult]:
        wanted = [name for name in RULE_CLASSES if name in set(classes)]
        results = {name: ClassResult(CLASS_RULES[name]) for name in wanted}
        self._latest = None
        only = None if sites is None else set(sites)
        rooms: list[RoomData] = []
        chosen = [r for r in self.topology.rooms() if only is None or r.site in only]
        if isinstance(self.source, ArraySource):
            chosen, rooms = [], self._fetch_arrays(chosen, wanted, at)
        for room in chosen:
            try:
                rooms.append(self.fetch(room, wanted, at))
            except StoreUnavailable as exc:
                log.warning("room %s/%s not evaluated: %s", room.site, room.id, exc)
                for result in results.values():
                    result.failed_rooms.append(f"{room.site}/{room.id}")
        self.rooms = rooms
        self._joined.clear()
        members = self._members(rooms)
        air = [m for m in members if not m.sensor.surface]
        entries: dict[str, list[_Entry]] = {name: [] for name in wanted}
        if "health" in results:
            self._health(members, at, active, results["health"], entries["health"])
        if "excursion" in results:
            self._excursion(air, at, active, results["excursion"], entries["excursion"])
        if "fluctuation" in results:
            self._fluctuation(air, at, active, results["fluctuation"], entries["fluctuation"])
        if "condensation" in results:
            self._condensation(members, at, active, results["condensation"])
        if "mould" in results:
            self._mould(air, at, active, results["mould"], checkpoints or {})
        if "decay" in results:
            self._decay(rooms, at, results["decay"])
        for name, found in entries.items():
            if found:
                found.sort(key=lambda entry: entry[0])
                results[name].output.findings.extend((step, f) for _, step, f in found)
        if on_room is not None:
            for data in rooms:
                on_room(data)
        return results

    def _fetch_arrays(
        self, rooms: Sequence[RoomNode], classes: list[str], at: FloatArray
    ) -> list[RoomData]:
        """`Evaluator.fetch` of every room from preloaded arrays, with the hourly means of all
        sensors computed in one pass (`hourly_many`) instead of one per sensor, and kept
        between runs (`HourlyCache`: each run computes only the hours that changed)."""
        end = float(at[-1])
        first = float(at[0])
        assert isinstance(self.source, ArraySource)
        out: list[RoomData] = []
        wanted: list[tuple[RoomData, str, float, float, float, int]] = []
        settles: list[float] = []
        for room in rooms:
            band = self.bands(room.profile)
            data = RoomData(room, {}, {})
            for sensor in room.sensors:
                rules = self._resolve(room, sensor.id)
                key = (sensor.id, tuple(classes))
                if key not in self._lookbacks:
                    interval = sensor.expected_interval_s
                    self._lookbacks[key] = lookbacks(rules, band, classes, interval)
                raw_s, hourly_s = self._lookbacks[key]
                data.raw[sensor.id] = self.source.raw(sensor.id, first - raw_s, end)
                if hourly_s and not sensor.surface:
                    start = first - hourly_s
                    gap = rules.mould.max_gap_hours
                    wanted.append((data, sensor.id, hourly_s, start, end, gap))
                    # the mould indices take in readings up to settle_hours late
                    settles.append((rules.mould.settle_hours + 1) * 3600.0)
            out.append(data)
        made = self.hourly_cache.many(self.source, [w[1:] for w in wanted], settles)
        for (data, sensor_id, *_), hourly in zip(wanted, made, strict=True):
            data.hourly[sensor_id] = hourly
        return out

    def _members(self, rooms: Sequence[RoomData]) -> list[_Member]:
        members: list[_Member] = []
        for data in rooms:
            room = data.room
            band = self.bands(room.profile)
            zone = self.topology.timezone(room.site)
            for sensor in room.sensors:
                rules = self._resolve(room, sensor.id)
                subject = sensor.subject
                members.append(
                    _Member(
                        len(members), sensor, room, data, rules, band, subject, zone, subject.id
                    )
                )
        return members

    # -- excursion -----------------------------------------------------------------------
    def _excursion(
        self,
        members: Sequence[_Member],
        at: FloatArray,
        active: Active,
        result: ClassResult,
        entries: list[_Entry],
    ) -> None:
        result.subjects.update(m.sid for m in members)
        raw = self._raw_of(members)
        max_age = self._max_age(members)
        directions = [self._directions(m) for m in members]
        for rank, rule in enumerate(excursion.RULES):
            found = [d.get(rule) for d in directions]
            judged = self._table(
                f"{rule}.judged",
                members,
                lambda: np.array([d is not None for d in found]),  # noqa: B023 (called at once)
            )
            if not judged.any():
                continue
            known = [d for d in found if d is not None]
            above, quantity, unit, label = (
                known[0].above,
                known[0].quantity,
                known[0].unit,
                known[0].label,
            )
            sign = 1.0 if above else -1.0
            limit = self._table(
                f"{rule}.limit",
                members,
                _attribute,
                found,
                "limit",
            )
            margin = self._table(
                f"{rule}.margin",
                members,
                _attribute,
                found,
                "margin",
            )
            offset = self._table(
                f"{rule}.offset",
                members,
                _attribute,
                found,
                "critical_offset",
            )
            crit = limit + sign * offset
            levels = (limit, limit - sign * margin, crit, crit - sign * margin)
            values = raw.quantity(quantity)
            segs, keep = raw.segs.compact(~np.isnan(values) & judged[raw.segs.seg])
            times, values = raw.times[keep], values[keep]
            was, was_critical = _was(members, active, rule)
            hits, fresh = _threshold(
                times, values, segs, at, max_age, was, was_critical, above, levels
            )
            _held(result.output.held, fresh, judged, rule, members)
            side = "above" if above else "below"
            back = "back below" if above else "back above"
            starts = EpochTimes()
            hit_values = values[hits.index].tolist()
            for (s, step, _, critical, since, clearing), value in zip(
                hits.rows(), hit_values, strict=True
            ):
                m = members[s]
                p = m.rules.excursion
                d = found[s]
                assert d is not None
                clear_s = p.clear_after_minutes * 60.0
                if clearing:
                    lv = Levels(above, d.limit, d.limit - sign * d.margin, 0.0, 0.0)
                    summary = (
                        f"{label} {value:.1f} {unit}, {back} the {m.band.profile} band limit "
                        f"{d.limit:g} {unit} — {lv.clearing_note(label, unit, clear_s)}"
                    )
                else:
                    summary = (
                        f"{label} {value:.1f} {unit} {side} the {m.band.profile} band "
                        f"limit {d.limit:g} {unit}"
                    )
                finding = Finding(
                    rule=rule,
                    subject=m.subject,
                    severity=Severity.CRITICAL if critical else Severity.WARNING,
                    since=starts[since],
                    value=value,
                    threshold=d.limit,
                    unit=unit,
                    summary=summary,
                    advice=excursion._ADVICE[rule],
                    for_s=p.for_minutes * 60.0,
                    clear_s=clear_s,
                )
                entries.append(((m.rank, rank, step), step, finding))

    # -- fluctuation ---------------------------------------------------------------------
    def _fluctuation(
        self,
        members: Sequence[_Member],
        at: FloatArray,
        active: Active,
        result: ClassResult,
        entries: list[_Entry],
    ) -> None:
        result.subjects.update(m.sid for m in members)
        if not members:
            return
        raw = self._raw_of(members)
        hourly = _HourlyRows.of(
            [
                m.data.hourly.get(m.sensor.id)
                or HourlySeries(np.empty(0), np.empty(0), np.empty(0))
                for m in members
            ]
        )
        max_age = self._max_age(members)
        enabled = self._table(
            "fluctuation.enabled",
            members,
            lambda: np.array([m.rules.fluctuation.enabled for m in members], dtype=np.bool_),
        )
        window = [fluctuation.window_hours(m.band, m.rules.fluctuation) for m in members]
        n_window = np.array([max(round(h), 1) for h in window], dtype=np.int64)
        coverage = self._table(
            "fluctuation.coverage",
            members,
            lambda: _array(m.rules.fluctuation.min_coverage for m in members),
        )
        factor = self._table(
            "fluctuation.factor",
            members,
            lambda: _array(m.rules.fluctuation.critical_factor for m in members),
        )
        checks = (
            ("temperature", "K", "Temperature", "t_deviation_max", "t_margin"),
            ("humidity", "%RH", "RH", "rh_deviation_max", "rh_margin"),
        )
        for rank, (rule, (quantity, unit, name, limit_name, margin_name)) in enumerate(
            zip(fluctuation.RULES, checks, strict=True)
        ):
            limit = self._table(
                f"{rule}.limit",
                members,
                _fluctuation_limits,
                members,
                limit_name,
            )
            judged = enabled & ~np.isnan(limit)
            if not judged.any():
                continue
            margin = self._table(
                f"{rule}.margin",
                members,
                _attribute,
                [m.rules.fluctuation for m in members],
                margin_name,
            )
            crit = limit * factor
            levels = (
                limit,
                np.maximum(limit - margin, 0.0),
                crit,
                np.maximum(crit - margin, 0.0),
            )
            # trailing means of the complete hours before each reading (`trailing_mean`)
            sums, counts = self._running_sums(quantity, members, hourly)
            values = raw.quantity(quantity)
            segs, keep = raw.segs.compact(~np.isnan(values) & judged[raw.segs.seg])
            times, values = raw.times[keep], values[keep]
            row = segs.seg
            end = np.searchsorted(hourly.grid + 3600.0, times, side="right")
            start = np.maximum(end - n_window[row], 0)
            n = counts[row, end] - counts[row, start]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = (sums[row, end] - sums[row, start]) / n
            mean = np.where(n >= coverage[row] * n_window[row], mean, np.nan)
            deviation = values - mean
            size = np.where(np.isnan(deviation), 0.0, np.abs(deviation))
            was, was_critical = _was(members, active, rule)
            hits, fresh = _threshold(
                times, size, segs, at, max_age, was, was_critical, True, levels
            )
            _held(result.output.held, fresh, judged, rule, members)
            starts = EpochTimes()
            per_hit = zip(
                hits.rows(),
                values[hits.index].tolist(),
                deviation[hits.index].tolist(),
                mean[hits.index].tolist(),
                strict=True,
            )
            for (s, step, _, critical, since, clearing), value, deviated, mean_i in per_hit:
                m = members[s]
                p = m.rules.fluctuation
                lim = float(limit[s])
                dev = deviated if math.isfinite(deviated) else 0.0
                clear_s = p.clear_after_minutes * 60.0
                summary = (
                    f"{name} {value:.1f} is {dev:+.1f} {unit} from its {window[s]:g}-h "
                    f"mean {mean_i:.1f} (allowed ±{lim:g}, {m.band.profile})"
                )
                if clearing:
                    hold = f" for {clear_s / 60.0:.0f} min" if clear_s > 0 else ""
                    summary += (
                        f" — clearing: needs a deviation within ±{float(levels[1][s]):g} "
                        f"{unit}{hold}"
                    )
                finding = Finding(
                    rule=rule,
                    subject=m.subject,
                    severity=Severity.CRITICAL if critical else Severity.WARNING,
                    since=starts[since],
                    value=abs(dev),
                    threshold=lim,
                    unit=unit,
                    summary=summary,
                    advice=fluctuation._ADVICE[rule],
                    for_s=p.for_minutes * 60.0,
                    clear_s=clear_s,
                )
                entries.append(((m.rank, rank, step), step, finding))

    def _running_sums(
        self, quantity: str, members: Sequence[_Member], hourly: _HourlyRows
    ) -> tuple[FloatArray, NDArray[np.int32]]:
        """Per row, the running sum and count of the valid hourly values of ``quantity`` from
        the window's first hour ``(rows, grid + 1)`` (`fluctuation.trailing_mean`'s), kept
        between runs (`RunningSums`): computed again only from the first hour whose value
        changed, as long as the members and the hour grid are those of the last run."""
        sids = tuple(m.sid for m in members)
        held = self.running_sums.get(quantity)
        if held is None or not held.fits(sids, hourly):
            held = RunningSums.of(sids, hourly, hourly.matrix(hourly.quantity(quantity)))
            self.running_sums[quantity] = held
        else:
            held.update(hourly.matrix(hourly.quantity(quantity)))
        return held.sums, held.counts

    # -- condensation --------------------------------------------------------------------
    def _condensation(
        self,
        members: Sequence[_Member],
        at: FloatArray,
        active: Active,
        result: ClassResult,
    ) -> None:
        entries: list[_Entry] = []
        surfaces = [m for m in members if m.sensor.surface]
        saturation = [m for m in members if not m.sensor.surface and not m.room.surfaces]
        result.subjects.update(m.sid for m in surfaces)
        result.subjects.update(m.sid for m in saturation)
        if surfaces:
            self._surface(surfaces, at, active, result, entries)
        if saturation:
            self._saturation(saturation, at, active, result, entries)
        entries.sort(key=lambda entry: entry[0])
        result.output.findings.extend((step, f) for _, step, f in entries)

    def _surface(
        self,
        members: Sequence[_Member],
        at: FloatArray,
        active: Active,
        result: ClassResult,
        entries: list[_Entry],
    ) -> None:
        rule = condensation.SURFACE
        enabled = np.array([m.rules.condensation.enabled for m in members], dtype=np.bool_)
        parts: list[tuple[FloatArray, FloatArray, FloatArray, FloatArray]] = []
        for m, on in zip(members, enabled.tolist(), strict=True):
            surface = m.data.raw[m.sensor.id]
            if not on:
                parts.append((np.empty(0), np.empty(0), np.empty(0), np.empty(0)))
                continue
            valid = ~np.isnan(surface.temperature)
            times = surface.times[valid]
            t_surface = surface.temperature[valid]
            air = [m.data.raw[s.id] for s in m.room.air]
            dp = condensation.air_dew_point(air, times, m.rules.condensation.max_age_minutes * 60.0)
            margin = t_surface - dp
            known = ~np.isnan(margin)
            parts.append((times[known], t_surface[known], dp[known], margin[known]))
        segs = Segments.from_lengths(np.array([p[0].size for p in parts], dtype=np.int64))
        times, t_surface, dp, margin = (np.concatenate([p[k] for p in parts]) for k in range(4))
        params = [m.rules.condensation for m in members]
        warn = _array(p.dew_point_margin_k for p in params)
        crit = _array(p.critical_margin_k for p in params)
        clear = _array(p.clear_margin_k for p in params)
        max_age = self._max_age(members)
        was, was_critical = _was(members, active, rule)
        hits, fresh = _threshold(
            times, margin, segs, at, max_age, was, was_critical, False,
            (warn, warn + clear, crit, crit + clear),
        )  # fmt: skip
        _held(result.output.held, fresh, enabled, rule, members)
        for s, step, i, critical, since, clearing in hits.rows():
            m = members[s]
            p = params[s]
            clear_s = p.clear_after_minutes * 60.0
            w = p.dew_point_margin_k
            if clearing:
                hold = f" for {clear_s / 60.0:.0f} min" if clear_s > 0 else ""
                summary = (
                    f"Surface at {t_surface[i]:.1f} °C is {margin[i]:.1f} K above the air's dew "
                    f"point {dp[i]:.1f} °C, more than the {w:g} K warning margin — clearing: "
                    f"needs ≥ {w + p.clear_margin_k:g} K{hold}"
                )
            else:
                summary = (
                    f"Surface at {t_surface[i]:.1f} °C is only {margin[i]:.1f} K above the "
                    f"air's dew point {dp[i]:.1f} °C"
                )
            finding = Finding(
                rule=rule,
                subject=m.subject,
                severity=Severity.CRITICAL if critical else Severity.WARNING,
                since=from_epoch(since),
                value=float(margin[i]),
                threshold=w,
                unit="K",
                summary=summary,
                advice=(
                    "Look for wet patches on this wall or floor; raise the surface "
                    "temperature or lower the air's moisture, and move holdings away from "
                    "cold outside walls."
                ),
                for_s=p.for_minutes * 60.0,
                clear_s=clear_s,
            )
            entries.append(((m.rank, 0, step), step, finding))

    def _saturation(
        self,
        members: Sequence[_Member],
        at: FloatArray,
        active: Active,
        result: ClassResult,
        entries: list[_Entry],
    ) -> None:
        rule = condensation.SATURATION
        params = [m.rules.condensation for m in members]
        judged = np.array([p.enabled for p in params], dtype=np.bool_)
        raw = self._raw_of(members)
        segs, keep = raw.segs.compact(~np.isnan(raw.humidity) & judged[raw.segs.seg])
        times, rh = raw.times[keep], raw.humidity[keep]
        warn = _array(p.rh_warning for p in params)
        crit = _array(p.rh_critical for p in params)
        margin = _array(p.rh_clear_margin for p in params)
        max_age = self._max_age(members)
        was, was_critical = _was(members, active, rule)
        hits, fresh = _threshold(
            times, rh, segs, at, max_age, was, was_critical, True,
            (warn, warn - margin, crit, crit - margin),
        )  # fmt: skip
        _held(result.output.held, fresh, judged, rule, members)
        for s, step, i, critical, since, clearing in hits.rows():
            m = members[s]
            p = params[s]
            clear_s = p.clear_after_minutes * 60.0
            if clearing:
                lv = Levels(True, p.rh_warning, p.rh_warning - p.rh_clear_margin, 0, 0)
                summary = (
                    f"RH {rh[i]:.1f} %, back below {p.rh_warning:g} % — "
                    f"{lv.clearing_note('RH', '%', clear_s)}"
                )
            else:
                summary = f"RH {rh[i]:.1f} % — the air is close to saturation"
            finding = Finding(
                rule=rule,
                subject=m.subject,
                severity=Severity.CRITICAL if critical else Severity.WARNING,
                since=from_epoch(since),
                value=float(rh[i]),
                threshold=p.rh_warning,
                unit="%RH",
                summary=summary,
                advice=(
                    "Condensation forms on anything slightly colder than the air: look for "
                    "water on walls, pipes and boxes, and find the moisture source."
                ),
                for_s=p.for_minutes * 60.0,
                clear_s=clear_s,
            )
            entries.append(((m.rank, 0, step), step, finding))

    # -- health --------------------------------------------------------------------------
    def _health(
        self,
        members: Sequence[_Member],
        at: FloatArray,
        active: Active,
        result: ClassResult,
        entries: list[_Entry],
    ) -> None:
        result.subjects.update(m.sid for m in members)
        if not members:
            return
        params = [m.rules.health for m in members]
        enabled = np.array([p.enabled for p in params], dtype=np.bool_)
        series = [m.data.raw[m.sensor.id] for m in members]
        raw = _Raw.of(series)
        segs = raw.segs
        silent_after = self._max_age(members)
        flat, exists, fresh = fresh_steps(raw.times, segs, at, silent_after)
        self._silent(members, series, raw.times, at, flat, exists, fresh, enabled, result, entries)
        for rule in health.RULES[1:]:
            _held(result.output.held, fresh, enabled, rule, members)
        if raw.times.size == 0:
            return
        self._stuck(members, raw, flat, fresh & enabled[:, None], entries)
        self._battery(members, raw, at, active, enabled, entries)
        self._out_of_range(members, raw, flat, fresh & enabled[:, None], active, entries)

    def _silent(
        self,
        members: Sequence[_Member],
        series: Sequence[SensorSeries],
        times: FloatArray,
        at: FloatArray,
        flat: IntArray,
        exists: BoolArray,
        fresh: BoolArray,
        enabled: BoolArray,
        result: ClassResult,
        entries: list[_Entry],
    ) -> None:
        rule = health.RULES[0]
        seg, steps = np.nonzero(~fresh & enabled[:, None])
        if seg.size == 0:
            return
        first_seen: dict[int, float | None] = {}
        for s, step in zip(seg.tolist(), steps.tolist(), strict=True):
            m = members[s]
            p = m.rules.health
            silent_after = p.silent_factor * m.sensor.expected_interval_s
            t = float(at[step])
            own = series[s]
            if exists[s, step]:
                last: float | None = float(times[flat[s, step]])
            else:
                last = self._heard_before(own) if not len(own) else None
            if last is not None:
                since = last
                summary = f"No reading for {span(t - last)} (last reading {when(last, m.zone)})"
            else:
                key = id(m.data)
                if key not in first_seen:
                    first_seen[key] = min(
                        (float(r.times[0]) for r in m.data.raw.values() if len(r)), default=None
                    )
                opened = own.start if self.silent_from is None else max(own.start, self.silent_from)
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
        self,
        members: Sequence[_Member],
        raw: _Raw,
        flat: IntArray,
        fresh: BoolArray,
        entries: list[_Entry],
    ) -> None:
        segs = raw.segs
        started = np.maximum(run_starts(raw.temperature, segs), run_starts(raw.humidity, segs))
        valid_any = ~(np.isnan(raw.temperature) & np.isnan(raw.humidity))
        reported = segment_any(valid_any, segs)
        cum = np.zeros(valid_any.size + 1, dtype=np.int64)
        np.cumsum(valid_any, out=cum[1:])
        readings = cum[1:] - cum[started]
        duration = raw.times - raw.times[started]
        hours = _array(m.rules.health.stuck_hours for m in members)
        least = np.array([m.rules.health.stuck_min_readings for m in members], dtype=np.int64)
        stuck = (duration >= hours[segs.seg] * 3600.0) & (readings >= least[segs.seg])
        seg, steps = np.nonzero(fresh & reported[:, None] & stuck[flat])
        for s, step in zip(seg.tolist(), steps.tolist(), strict=True):
            m = members[s]
            p = m.rules.health
            i = int(flat[s, step])
            began = float(raw.times[started[i]])
            finding = Finding(
                rule=health.RULES[1],
                subject=m.subject,
                severity=Severity.WARNING,
                since=from_epoch(began),
                value=float(duration[i]) / 3600.0,
                threshold=p.stuck_hours,
                unit="h",
                summary=(
                    f"Same values for {duration[i] / 3600.0:.1f} h ({int(readings[i])} readings)"
                ),
                advice=(
                    "The sensor reports but its values do not change: check that it is not "
                    "frozen, saturated or reporting a cached value; power-cycle it."
                ),
                clear_s=p.clear_after_minutes * 60.0,
            )
            entries.append(((m.rank, 1, step), step, finding))

    def _battery(
        self,
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
        was, _ = _was(members, active, rule)
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
        self,
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
        was, _ = _was(members, active, rule)
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

    # -- mould ---------------------------------------------------------------------------
    def _mould(
        self,
        air: Sequence[_Member],
        at: FloatArray,
        active: Active,
        result: ClassResult,
        checkpoints: Mapping[str, mould.Checkpoint],
    ) -> None:
        rule = mould.RULE
        members = [m for m in air if m.sensor.id in m.data.hourly]
        result.subjects.update(m.sid for m in members)
        if not members:
            return
        series = [m.data.hourly[m.sensor.id] for m in members]
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
        for m, h, e, (mrf, vtt, checkpoint) in zip(
            members, series, evaluated, computed, strict=True
        ):
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

    # -- decay ---------------------------------------------------------------------------
    def _decay(self, rooms: Sequence[RoomData], at: FloatArray, result: ClassResult) -> None:
        for data in rooms:
            room = data.room
            hourly = [data.hourly[s.id] for s in room.air if s.id in data.hourly]
            if not hourly:
                continue
            rules = self.rules.resolve(room.site, room.id, room.profile)
            result.subjects.add(room.subject.id)
            result.output.extend(
                decay.evaluate(HourlySeries.mean_of(hourly), room.subject, rules.decay, at)
            )


def _damp_since(hourly: HourlySeries, k: int) -> float:
    """The first hour of the damp spell (``days_to_mould`` finite) under way at hour ``k``,
    within the window (its first hour when the spell began before it): `since_times` of
    `episode_starts` over the whole window, for the one hour a finding reports."""
    days = days_to_mould(hourly.temperature[: k + 1], hourly.humidity[: k + 1])
    dry = np.flatnonzero(~np.isfinite(days))
    return float(hourly.hours[int(dry[-1]) + 1 if dry.size else 0])


def derived_rows(rooms: Sequence[RoomData], nows: FloatArray) -> list[DerivedRow]:
    """`alerts.engine.derived_rows` of every room at once: the same rows in the same order,
    with each metric computed only at the hours written (the metrics are per hour; MRF and VTT
    index are the mould rule's, carried in ``RoomData.mould``)."""
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


_TABLES_KEPT = 256
"""Per-member parameter arrays kept by an evaluator (for as many member lists)."""

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


def _any_between(source: ArraySource, sensor: str, since: float, until: float) -> bool:
    """Whether the source holds a reading of ``sensor`` with ``since <= time < until``."""
    found = source.series.get(sensor)
    if found is None or until <= since:
        return False
    lo, hi = np.searchsorted(found.times, [since, until], side="left")
    return bool(hi > lo)


_CacheKey = tuple[str, float, int]
"""(sensor id, hourly lookback [s], longest gap carried over [h]): the live engine's jobs ask
for different lookbacks (fluctuation a day, mould a month), each kept on its own."""


@dataclass(frozen=True, slots=True)
class _HeldHours:
    hours: FloatArray
    temperature: FloatArray
    humidity: FloatArray
    start: float
    end: float


class HourlyCache:
    """Each sensor's hourly means kept between runs, so that a run computes only the hours
    whose readings may have changed: the last ``settle_s`` (or the request's longer settle
    window) before the previous run's end and everything after it, plus the window's first
    ``max_gap_h + 1`` hours (the first hour's mean has only the readings from the window's
    start on, and a gap carried over from it reaches ``max_gap_h`` hours further) — the same
    bits as `hourly_many` over the whole window, as long as readings older than the settle
    window before a run's end do not change. The evaluator asks for the mould rule's
    ``settle_hours`` + 1 h, so what the mould indices take in late is taken in here too; a
    reading later than that is not seen until the engine is rebuilt. The first hours are
    taken from what is held when the window's first hour is the same and no reading lies
    between the held window's start and the new one (within an hour, for readings sparser
    than the cycle). A window starting before the one held, an earlier end or another
    source: computed whole."""

    def __init__(self, settle_s: float = 3600.0) -> None:
        self.settle_s = settle_s
        self._held: dict[_CacheKey, _HeldHours] = {}
        self._source: object | None = None

    def many(
        self,
        source: ArraySource,
        wanted: Sequence[tuple[str, float, float, float, int]],
        settles: Sequence[float] | None = None,
    ) -> list[HourlySeries]:
        """`hourly_many` of ``(sensor, lookback_s, start, end, max_gap_h)`` requests;
        ``settles``: per request, a longer settle window than ``settle_s`` [s] (the mould
        rule's ``settle_hours``: readings that late still count)."""
        if source is not self._source:
            self._held.clear()
            self._source = source
        jobs: list[tuple[SensorSeries, float, float, int]] = []
        plans: list[tuple[int, int, _HeldHours | None, int, int]] = []
        for k, (sensor, lookback, start, end, gap) in enumerate(wanted):
            first = float(np.floor(start / 3600.0) * 3600.0)
            held = self._held.get((sensor, lookback, gap))
            settle = self.settle_s if settles is None else max(self.settle_s, settles[k])
            since = 0.0 if held is None else float(np.floor((held.end - settle) / 3600.0) * 3600.0)
            head_last = first + gap * 3600.0  # the last hour the window's start reaches
            if (
                held is None
                or held.hours.size == 0
                or first < held.hours[0]
                or end < held.end
                or since <= head_last + 3600.0
            ):
                jobs.append((source.raw(sensor, start, end), start, end, gap))
                plans.append((len(jobs) - 1, -1, None, 0, 0))
                continue
            hi = int(np.searchsorted(held.hours, since, side="left"))
            if (
                first == held.hours[0]
                and held.start <= start
                and not _any_between(source, sensor, held.start, start)
            ):
                head, lo = -1, 0  # the first hours' readings are those held: so are their means
            else:
                leading = source.raw(sensor, start, min(head_last + 3600.0, end))
                jobs.append((leading, start, head_last, gap))
                head = len(jobs) - 1
                lo = int(np.searchsorted(held.hours, head_last + 3600.0, side="left"))
            recent = source.raw(sensor, max(start, since - gap * 3600.0), end)
            jobs.append((recent, since, end, gap))
            plans.append((head, len(jobs) - 1, held, lo, hi))
        made = hourly_many(jobs)
        out: list[HourlySeries] = []
        nothing = np.empty(0)
        for (sensor, lookback, start, end, gap), (head, tail, held, lo, hi) in zip(
            wanted, plans, strict=True
        ):
            if held is None:
                hourly = made[head]
            else:
                lead = made[head] if head >= 0 else HourlySeries(nothing, nothing, nothing)
                last = made[tail]
                hourly = HourlySeries(
                    np.concatenate([lead.hours, held.hours[lo:hi], last.hours]),
                    np.concatenate([lead.temperature, held.temperature[lo:hi], last.temperature]),
                    np.concatenate([lead.humidity, held.humidity[lo:hi], last.humidity]),
                )
            self._held[(sensor, lookback, gap)] = _HeldHours(
                hourly.hours, hourly.temperature, hourly.humidity, start, end
            )
            out.append(hourly)
        return out
