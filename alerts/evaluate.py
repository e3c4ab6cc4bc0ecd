"""Running the rules over a topology: fetch each room's history once, call every rule class
that is due, and collect findings, held subjects and the subjects evaluated.

The same `Evaluator` serves the live engine (one evaluation time: now) and the backtest (every
scheduled time of a period at once); only the `HistorySource` differs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np

from repoclimate.alerts.config import RULE_CLASSES, RulesConfig, RuleSet
from repoclimate.alerts.flat_history import FlatHistory
from repoclimate.alerts.lifecycle import LifecycleRows, apply_findings
from repoclimate.alerts.model import Finding, Severity, Transition, from_epoch
from repoclimate.alerts.rules import condensation, decay, excursion, fluctuation, health, mould
from repoclimate.alerts.rules.base import Band, RuleOutput
from repoclimate.alerts.series import FloatArray, HourlySeries, SensorSeries
from repoclimate.alerts.topology import RoomNode, Topology
from repoclimate.history.store import AggregatePoint, Store, StoreUnavailable

log = logging.getLogger(__name__)

CLASS_RULES: dict[str, tuple[str, ...]] = {
    "excursion": excursion.RULES,
    "fluctuation": fluctuation.RULES,
    "mould": mould.RULES,
    "condensation": condensation.RULES,
    "decay": decay.RULES,
    "health": health.RULES,
}

HOURLY_CLASSES = ("fluctuation", "mould", "decay")


class HistorySource(Protocol):
    """Where the evaluator reads history: the store (live) or preloaded arrays (backtest)."""

    def raw(self, sensor: str, start: float, end: float) -> SensorSeries:
        """Readings with ``start <= time <= end`` (epoch s)."""

    def hourly(self, sensor: str, start: float, end: float, max_gap_h: int) -> HourlySeries:
        """Hourly means on the hour grid from ``start`` to ``end``."""

    def latest_times(self) -> Mapping[str, float]:
        """Each sensor's newest reading [epoch s] as far as the source knows beyond the windows
        it serves (the store: a sensor silent for longer than its window); may be empty."""


class StoreSource:
    """Reads a `history.Store`: raw readings with ``history``, hourly means with ``aggregate``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def raw(self, sensor: str, start: float, end: float) -> SensorSeries:
        readings = self.store.history(
            sensor, from_epoch(start), from_epoch(end) + timedelta(microseconds=1)
        )
        return SensorSeries.from_readings(sensor, readings, start)

    def hourly(self, sensor: str, start: float, end: float, max_gap_h: int) -> HourlySeries:
        first = np.floor(start / 3600.0) * 3600.0
        points = self.store.aggregate(
            sensor, from_epoch(first), from_epoch(end), timedelta(hours=1)
        )
        return hourly_from_points(points, start, end, max_gap_h)

    def latest_times(self) -> Mapping[str, float]:
        return {reading.sensor: reading.time.timestamp() for reading in self.store.latest()}


def hourly_from_points(
    points: list[AggregatePoint], start: float, end: float, max_gap_h: int
) -> HourlySeries:
    n = len(points)
    hours = np.empty(n)
    t = np.full(n, np.nan)
    h = np.full(n, np.nan)
    for i, point in enumerate(points):
        hours[i] = point.time.timestamp()
        if point.temperature_mean is not None:
            t[i] = point.temperature_mean
        if point.humidity_mean is not None:
            h[i] = point.humidity_mean
    return HourlySeries.from_means(hours, t, h, start, end, max_gap_h)


class ArraySource:
    """Preloaded series (backtest, benchmarks): slices instead of queries."""

    def __init__(self, series: Mapping[str, SensorSeries]) -> None:
        self.series = dict(series)
        self._flat: FlatHistory | None = None

    @classmethod
    def from_flat(cls, flat: FlatHistory) -> ArraySource:
        """The series of ``flat`` (views of its buffers: no copy), which the fleet
        evaluator's bulk fetch then reads as they are."""
        source = cls(flat.views())
        source._flat = flat
        return source

    def flat(self) -> FlatHistory:
        """``series`` as one `FlatHistory` (for the fleet evaluator's bulk fetch): the one
        given to `from_flat` or built last, while ``series`` holds the same objects; else
        built afresh (a copy of every series)."""
        flat = self._flat
        if flat is None or not flat.current(self.series):
            flat = FlatHistory.of(self.series)
            self._flat = flat
        return flat

    def raw(self, sensor: str, start: float, end: float) -> SensorSeries:
        found = self.series.get(sensor)
        if found is None:
            return SensorSeries.empty(sensor, start)
        return found.between(start, end)

    def hourly(self, sensor: str, start: float, end: float, max_gap_h: int) -> HourlySeries:
        return HourlySeries.from_series(self.raw(sensor, start, end), start, end, max_gap_h)

    def latest_times(self) -> Mapping[str, float]:
        """Nothing beyond the arrays: what precedes them is unknown, not silent."""
        return {}


@dataclass
class ClassResult:
    """What one rule class found: per-step findings and holds, and whom it judged."""

    rules: tuple[str, ...]
    output: RuleOutput = field(default_factory=RuleOutput)
    subjects: set[str] = field(default_factory=set)
    failed_rooms: list[str] = field(default_factory=list)
    checkpoints: dict[str, mould.Checkpoint] = field(default_factory=dict)
    """Mould only: per sensor id, the indices' state ``settle_hours`` before the last complete
    hour evaluated."""


class ClassSteps:
    """A class's findings and held subjects grouped by evaluation step, once, so that replaying
    many steps looks each one up instead of scanning every result at every step."""

    def __init__(self, result: ClassResult) -> None:
        self.result = result
        self.findings: dict[int, list[Finding]] = {}
        self.held: dict[int, list[tuple[str, str]]] = {}
        for i, finding in result.output.findings:
            self.findings.setdefault(i, []).append(finding)
        for i, rule, subject in result.output.held:
            self.held.setdefault(i, []).append((rule, subject))

    def apply(
        self, tx: LifecycleRows, step: int, now: datetime, track_values: bool = True
    ) -> list[Transition]:
        """Bring the stored alerts of the class in line with its findings at ``step``."""
        result = self.result
        return apply_findings(
            tx,
            self.findings.get(step, []),
            result.rules,
            result.subjects,
            now,
            self.held.get(step, []),
            track_values,
        )


@dataclass
class RoomData:
    """A room's fetched history, shared by the rule classes (and the derived series)."""

    room: RoomNode
    raw: dict[str, SensorSeries]
    hourly: dict[str, HourlySeries]
    mould: dict[str, tuple[FloatArray, FloatArray]] = field(default_factory=dict)


Active = Mapping[str, Mapping[str, Severity]]
"""subject id → rule → severity of its open alert."""


def lookbacks(
    rules: RuleSet, band: Band, classes: Iterable[str], interval_s: float
) -> tuple[float, float]:
    """(raw, hourly) history a sensor needs for the classes [s]."""
    raw = 0.0
    hourly = 0.0
    silent = rules.health.silent_factor * interval_s
    for name in classes:
        if name == "excursion":
            raw = max(raw, rules.excursion.for_minutes * 60 + 2 * 3600, silent)
        elif name == "fluctuation":
            raw = max(raw, rules.fluctuation.for_minutes * 60 + 2 * 3600, silent)
            hours = fluctuation.window_hours(band, rules.fluctuation)
            hourly = max(hourly, hours * 3600 + 2 * 3600)
        elif name == "condensation":
            raw = max(raw, rules.condensation.for_minutes * 60 + 2 * 3600, silent)
        elif name == "health":
            raw = max(raw, rules.health.stuck_hours * 3600 + 3600, 2 * silent)
        elif name == "mould":
            hourly = max(hourly, rules.mould.lookback_days * 86400)
        elif name == "decay":
            hourly = max(hourly, decay.lookback_s(rules.decay))
    return raw, hourly


class Evaluator:
    """Evaluates rule classes over every room of a topology."""

    def __init__(
        self,
        topology: Topology,
        rules: RulesConfig,
        source: HistorySource,
        bands: Callable[[str], Band],
        silent_from: float | None = None,
    ) -> None:
        """``silent_from`` [epoch s]: a sensor never heard is not counted silent from before
        it (the backtest's start: the history loaded before it is context, and what lies
        before that history is unknown)."""
        self.topology = topology
        self.rules = rules
        self.source = source
        self.bands = bands
        self.silent_from = silent_from
        self._latest: Mapping[str, float] | None = None

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
        """Evaluate ``classes`` at the times ``at`` (ascending epoch s), for the rooms of
        ``sites`` (every room when None: the subjects of other sites are not judged).

        ``checkpoints``: per sensor id, the mould indices' state kept from the last evaluation
        (live); the mould class continues from it (`alerts.rules.mould.indices`) and returns the
        new ones in its result's ``checkpoints``."""
        wanted = [name for name in RULE_CLASSES if name in set(classes)]
        results = {name: ClassResult(CLASS_RULES[name]) for name in wanted}
        self._latest = None  # asked again in each run
        only = None if sites is None else set(sites)
        for room in self.topology.rooms():
            if only is not None and room.site not in only:
                continue
            try:
                data = self.fetch(room, wanted, at)
            except StoreUnavailable as exc:
                log.warning("room %s/%s not evaluated: %s", room.site, room.id, exc)
                for result in results.values():
                    result.failed_rooms.append(f"{room.site}/{room.id}")
                continue
            self.evaluate_room(data, wanted, at, active, results, checkpoints or {})
            if on_room is not None:
                on_room(data)
        return results

    def fetch(self, room: RoomNode, classes: list[str], at: FloatArray) -> RoomData:
        band = self.bands(room.profile)
        end = float(at[-1])
        first = float(at[0])
        raw: dict[str, SensorSeries] = {}
        hourly: dict[str, HourlySeries] = {}
        for sensor in room.sensors:
            rules = self.rules.resolve(room.site, room.id, room.profile, sensor.id)
            raw_s, hourly_s = lookbacks(rules, band, classes, sensor.expected_interval_s)
            raw[sensor.id] = self.source.raw(sensor.id, first - raw_s, end)
            if hourly_s and not sensor.surface:
                gap = rules.mould.max_gap_hours
                hourly[sensor.id] = self.source.hourly(sensor.id, first - hourly_s, end, gap)
        return RoomData(room, raw, hourly)

    def evaluate_room(
        self,
        data: RoomData,
        classes: list[str],
        at: FloatArray,
        active: Active,
        results: dict[str, ClassResult],
        checkpoints: Mapping[str, mould.Checkpoint],
    ) -> None:
        room = data.room
        band = self.bands(room.profile)
        no_actives: dict[str, Severity] = {}
        first_seen = min(
            (float(series.times[0]) for series in data.raw.values() if len(series)), default=None
        )
        for sensor in room.sensors:
            rules = self.rules.resolve(room.site, room.id, room.profile, sensor.id)
            subject = sensor.subject
            sid = subject.id
            acts = active.get(sid, no_actives)
            series = data.raw[sensor.id]
            max_age = rules.health.silent_factor * sensor.expected_interval_s
            if "health" in results:
                results["health"].subjects.add(sid)
                results["health"].output.extend(
                    health.evaluate(
                        series,
                        subject,
                        sensor.expected_interval_s,
                        rules.health,
                        at,
                        acts,
                        first_seen,
                        heard_before=self._heard_before(series) if not len(series) else None,
                        opened=self.silent_from,
                        zone=self.topology.timezone(room.site),
                    )
                )
            if sensor.surface:
                if "condensation" in results:
                    results["condensation"].subjects.add(sid)
                    air = [data.raw[s.id] for s in room.air]
                    results["condensation"].output.extend(
                        condensation.evaluate_surface(
                            series, subject, air, rules.condensation, at, acts, max_age
                        )
                    )
                continue
            if "excursion" in results:
                results["excursion"].subjects.add(sid)
                results["excursion"].output.extend(
                    excursion.evaluate(series, subject, band, rules.excursion, at, acts, max_age)
                )
            if "fluctuation" in results:
                results["fluctuation"].subjects.add(sid)
                results["fluctuation"].output.extend(
                    fluctuation.evaluate(
                        series,
                        _hourly_or_empty(series, data.hourly.get(sensor.id)),
                        subject,
                        band,
                        rules.fluctuation,
                        at,
                        acts,
                        max_age,
                    )
                )
            if "condensation" in results and not room.surfaces:
                results["condensation"].subjects.add(sid)
                results["condensation"].output.extend(
                    condensation.evaluate_saturation(
                        series, subject, rules.condensation, at, acts, max_age
                    )
                )
            if "mould" in results and sensor.id in data.hourly:
                results["mould"].subjects.add(sid)
                hourly = data.hourly[sensor.id]
                evaluated = hourly.complete_before(at[[0, -1]])
                mrf, vtt, checkpoint = mould.indices(
                    hourly,
                    room.holdings,
                    rules.mould,
                    checkpoints.get(sensor.id),
                    int(evaluated[1]) - rules.mould.settle_hours,
                    int(evaluated[0]),
                )
                if checkpoint is not None:
                    results["mould"].checkpoints[sensor.id] = checkpoint
                computed = (mrf, vtt)
                data.mould[sensor.id] = computed
                results["mould"].output.extend(
                    mould.evaluate(
                        hourly,
                        subject,
                        room.holdings,
                        rules.mould,
                        at,
                        acts,
                        computed,
                        zone=self.topology.timezone(room.site),
                    )
                )
        if "decay" in results:
            members = [data.hourly[s.id] for s in room.air if s.id in data.hourly]
            if members:
                rules = self.rules.resolve(room.site, room.id, room.profile)
                results["decay"].subjects.add(room.subject.id)
                results["decay"].output.extend(
                    decay.evaluate(HourlySeries.mean_of(members), room.subject, rules.decay, at)
                )

    def _heard_before(self, series: SensorSeries) -> float | None:
        """The last reading of a sensor with none in its window, when the source knows one
        from before the window (asked once per run: only silent sensors need it)."""
        if self._latest is None:
            try:
                self._latest = self.source.latest_times()
            except StoreUnavailable as exc:
                log.warning("last readings unknown, store unavailable: %s", exc)
                self._latest = {}
        last = self._latest.get(series.sensor)
        return last if last is not None and last < series.start else None


def _hourly_or_empty(series: SensorSeries, hourly: HourlySeries | None) -> HourlySeries:
    """The hourly means fetched for the sensor, or an empty grid when none were."""
    if hourly is not None:
        return hourly
    return HourlySeries.from_series(series, series.start, series.start, 0)
