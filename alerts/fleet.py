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
and the excursion directions, the fluctuation's running sums and carried hysteresis
(`alerts.fleet_fluctuation`: the sums re-added only from the first hour whose mean changed,
read from the hourly blocks, not copied), and the
excursion class's summaries of the samples before its settle point (`alerts.fleet_excursion`:
a live cycle evaluates only the settle window and what arrived). The mould, decay and derived
rows (`alerts.fleet_mould`) work on the hourly blocks (all sensors' means as one matrix): the
mould indices integrated from each checkpoint in array passes over all sensors of a model,
the decay class's room means kept between runs, derived rows kept while their inputs are the
same bits; the rooms' fetch plans, `RoomData` and members are kept per room.

The findings' texts are built per finding, for the few sensors that have one. A backtest asks
for the excursion and fluctuation findings as columns instead (``run(..., finding_runs=True)``:
one `alerts.replay.FindingRun` per sensor and rule, a year's quarter of a million findings),
and `alerts.replay` builds only the few it reports.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from repoclimate.alerts import fleet_mould
from repoclimate.alerts.config import RULE_CLASSES, RulesConfig, RuleSet
from repoclimate.alerts.evaluate import (
    CLASS_RULES,
    Active,
    ArraySource,
    ClassResult,
    Evaluator,
    HistorySource,
    RoomData,
)
from repoclimate.alerts.fleet_series import (
    Segments,
    episode_starts,
    fresh_steps,
    hysteresis_above,
    hysteresis_below,
    since_times,
)
from repoclimate.alerts.incremental import IncrementalStoreSource
from repoclimate.alerts.model import Finding, Severity, Subject
from repoclimate.alerts.replay import FindingRun, RunsResult
from repoclimate.alerts.rules import excursion, mould
from repoclimate.alerts.rules.base import Band
from repoclimate.alerts.series import BoolArray, FloatArray, HourlySeries, IntArray, SensorSeries
from repoclimate.alerts.topology import RoomNode, SensorNode, Topology
from repoclimate.history.store import StoreUnavailable

if TYPE_CHECKING:
    from repoclimate.alerts import fleet_excursion, fleet_fluctuation

log = logging.getLogger(__name__)

_Entry = tuple[tuple[int, int, int], int, Finding]
"""(order key: sensor rank, rule rank, step), step, finding: sorted into the reference's order."""

_RunEntry = tuple[tuple[int, int], FindingRun]
"""(order key: sensor rank, rule rank), the run of that sensor's findings of the rule."""

_RUN_CLASSES = ("excursion", "fluctuation")
"""The classes that give their findings as `FindingRun`s when asked (``finding_runs``)."""


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

    @classmethod
    def none(cls) -> _Hits:
        """No hit."""
        index = np.empty(0, dtype=np.int64)
        return cls(index, index, index, np.empty(0, np.bool_), np.empty(0), np.empty(0, np.bool_))


def _threshold_on(
    times: FloatArray,
    values: FloatArray,
    segs: Segments,
    was: BoolArray,
    was_critical: BoolArray,
    above: bool,
    levels: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
) -> tuple[BoolArray, BoolArray, BoolArray, FloatArray]:
    """`_threshold`'s hysteresis at every sample (``times`` not empty): whether the rule is
    on, whether critical, whether beyond the warning level (not only clearing), and the
    episode's start (`alerts.fleet_series.since_times`)."""
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
    return on, critical, beyond, since_times(episode_starts(on, segs, was), times, segs)


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
    if times.size == 0:
        return _Hits.none(), fresh
    on, critical, beyond, since = _threshold_on(
        times, values, segs, was, was_critical, above, levels
    )
    seg, step = np.nonzero(fresh & on[flat])
    index = flat[seg, step]
    # every hit's sample is on: clearing where it is not beyond the warning level
    hits = _Hits(seg, step, index, critical[index], since[index], ~beyond[index])
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


def _common_grid(series: Sequence[HourlySeries]) -> tuple[FloatArray, IntArray]:
    """The hours of the longest of ``series`` (the grid they all end on) and each one's
    length; `ValueError` when one does not end on that grid's last hours."""
    lengths = np.array([s.hours.size for s in series], dtype=np.int64)
    longest = series[int(np.argmax(lengths))].hours if series else np.empty(0)
    for s in series:
        if s.hours.size and (s.hours[-1] != longest[-1] or s.hours[0] != longest[-s.hours.size]):
            raise ValueError("hourly series of one evaluation must end at the same hour")
    return longest, lengths


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
        longest, lengths = _common_grid(series)

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
        self.hourly_cache = fleet_mould.HourlyCache()
        self.fetch_plans = fleet_mould.FetchPlans()
        self.mould_carry = fleet_mould.MouldCarry()
        self.decay_carry = fleet_mould.DecayCarry()
        self._members_held: tuple[tuple[RoomData, ...], list[_Member]] | None = None
        """The last run's rooms and their members (`_members`)."""
        # What depends only on the registry and the rules, which are fixed for an engine's
        # lifetime (a reload builds a new engine): resolved once, not every cycle.
        self._resolved: dict[tuple[str, str, str], RuleSet] = {}
        self._lookbacks: dict[tuple[str, tuple[str, ...]], tuple[float, float]] = {}
        self._excursions: dict[str, dict[str, excursion._Direction]] = {}
        self.excursion_kept: fleet_excursion.Kept | None = None
        self.running_sums: dict[str, fleet_fluctuation.RunningSums] = {}
        """The fluctuation's running sums of the last run, per quantity."""
        self.fluctuation_carry: fleet_fluctuation.FluctuationCarry | None = None
        self._tables: dict[tuple[str, tuple[str, ...]], NDArray[Any]] = {}
        self._joined: dict[tuple[str, ...], _Raw] = {}
        """The raw windows joined in this run, by members."""

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
            from repoclimate.alerts import fleet_excursion  # imports this module

            found = fleet_excursion.directions(m)
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
        finding_runs: bool = False,
    ) -> dict[str, ClassResult]:
        """`Evaluator.run`; with ``finding_runs``, the classes of `_RUN_CLASSES` give their
        findings as `alerts.replay.FindingRun`s (each class an `alerts.replay.RunsResult`,
        its ``output.findings`` empty: for `alerts.replay`, which builds only the findings it
        reports)."""
        wanted = [name for name in RULE_CLASSES if name in set(classes)]
        results = {
            name: (RunsResult if finding_runs and name in _RUN_CLASSES else ClassResult)(
                CLASS_RULES[name]
            )
            for name in wanted
        }
        runs: dict[str, list[_RunEntry] | None] = {
            name: [] if finding_runs else None for name in _RUN_CLASSES
        }
        self._latest = None
        only = None if sites is None else set(sites)
        rooms: list[RoomData] = []
        chosen = [r for r in self.topology.rooms() if only is None or r.site in only]
        if isinstance(self.source, ArraySource):
            chosen, rooms = [], self._fetch_arrays(chosen, wanted, at)
        elif isinstance(self.source, IncrementalStoreSource) and self.source.bulk:
            try:  # every room at once (one query for what arrived, one for the means)
                rooms = fleet_mould.fetch_store(self, self.source, chosen, wanted, at)
            except StoreUnavailable as exc:
                log.warning("rooms not evaluated: %s", exc)
                for result in results.values():
                    result.failed_rooms.extend(f"{room.site}/{room.id}" for room in chosen)
            chosen = []
        for room in chosen:
            try:
                rooms.append(fleet_mould.fetch_room(self, room, wanted, at))
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
            self._excursion(
                air, at, active, results["excursion"], entries["excursion"], runs["excursion"]
            )
        if "fluctuation" in results:
            self._fluctuation(
                air, at, active, results["fluctuation"], entries["fluctuation"], runs["fluctuation"]
            )
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
        for name, ran in runs.items():
            into = results.get(name)
            if isinstance(into, RunsResult) and ran:
                ran.sort(key=lambda entry: entry[0])
                into.runs.extend(run for _, run in ran)
        if on_room is not None:
            for data in rooms:
                on_room(data)
        return results

    def _fetch_arrays(
        self, rooms: Sequence[RoomNode], classes: list[str], at: FloatArray
    ) -> list[RoomData]:
        """`Evaluator.fetch` of every room from preloaded arrays (`fleet_mould.fetch_arrays`)."""
        assert isinstance(self.source, ArraySource)
        return fleet_mould.fetch_arrays(self, self.source, rooms, classes, at)

    def _members(self, rooms: Sequence[RoomData]) -> list[_Member]:
        """The rooms' sensors as members, in order; the same list as the last run's when the
        rooms are the same `RoomData` objects (`fleet_mould.fetch_arrays` keeps them)."""
        held = self._members_held
        if (
            held is not None
            and len(held[0]) == len(rooms)
            and all(a is b for a, b in zip(held[0], rooms, strict=True))
        ):
            return held[1]
        members = self._members_built(rooms)
        self._members_held = (tuple(rooms), members)
        return members

    def _members_built(self, rooms: Sequence[RoomData]) -> list[_Member]:
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
        runs: list[_RunEntry] | None = None,
    ) -> None:
        from repoclimate.alerts import fleet_excursion  # imports this module

        fleet_excursion.excursion_class(self, members, at, active, result, entries, runs)

    # -- fluctuation ---------------------------------------------------------------------
    def _fluctuation(
        self,
        members: Sequence[_Member],
        at: FloatArray,
        active: Active,
        result: ClassResult,
        entries: list[_Entry],
        runs: list[_RunEntry] | None = None,
    ) -> None:
        from repoclimate.alerts.fleet_fluctuation import fluctuation_class

        fluctuation_class(self, members, at, active, result, entries, runs)

    # -- condensation --------------------------------------------------------------------
    def _condensation(
        self,
        members: Sequence[_Member],
        at: FloatArray,
        active: Active,
        result: ClassResult,
    ) -> None:
        from repoclimate.alerts import fleet_health  # imports this module

        fleet_health.condensation_class(self, members, at, active, result)

    # -- health --------------------------------------------------------------------------
    def _health(
        self,
        members: Sequence[_Member],
        at: FloatArray,
        active: Active,
        result: ClassResult,
        entries: list[_Entry],
    ) -> None:
        from repoclimate.alerts import fleet_health  # imports this module

        fleet_health.health_class(self, members, at, active, result, entries)

    # -- mould ---------------------------------------------------------------------------
    def _mould(
        self,
        air: Sequence[_Member],
        at: FloatArray,
        active: Active,
        result: ClassResult,
        checkpoints: Mapping[str, mould.Checkpoint],
    ) -> None:
        fleet_mould.evaluate_mould(air, at, active, result, checkpoints, self)

    # -- decay ---------------------------------------------------------------------------
    def _decay(self, rooms: Sequence[RoomData], at: FloatArray, result: ClassResult) -> None:
        fleet_mould.evaluate_decay(self.rules, rooms, at, result, self)


_TABLES_KEPT = 256
"""Per-member parameter arrays kept by an evaluator (for as many member lists)."""
