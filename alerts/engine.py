"""The alert engine: evaluate rule classes over stored history at an injected time, apply the
lifecycle, dispatch notifications into the outbox — one transaction — and write the derived
series (dew point, mould indices, preservation index, EMC) back to the store.

The mould indices are carried from one evaluation to the next: the mould class's checkpoints
(`alerts.rules.mould.Checkpoint`) are read from the alert state before an evaluation and written
back in its transaction, so the live indices integrate the whole history, as the backtest does.
The derived series are `preservation.metrics.room_metrics` per air sensor and for the room's
mean (`derived_rows`), with the mould rule's carried MRF and VTT index passed in.

``AlertEngine(...).evaluate(now)`` is the entry the scheduler, the demo and the tests call; it
returns the open alerts, which is also what the live view shows (`open_alerts`).

The rule classes are evaluated across all sensors in one array pass (`alerts.fleet`) unless the
engine is built with ``evaluator="reference"`` (sensor by sensor, `alerts.evaluate.Evaluator`:
the engine as it was, which the golden tests compare with). ``sites`` restricts an evaluation
to some sites' rooms, for engines that share the network.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from itertools import groupby
from typing import Literal, Protocol

import numpy as np

from repoclimate.alerts.clock import Clock, SystemClock
from repoclimate.alerts.config import RULE_CLASSES, RulesConfig
from repoclimate.alerts.dispatch import Dispatcher, Planned
from repoclimate.alerts.evaluate import (
    ClassResult,
    ClassSteps,
    Evaluator,
    HistorySource,
    RoomData,
    StoreSource,
)
from repoclimate.alerts.fleet import FleetEvaluator
from repoclimate.alerts.fleet_mould import derived_rows as fleet_derived_rows
from repoclimate.alerts.incremental import IncrementalStoreSource
from repoclimate.alerts.lifecycle import ReadOnce, resolve_removed
from repoclimate.alerts.model import Alert, Severity, Transition, from_epoch
from repoclimate.alerts.profiles import band_for
from repoclimate.alerts.rota import Rota
from repoclimate.alerts.rules.base import Band
from repoclimate.alerts.rules.mould import Checkpoint
from repoclimate.alerts.series import FloatArray, HourlySeries
from repoclimate.alerts.state import AlertStore, Tx
from repoclimate.alerts.state.alerts import OpenKey, OpenRead
from repoclimate.alerts.topology import Topology
from repoclimate.history.derived import PRESERVATION, DerivedRow
from repoclimate.history.store import Store, StoreRejected, StoreUnavailable
from repoclimate.preservation.metrics import RoomMetrics, room_metrics
from repoclimate.sensors.registry import Registry

log = logging.getLogger(__name__)

DEFAULT_INTERVALS_S: dict[str, float] = {
    "excursion": 300.0,
    "fluctuation": 600.0,
    "condensation": 300.0,
    "health": 300.0,
    "mould": 3600.0,
    "decay": 7 * 86400.0,
}


EvaluatorKind = Literal["reference", "fleet"]
EVALUATORS: dict[str, type[Evaluator]] = {"reference": Evaluator, "fleet": FleetEvaluator}


class DerivedWriter(Protocol):
    def write_derived(self, rows: Sequence[DerivedRow]) -> None: ...


@dataclass
class EvaluationReport:
    """What one `AlertEngine.evaluate` did."""

    now: datetime
    classes: list[str]
    transitions: list[Transition] = field(default_factory=list)
    notifications: list[Planned] = field(default_factory=list)
    derived_rows: int = 0
    failed_rooms: list[str] = field(default_factory=list)
    open_read: OpenRead | None = field(default=None, repr=False, compare=False)
    """The open alerts as the evaluation's transaction left them (read at its end)."""

    @cached_property
    def open_alerts(self) -> list[Alert]:
        """The alerts open when the evaluation committed, in id order (built on first use
        from `open_read`: the scheduler never looks)."""
        return [] if self.open_read is None else self.open_read.alerts()


class _CollectorHold:
    """CPython's cyclic garbage collector held off while any evaluation runs (`held`).

    An evaluation of 10 000 sensors makes a few hundred thousand container objects that
    refcounting frees, and nearly no reference cycles (47 objects a cycle in the benchmark's),
    yet their allocations set off ≈ 240 collections and a full one (0.35–0.5 s of the
    1.9 s cycle: it traverses every live object the engine keeps). Held off, the collector
    runs once the evaluation ends (its first young collection, over what the evaluation
    kept), and cycles made meanwhile wait that long; the temporaries, freed before any
    collection sees them, no longer count towards the next full collection, which comes
    later and outside the evaluation. Evaluations in several threads share one hold; a
    collector the process had disabled stays disabled."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._restore = False

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if self._holders == 0:
                self._restore = gc.isenabled()
                gc.disable()
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0 and self._restore:
                    gc.enable()


_COLLECTOR = _CollectorHold()


def active_states(alerts: Iterable[Alert | OpenKey]) -> dict[str, dict[str, Severity]]:
    active: dict[str, dict[str, Severity]] = {}
    for alert in alerts:
        active.setdefault(alert.subject.id, {})[alert.rule] = alert.severity
    return active


def scheduled_times(after: float, until: float, interval_s: float) -> FloatArray:
    """A rule class's evaluation times in ``(after, until]`` [epoch s]: every ``interval_s`` on
    the grid aligned to the epoch (a 5-minute class at :00, :05…, an hourly one on the hour)."""
    first = (np.floor(after / interval_s) + 1.0) * interval_s
    times: FloatArray = np.arange(first, until + 1e-6, interval_s)
    return times


def _keep_checkpoints(
    tx: Tx, results: Mapping[str, ClassResult], stored: Mapping[str, Checkpoint]
) -> dict[str, Checkpoint]:
    """Store the mould class's checkpoints that changed from ``stored`` (those read at the
    evaluation's start; in the evaluation's transaction), and return them. Within an hour the
    checkpoints stay where they were: rewriting each sensor's every cycle cost as much as the
    mould rule."""
    mould_result = results.get("mould")
    changed: dict[str, Checkpoint] = {}
    if mould_result is not None and mould_result.checkpoints:
        changed = {
            sensor: checkpoint
            for sensor, checkpoint in mould_result.checkpoints.items()
            if stored.get(sensor) is not checkpoint and stored.get(sensor) != checkpoint
        }
        if changed:
            tx.put_mould_checkpoints(changed)
    return changed


def _of_sites(alerts: list[OpenKey], sites: Collection[str] | None) -> list[OpenKey]:
    """The alerts about places of ``sites`` (all alerts when None); alerts about no place
    (``Subject.key``: notification channels) are never among another engine's."""
    if sites is None:
        return alerts
    wanted = set(sites)
    return [a for a in alerts if a.subject.key is None and a.subject.site in wanted]


class AlertEngine:
    """Evaluates rooms and sensors against their profiles and notifies the archivist on duty."""

    def __init__(
        self,
        store: Store,
        topology: Topology | Registry,
        state: AlertStore,
        rules: RulesConfig | None = None,
        rota: Rota | None = None,
        *,
        intervals: Mapping[str, float] | None = None,
        bands: Callable[[str], Band] = band_for,
        ack_url_base: str | None = None,
        group_wait_s: float = 0.0,
        write_derived: bool = True,
        clock: Clock | None = None,
        source: HistorySource | None = None,
        evaluator: EvaluatorKind = "fleet",
        incremental: bool = False,
        hold_collector: bool = True,
    ) -> None:
        """``evaluator``: ``"fleet"`` evaluates each rule class across all sensors in one array
        pass (`alerts.fleet.FleetEvaluator`), ``"reference"`` sensor by sensor
        (`alerts.evaluate.Evaluator`); both give the same alerts (the golden tests).
        ``incremental`` (without ``source``): read the store through
        `alerts.incremental.IncrementalStoreSource`, which asks each cycle only for what
        arrived since the last one (plus its settle window). ``hold_collector``: hold
        Python's cyclic garbage collector off during `run` and `catch_up`
        (`_CollectorHold`; process-wide while they run)."""
        self.hold_collector = hold_collector
        self.store = store
        self.topology = (
            topology if isinstance(topology, Topology) else Topology.from_registry(topology)
        )
        self.state = state
        self.rules = rules or RulesConfig.builtin()
        self.rota = rota or Rota()
        self.intervals = {**DEFAULT_INTERVALS_S, **(intervals or {})}
        self.bands = bands
        self.write_derived = write_derived
        self.clock = clock or SystemClock()
        self.dispatcher = Dispatcher(self.rota, self.topology, ack_url_base, group_wait_s)
        if evaluator not in EVALUATORS:
            raise ValueError(f"unknown evaluator {evaluator!r}; known: {sorted(EVALUATORS)}")
        if source is None:
            source = IncrementalStoreSource(store) if incremental else StoreSource(store)
        self.evaluator = EVALUATORS[evaluator](self.topology, self.rules, source, self.bands)
        # alerts about subjects not among these were left by sensors and rooms since removed
        self.known = self.topology.subject_ids()
        self.last_report: EvaluationReport | None = None
        self._checkpoints: tuple[frozenset[str] | None, dict[str, Checkpoint]] | None = None
        """The mould checkpoints as this engine last read and wrote them, for the sites it
        evaluated then (None: every site)."""

    def evaluate(
        self,
        now: datetime | None = None,
        classes: Iterable[str] | None = None,
        *,
        sites: Collection[str] | None = None,
    ) -> list[Alert]:
        """Evaluate ``classes`` (all by default) at ``now``; return the open alerts.

        ``sites``: evaluate only the rooms of these sites (None: every site). Alerts about
        other sites are left as they are — neither judged nor resolved as removed — so that
        engines sharing one alert state can each hold a part of the network."""
        return self.run(now, classes, sites=sites).open_alerts

    def run(
        self,
        now: datetime | None = None,
        classes: Iterable[str] | None = None,
        *,
        sites: Collection[str] | None = None,
    ) -> EvaluationReport:
        """`evaluate` with the full report of what happened."""
        with self._collector_held():
            return self._run(now, classes, sites)

    def _collector_held(self) -> contextlib.AbstractContextManager[None]:
        return _COLLECTOR.held() if self.hold_collector else contextlib.nullcontext()

    def _run(
        self, now: datetime | None, classes: Iterable[str] | None, sites: Collection[str] | None
    ) -> EvaluationReport:
        when = now or self.clock.now()
        wanted = self._wanted(classes)
        report = EvaluationReport(when, wanted)
        at = np.array([when.timestamp()])
        open_now = self.state.open_keys()
        ours = _of_sites(open_now, sites)
        active = active_states(open_now)
        rows: list[DerivedRow] = []

        def collect(data: RoomData) -> None:
            if self.write_derived:
                rows.extend(derived_rows(data, at))

        checkpoints = self._mould_checkpoints(sites) if "mould" in wanted else {}
        fleet = self.evaluator if isinstance(self.evaluator, FleetEvaluator) else None
        results = self.evaluator.run(
            wanted, at, active, None if fleet else collect, checkpoints, sites=sites
        )
        if fleet is not None and self.write_derived and "mould" in wanted:
            rows = fleet_derived_rows(fleet.rooms, at, fleet)
        self._note_failures(report, results)
        held = self._take_checkpoints("mould" in wanted)
        with self.state.transaction() as tx:
            tx.keep_open()  # read for the lifecycle, kept in step for the report
            changed = _keep_checkpoints(tx, results, checkpoints)
            report.transitions = resolve_removed(tx, ours, self.known, when)
            rows_once = ReadOnce(tx)  # the classes' rules are read together
            for result in results.values():
                report.transitions.extend(ClassSteps(result).apply(rows_once, 0, when))
            report.notifications = self.dispatcher.dispatch(tx, when, sites)
            report.open_read = tx.open_read()
        self._kept_checkpoints(held, changed)
        if rows:
            report.derived_rows = self._write(rows)
        self.last_report = report
        return report

    def catch_up(
        self,
        after: datetime,
        until: datetime,
        classes: Iterable[str] | None = None,
        *,
        sites: Collection[str] | None = None,
    ) -> EvaluationReport:
        """Evaluate each rule class at every one of its scheduled times in ``(after, until]``,
        as an engine evaluating on time would have (`scheduled_times`: every class interval,
        aligned to the epoch), in time order, with the lifecycle and dispatch at each time.

        For history that reached the store faster than real time — the demo's backfill, a
        collector draining its spool after an outage — so that alerts open and fire at the
        simulated or past times the rules say, not at the catch-up's end. Each class's history
        is fetched once for all its times; everything is applied in one transaction. Alerts'
        latest values are stored as of the last time (state and severity changes at each);
        derived series are written for every hour the mould class was evaluated. ``sites``:
        as in `evaluate`.
        """
        with self._collector_held():
            return self._catch_up(after, until, classes, sites)

    def _catch_up(
        self,
        after: datetime,
        until: datetime,
        classes: Iterable[str] | None,
        sites: Collection[str] | None,
    ) -> EvaluationReport:
        wanted = self._wanted(classes)
        lo, hi = after.timestamp(), until.timestamp()
        grids = {name: scheduled_times(lo, hi, self.intervals[name]) for name in wanted}
        grids = {name: at for name, at in grids.items() if at.size}
        report = EvaluationReport(until, list(grids))
        open_now = self.state.open_keys()
        active = active_states(open_now)
        rows: list[DerivedRow] = []
        results: dict[str, ClassResult] = {}
        checkpoints = self._mould_checkpoints(sites) if "mould" in grids else {}
        for name, at in grids.items():
            collect = None
            fleet = self.evaluator if isinstance(self.evaluator, FleetEvaluator) else None
            if name == "mould" and self.write_derived and fleet is None:

                def collect(data: RoomData, hours: FloatArray = at) -> None:
                    rows.extend(derived_rows(data, hours))

            results[name] = self.evaluator.run(
                [name], at, active, collect, checkpoints, sites=sites
            )[name]
            if name == "mould" and self.write_derived and fleet is not None:
                rows.extend(fleet_derived_rows(fleet.rooms, at, fleet))
        self._note_failures(report, results)
        steps = {name: ClassSteps(result) for name, result in results.items()}
        open_rules = {rule for rules in active.values() for rule in rules}
        open_classes = {name for name in results if open_rules & set(results[name].rules)}
        schedule = sorted(
            (float(t), RULE_CLASSES.index(name), name, i)
            for name, at in grids.items()
            for i, t in enumerate(at)
        )
        held = self._take_checkpoints("mould" in grids)
        with self.state.transaction() as tx:
            tx.keep_open()
            changed = _keep_checkpoints(tx, results, checkpoints)
            first = from_epoch(schedule[0][0]) if schedule else until
            report.transitions = resolve_removed(tx, _of_sites(open_now, sites), self.known, first)
            for t, entries in groupby(schedule, key=lambda entry: entry[0]):
                now = from_epoch(t)
                changes: list[Transition] = []
                for _, _, name, i in entries:
                    if i not in steps[name].findings and name not in open_classes:
                        continue  # nothing found, nothing open: nothing to change
                    last = i == grids[name].size - 1
                    step = steps[name].apply(tx, i, now, track_values=last)
                    if any(change.from_state is None for change in step):
                        open_classes.add(name)
                    changes.extend(step)
                if changes:
                    report.transitions.extend(changes)
                    report.notifications.extend(self.dispatcher.dispatch(tx, now, sites))
            report.notifications.extend(self.dispatcher.dispatch(tx, until, sites))
            report.open_read = tx.open_read()
        self._kept_checkpoints(held, changed)
        if rows:
            report.derived_rows = self._write(rows)
        self.last_report = report
        return report

    def _mould_checkpoints(self, sites: Collection[str] | None) -> dict[str, Checkpoint]:
        """The mould checkpoints: read from the alert state once, then kept with what this
        engine writes (no other engine writes those of the sites it evaluates: engines that
        share a state split the sites, and a change of the sites evaluated reads them again)."""
        wanted = None if sites is None else frozenset(sites)
        if self._checkpoints is None or self._checkpoints[0] != wanted:
            self._checkpoints = (wanted, self.state.mould_checkpoints())
        return self._checkpoints[1]

    def _take_checkpoints(
        self, mould_run: bool
    ) -> tuple[frozenset[str] | None, dict[str, Checkpoint]] | None:
        """Before a transaction that writes checkpoints (an evaluation of the mould class):
        the kept checkpoints, forgotten until it commits (a failed one reads them again)."""
        if not mould_run:
            return None
        held, self._checkpoints = self._checkpoints, None
        return held

    def _kept_checkpoints(
        self,
        held: tuple[frozenset[str] | None, dict[str, Checkpoint]] | None,
        changed: Mapping[str, Checkpoint],
    ) -> None:
        """After a committed transaction: the kept checkpoints with those it wrote."""
        if held is not None:
            held[1].update(changed)
            self._checkpoints = held

    def _wanted(self, classes: Iterable[str] | None) -> list[str]:
        wanted = list(RULE_CLASSES if classes is None else classes)
        unknown = set(wanted) - set(RULE_CLASSES)
        if unknown:
            raise ValueError(f"unknown rule classes {sorted(unknown)}; known: {RULE_CLASSES}")
        return wanted

    @staticmethod
    def _note_failures(report: EvaluationReport, results: Mapping[str, ClassResult]) -> None:
        for result in results.values():
            report.failed_rooms.extend(
                r for r in result.failed_rooms if r not in report.failed_rooms
            )

    def dispatch(
        self, now: datetime | None = None, *, sites: Collection[str] | None = None
    ) -> list[Planned]:
        """Escalations, reminders and pending group notifications due at ``now``, for the
        alerts of ``sites`` (and of notification channels; None: every alert)."""
        when = now or self.clock.now()
        with self.state.transaction() as tx:
            return self.dispatcher.dispatch(tx, when, sites)

    def open_alerts(self) -> list[Alert]:
        """The alerts open now (pending, firing, acknowledged): the live view."""
        return self.state.open_alerts()

    def _write(self, rows: list[DerivedRow]) -> int:
        writer = getattr(self.store, "write_derived", None)
        if writer is None:
            return 0
        try:
            writer(rows)
        except (StoreUnavailable, StoreRejected) as exc:
            log.warning("derived series not written (%d rows): %s", len(rows), exc)
            return 0
        return len(rows)


def _room_metrics(
    hourly: HourlySeries, holdings: str, mould: tuple[FloatArray, FloatArray]
) -> RoomMetrics:
    """`preservation.metrics.room_metrics` of an hourly series, with the mould rule's MRF and
    VTT index (integrated from its carried checkpoints) in place of a fresh integration."""
    times = np.round(hourly.hours * 1e9).astype(np.int64).astype("datetime64[ns]")
    return room_metrics(times, hourly.temperature, hourly.humidity, holdings=holdings, mould=mould)


def _fields(metrics: RoomMetrics, series: Mapping[str, FloatArray], k: int) -> dict[str, float]:
    """The derived row's fields at hour ``k``: the readings and every finite derived value."""
    fields = {"temperature": float(metrics.t_c[k]), "humidity": float(metrics.rh_pct[k])}
    for name, values in series.items():
        if np.isfinite(values[k]):
            fields[name] = float(values[k])
    return fields


def derived_rows(data: RoomData, nows: Sequence[float] | FloatArray) -> list[DerivedRow]:
    """The derived metrics of each air sensor and of the room for the last complete hour before
    each of ``nows`` [epoch s], as `preservation.metrics.RoomMetrics.series` names and computes
    them. MRF and VTT index are the mould rule's (carried across evaluations); the room's are
    the worst of its sensors' at that hour, its other metrics those of its sensors' mean."""
    room = data.room
    rows: list[DerivedRow] = []
    at = np.asarray(nows, dtype=np.float64)
    members: list[HourlySeries] = []
    sensors: list[tuple[str, HourlySeries, tuple[FloatArray, FloatArray]]] = []
    for sensor in room.air:
        hourly = data.hourly.get(sensor.id)
        if hourly is None or sensor.id not in data.mould:
            continue
        members.append(hourly)
        sensors.append((sensor.id, hourly, data.mould[sensor.id]))
    if not sensors or at.size == 0:
        return rows
    grid = members[0].hours
    last = members[0].complete_before(at)
    if not np.any(last >= 0):
        return rows
    # worst MRF / VTT of the sensors with a reading in each hour: the room's mould indices
    worst_mrf = np.full(grid.size, np.nan)
    worst_vtt = np.full(grid.size, np.nan)
    per_sensor: list[tuple[str, HourlySeries, RoomMetrics, dict[str, FloatArray]]] = []
    for sensor_id, hourly, (mrf, vtt) in sensors:
        metrics = _room_metrics(hourly, room.holdings, (mrf, vtt))
        known = np.isfinite(hourly.temperature) & np.isfinite(hourly.humidity)
        worst_mrf = np.fmax(worst_mrf, np.where(known, mrf, np.nan))
        worst_vtt = np.fmax(worst_vtt, np.where(known, vtt, np.nan))
        per_sensor.append((sensor_id, hourly, metrics, metrics.series()))
    mean = HourlySeries.mean_of(members)
    room_m = _room_metrics(mean, room.holdings, (worst_mrf, worst_vtt))
    room_series = room_m.series()
    for k in last.tolist():
        if k < 0:
            continue
        written = False
        for sensor_id, hourly, metrics, series in per_sensor:
            if not (np.isfinite(hourly.temperature[k]) and np.isfinite(hourly.humidity[k])):
                continue
            written = True
            rows.append(
                DerivedRow(
                    PRESERVATION,
                    {"site": room.site, "room": room.id, "sensor": sensor_id, "scope": "sensor"},
                    _fields(metrics, series, k),
                    from_epoch(float(grid[k])),
                )
            )
        if written and np.isfinite(mean.temperature[k]) and np.isfinite(mean.humidity[k]):
            rows.append(
                DerivedRow(
                    PRESERVATION,
                    {"site": room.site, "room": room.id, "scope": "room"},
                    _fields(room_m, room_series, k),
                    from_epoch(float(grid[k])),
                )
            )
    return rows
