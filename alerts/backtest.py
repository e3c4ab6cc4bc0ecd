"""Backtesting: run the configured rules over stored history as if live, and report every alert
that would have fired and resolved, with times — so a site can tune thresholds on last year's
data before switching paging on.

The rules, the evaluator and the lifecycle's state machine are the live ones; only the history
source (arrays loaded once: from the SQLite store as Arrow columns, without a `Reading` per row)
and the state (a private in-memory database) differ. Each rule class is evaluated at its live
interval across the period, all its steps in one `Evaluator.run`. The lifecycle is then
replayed alert by alert (`alerts.replay`: each (rule, subject)'s findings walked once, only the
transitions put in step order, the alerts and events written at the end; the fleet evaluator's
excursion and fluctuation findings handed as columns, `alerts.replay.FindingRun`, the texts
built only for the findings reported), which leaves the
same alerts, events and transitions as stepping `apply_findings` at every time where a class
has findings or open alerts — still available as ``lifecycle="buffered"`` (one transaction,
`alerts.state.alerts.BufferedAlerts`) or ``"transactions"`` (one per step, as live). No
notification is sent.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import numpy as np

from repoclimate.alerts.config import RULE_CLASSES, RulesConfig
from repoclimate.alerts.engine import DEFAULT_INTERVALS_S, EVALUATORS, EvaluatorKind
from repoclimate.alerts.evaluate import ArraySource, ClassResult, ClassSteps, lookbacks
from repoclimate.alerts.fleet import FleetEvaluator
from repoclimate.alerts.model import AlertState, Severity, Transition, from_epoch
from repoclimate.alerts.profiles import band_for
from repoclimate.alerts.render import local, rule_title
from repoclimate.alerts.replay import replay
from repoclimate.alerts.rules.base import Band
from repoclimate.alerts.series import SensorSeries
from repoclimate.alerts.state import AlertStore, parse_iso
from repoclimate.alerts.state.alerts import BufferedAlerts
from repoclimate.alerts.topology import Topology
from repoclimate.history.store import ReadsArrays, Store

Lifecycle = Literal["episodes", "buffered", "transactions"]
"""How the backtest replays the lifecycle — the same alerts, events and episodes each way:
``episodes`` (`alerts.replay`: each alert's findings walked once, only the transitions put in
step order, the state written at the end), ``buffered`` (`apply_findings` at every step, all in
one transaction through `alerts.state.alerts.BufferedAlerts`), ``transactions``
(`apply_findings` at every step in its own transaction, as the live engine writes)."""


@dataclass
class Episode:
    """One alert that fired in the backtest: when it fired, when (if) it resolved."""

    alert_id: int
    rule: str
    subject: str
    site: str | None
    since: datetime
    fired_at: datetime
    resolved_at: datetime | None = None
    severity: Severity = Severity.WARNING
    value: float = float("nan")
    threshold: float = float("nan")
    unit: str = ""
    summary: str = ""

    @property
    def duration(self) -> timedelta | None:
        return None if self.resolved_at is None else self.resolved_at - self.fired_at


@dataclass
class BacktestResult:
    start: datetime
    end: datetime
    episodes: list[Episode] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    cleared_before_firing: int = 0
    evaluations: int = 0
    readings: int = 0
    seconds: float = 0.0

    def fired(self, rule: str | None = None) -> list[Episode]:
        return [e for e in self.episodes if rule is None or e.rule == rule]


def load_history(
    store: Store, topology: Topology, start: datetime, end: datetime
) -> dict[str, SensorSeries]:
    """Every sensor's readings in ``[start, end]`` as arrays: from a store that reads arrays
    (`history.store.ReadsArrays`) in one call, else with `Store.history` sensor by sensor."""
    ids = [sensor.id for sensor in topology.sensors()]
    until = end + timedelta(microseconds=1)
    if not isinstance(store, ReadsArrays):
        return {
            sid: SensorSeries.from_readings(
                sid, store.history(sid, start, until), start.timestamp()
            )
            for sid in ids
        }
    series = {}
    for sid, arrays in store.history_arrays(ids, start, until).items():
        # whole microseconds, as `Reading.time` keeps them, in epoch seconds as its
        # ``timestamp()`` gives them (the same correctly rounded division)
        times = (arrays.times_ns // 1000).astype(np.float64) / 1e6
        series[sid] = SensorSeries(
            sid, times, arrays.temperature, arrays.humidity, arrays.battery, start.timestamp()
        )
    return series


def history_start(
    topology: Topology, rules: RulesConfig, start: datetime, bands: Callable[[str], Band]
) -> datetime:
    """How far before ``start`` history is needed so the first evaluation sees a full window."""
    need = 0.0
    for room in topology.rooms():
        band = bands(room.profile)
        for sensor in room.sensors:
            resolved = rules.resolve(room.site, room.id, room.profile, sensor.id)
            raw, hourly = lookbacks(resolved, band, RULE_CLASSES, sensor.expected_interval_s)
            need = max(need, raw, hourly)
    return start - timedelta(seconds=need)


def steps(start: datetime, end: datetime, interval_s: float) -> np.ndarray:
    """Evaluation times of a class: every ``interval_s`` aligned to the epoch, within the period."""
    first = np.ceil(start.timestamp() / interval_s) * interval_s
    return np.arange(first, end.timestamp() + 1e-6, interval_s)


def backtest(
    store: Store | None,
    topology: Topology,
    rules: RulesConfig,
    start: datetime,
    end: datetime,
    *,
    intervals: Mapping[str, float] | None = None,
    classes: Iterable[str] | None = None,
    bands: Callable[[str], Band] = band_for,
    history: Mapping[str, SensorSeries] | None = None,
    evaluator: EvaluatorKind = "reference",
    lifecycle: Lifecycle = "episodes",
    state: AlertStore | None = None,
) -> BacktestResult:
    """Replay ``[start, end]``: every class at its interval, the live lifecycle, no paging.

    ``evaluator``: as `alerts.engine.AlertEngine` takes it (the same episodes either way).
    ``lifecycle``: how the lifecycle is replayed (`Lifecycle`; the same result each way).
    ``state``: an empty alert state to replay into and leave open (default: a private one in
    memory, closed at the end)."""
    began = time.perf_counter()
    if end <= start:
        raise ValueError("backtest end must be after its start")
    every = {**DEFAULT_INTERVALS_S, **(intervals or {})}
    wanted = [c for c in RULE_CLASSES if classes is None or c in set(classes)]
    if history is None:
        if store is None:
            raise ValueError("backtest needs a store or preloaded history")
        history = load_history(store, topology, history_start(topology, rules, start, bands), end)
    result = BacktestResult(start, end, readings=sum(len(s) for s in history.values()))
    # Before the store's first reading nothing was being collected: absence there is not
    # silence. From then on a sensor never heard is silent once its interval has passed.
    first_data = min((float(s.times[0]) for s in history.values() if len(s)), default=None)
    silent_from = start.timestamp() if first_data is None else max(start.timestamp(), first_data)
    evaluating = EVALUATORS[evaluator](topology, rules, ArraySource(history), bands, silent_from)
    # the replay by episodes reads the fleet's findings as runs (`alerts.replay.FindingRun`):
    # it builds only the findings it reports; stepping takes every one
    as_runs = lifecycle == "episodes" and isinstance(evaluating, FleetEvaluator)

    evaluated: list[tuple[np.ndarray, ClassResult]] = []
    for name in wanted:
        at = steps(start, end, every[name])
        if at.size == 0:
            continue
        if isinstance(evaluating, FleetEvaluator):
            found = evaluating.run([name], at, {}, finding_runs=as_runs)[name]
        else:
            found = evaluating.run([name], at, {})[name]
        evaluated.append((at, found))

    own = state is None
    alert_state = AlertStore(":memory:") if state is None else state
    with alert_state.transaction() as tx:
        if tx.list_alerts(limit=1):
            raise ValueError("backtest needs an empty alert state: this one holds alerts")
    episodes, final = _LIFECYCLES[lifecycle](evaluated, alert_state, result)
    if own:
        alert_state.close()
    for alert_id, episode in episodes.items():
        severity, since = final[alert_id]
        episode.severity = max(episode.severity, severity)
        episode.since = since
    result.episodes = sorted(episodes.values(), key=lambda e: (e.fired_at, e.alert_id))
    result.seconds = time.perf_counter() - began
    return result


_Final = dict[int, tuple[Severity, datetime]]
"""Each fired alert's severity and since as the replay left them, by alert id."""


def _by_episodes(
    evaluated: list[tuple[np.ndarray, ClassResult]], state: AlertStore, result: BacktestResult
) -> tuple[dict[int, Episode], _Final]:
    replayed = replay(evaluated)
    by_id = {alert.id: alert for alert in replayed.alerts}
    episodes = _collect(replayed.steps(), lambda alert_id: by_id[alert_id].since, result)
    result.evaluations = replayed.evaluations
    with state.transaction() as tx:
        replayed.write(tx)
    return episodes, {i: (by_id[i].severity, by_id[i].since) for i in episodes}


def _by_steps(
    evaluated: list[tuple[np.ndarray, ClassResult]], state: AlertStore, result: BacktestResult
) -> tuple[dict[int, Episode], _Final]:
    per_class = [ClassSteps(found) for _, found in evaluated]
    schedule = _schedule([at for at, _ in evaluated])
    with state.transaction() as tx:
        rows = BufferedAlerts(tx)

        def since_of(alert_id: int) -> datetime:
            brief = rows.brief(alert_id)
            assert brief is not None, "an alert that just fired is open"
            return parse_iso(brief.since)

        def step(k: int, i: int, now: datetime) -> list[Transition]:
            return per_class[k].apply(rows, i, now)

        episodes = _collect(_stepped(schedule, per_class, step, result), since_of, result)
        rows.flush()
        alerts = {alert_id: tx.get(alert_id)[0] for alert_id in episodes}
    return episodes, {i: (a.severity, a.since) for i, a in alerts.items()}


def _by_transactions(
    evaluated: list[tuple[np.ndarray, ClassResult]], state: AlertStore, result: BacktestResult
) -> tuple[dict[int, Episode], _Final]:
    per_class = [ClassSteps(found) for _, found in evaluated]
    schedule = _schedule([at for at, _ in evaluated])

    def step(k: int, i: int, now: datetime) -> list[Transition]:
        with state.transaction() as tx:
            return per_class[k].apply(tx, i, now)

    episodes = _collect(
        _stepped(schedule, per_class, step, result),
        lambda alert_id: state.get(alert_id).since,
        result,
    )
    alerts = {alert_id: state.get(alert_id) for alert_id in episodes}
    return episodes, {i: (a.severity, a.since) for i, a in alerts.items()}


_LIFECYCLES: dict[
    str,
    Callable[
        [list[tuple[np.ndarray, ClassResult]], AlertStore, BacktestResult],
        tuple[dict[int, Episode], _Final],
    ],
] = {"episodes": _by_episodes, "buffered": _by_steps, "transactions": _by_transactions}


def _schedule(times: list[np.ndarray]) -> list[tuple[float, int, int]]:
    """Every class's steps (``times[k]``: class ``k``'s) as (time, class, step), in time
    order, classes in their order at the same time."""
    if not times:
        return []
    when = np.concatenate(times)
    which = np.concatenate([np.full(at.size, k, dtype=np.int64) for k, at in enumerate(times)])
    index = np.concatenate([np.arange(at.size, dtype=np.int64) for at in times])
    order = np.lexsort((which, when))
    return list(
        zip(when[order].tolist(), which[order].tolist(), index[order].tolist(), strict=True)
    )


def _stepped(
    schedule: Iterable[tuple[float, int, int]],
    per_class: list[ClassSteps],
    apply: Callable[[int, int, datetime], list[Transition]],
    result: BacktestResult,
) -> Iterable[tuple[datetime, list[Transition]]]:
    """Step the lifecycle through ``schedule`` ((time, class, step), in time order) where a
    class has findings or open alerts (counted in ``result.evaluations``); each step's time
    and transitions. ``apply`` runs the lifecycle of a class at a step."""
    open_count = [0] * len(per_class)
    found = [steps.findings for steps in per_class]
    for t, k, i in schedule:
        if i not in found[k] and open_count[k] == 0:
            continue
        now = from_epoch(t)
        changes = apply(k, i, now)
        result.evaluations += 1
        for change in changes:
            if change.from_state is None:
                open_count[k] += 1
            if change.to_state is AlertState.RESOLVED:
                open_count[k] -= 1
        yield now, changes


def _collect(
    stepped: Iterable[tuple[datetime, list[Transition]]],
    since_of: Callable[[int], datetime],
    result: BacktestResult,
) -> dict[int, Episode]:
    """The episodes fired, by alert id, from each step's time and transitions (in step
    order); the transitions and the alerts cleared before firing go to ``result``.
    ``since_of`` tells an open alert's since."""
    episodes: dict[int, Episode] = {}
    for now, changes in stepped:
        for change in changes:
            if change.to_state is AlertState.RESOLVED and change.from_state is AlertState.PENDING:
                result.cleared_before_firing += 1
                continue
            if change.to_state is AlertState.PENDING:
                continue
            result.transitions.append(change)
            if change.to_state is AlertState.FIRING:
                episodes[change.alert_id] = Episode(
                    alert_id=change.alert_id,
                    rule=change.rule,
                    subject=change.subject.id,
                    site=change.subject.site,
                    since=since_of(change.alert_id),
                    fired_at=now,
                    severity=change.severity,
                    value=change.value,
                    threshold=change.threshold,
                    unit=change.unit,
                    summary=change.summary,
                )
            elif change.to_state is AlertState.RESOLVED and change.alert_id in episodes:
                episodes[change.alert_id].resolved_at = now
    return episodes


def format_report(result: BacktestResult, topology: Topology) -> str:
    """The backtest as text: one line per alert fired and per alert resolved, then a summary;
    times in each site's local time (the period in the first site's, as the CLI reads it)."""
    zone = topology.timezone(None)
    lines = [
        f"Backtest {local(result.start, zone)} → {local(result.end, zone)}: "
        f"{len(result.episodes)} alerts fired, {result.cleared_before_firing} cleared before "
        f"firing, {result.readings} readings, {result.seconds:.1f} s"
    ]
    events: list[tuple[datetime, int, str]] = []
    for e in result.episodes:
        zone = topology.timezone(e.site)
        events.append(
            (
                e.fired_at,
                0,
                f"{local(e.fired_at, zone)}  FIRED     {e.severity.label:<8} "
                f"{rule_title(e.rule)} [{e.rule}] at {e.subject} (since "
                f"{local(e.since, zone)}): {e.summary}",
            )
        )
        if e.resolved_at is not None:
            events.append(
                (
                    e.resolved_at,
                    1,
                    f"{local(e.resolved_at, zone)}  RESOLVED  {'':<8} "
                    f"{rule_title(e.rule)} [{e.rule}] at {e.subject} after {e.duration}",
                )
            )
    events.sort(key=lambda item: (item[0], item[1]))
    lines.extend(text for _, _, text in events)
    counts: dict[str, int] = defaultdict(int)
    for e in result.episodes:
        counts[e.rule] += 1
    if counts:
        lines.append("By rule: " + ", ".join(f"{r} {n}" for r, n in sorted(counts.items())))
    return "\n".join(lines)
