"""The backtest's lifecycle replayed alert by alert instead of step by step.

Stepping `alerts.lifecycle.apply_findings` through every evaluation time of a year (125 391
steps for the benchmark's 50 sensors) mostly rewrites what an open alert already holds: its
latest value, summary, ``last_seen`` and peak. What each (rule, subject) does depends only on
its own findings, held steps and its class's step times — `apply_findings` never lets one
alert's findings touch another's, and a class is stepped at every one of its times while any of
its alerts is open — so `replay` walks each (rule, subject)'s findings once, in step order,
keeping the few fields the state machine decides on (state, severity, since, peak, the latest
finding), and records only what changes state: an alert opening (pending, maybe firing at once),
a severity change, pending turning firing, a resolution (the first step not held after the
clear-hold, or after a pending alert's condition went). Those are then put in the order the
step-by-step replay makes them (time, class, then within a step the order `apply_findings`
writes), which gives the alert ids, the events in order and each step's transitions.
`write` stores the result as one insert of the alerts, in their final form, and one of the
events: the same rows `apply_findings` leaves step by step (`tests/alerts/test_replay.py`
compares the whole tables), in a handful of statements.

A class may hand its findings as columns instead (`RunsResult`: one `FindingRun` per (rule,
subject), the fleet evaluator's excursion and fluctuation classes in a backtest): each step's
severity, since and value as arrays, the `Finding` itself built only where the replay reports
it (an opening, a severity change, firing, the last one of an alert) — a year's 250 000
findings, each with its own text, become a few thousand.

For the backtest only: the state must start empty (nothing open), every finding's values are
tracked (``track_values``), and nobody acknowledges meanwhile.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import gt

import numpy as np

from repoclimate.alerts.evaluate import ClassResult
from repoclimate.alerts.lifecycle import ENGINE
from repoclimate.alerts.model import (
    AlertState,
    EpochTimes,
    Finding,
    Severity,
    Subject,
    Transition,
    from_epoch,
)
from repoclimate.alerts.series import BoolArray, FloatArray, IntArray
from repoclimate.alerts.state.alerts import AlertRows, replayed_alert

_PENDING = AlertState.PENDING
_FIRING = AlertState.FIRING
_RESOLVED = AlertState.RESOLVED

_OPENED = 0
"""Step phase of what `apply_findings` does for the findings (in their order)…"""
_CLOSED = 1
"""…and of the resolutions after them (in alert id order)."""


@dataclass(frozen=True, slots=True, eq=False)
class FindingRun:
    """One (rule, subject)'s findings of a class evaluation as columns: at step ``steps[k]``
    (ascending, each once) the finding ``finding(k)``, whose severity is critical where
    ``critical[k]`` (else warning), whose ``since`` is ``from_epoch(since[k])`` and value
    ``value[k]``, and whose rule, subject, threshold, ``for_s`` and ``clear_s`` are the run's
    — what `replay` reads of every finding; ``finding`` builds the rest (the texts) when
    asked (an equal `Finding` each time)."""

    rule: str
    subject: Subject
    steps: IntArray
    critical: BoolArray
    since: FloatArray
    value: FloatArray
    threshold: float
    for_s: float
    clear_s: float
    finding: Callable[[int], Finding]

    def __len__(self) -> int:
        return int(self.steps.size)


@dataclass
class RunsResult(ClassResult):
    """A class's evaluation with its findings as `FindingRun`s (``output.findings`` empty),
    in the order of the findings they stand for (`materialised`); only `replay` reads them —
    `ClassSteps` and the live engine take `materialised`."""

    runs: list[FindingRun] = field(default_factory=list)

    def materialised(self) -> ClassResult:
        """The same evaluation with a `Finding` per step in ``output.findings``, in order."""
        out = ClassResult(
            self.rules,
            subjects=set(self.subjects),
            failed_rooms=list(self.failed_rooms),
            checkpoints=dict(self.checkpoints),
        )
        out.output.held.extend(self.output.held)
        out.output.findings.extend(self.output.findings)
        for run in self.runs:
            out.output.findings.extend(
                (step, run.finding(k)) for k, step in enumerate(run.steps.tolist())
            )
        return out


_SEVERITIES = (Severity.WARNING, Severity.CRITICAL)


@dataclass(slots=True)
class _Group:
    """One (rule, subject)'s findings, one per step in step order (the step's first of the
    highest severity): per finding its step, its position in the class's output (the first
    of its step's), and what the replay reads of it; ``finding(g)`` builds the ``g``-th."""

    key: tuple[str, str]
    steps: list[int]
    positions: list[int]
    severity: list[Severity]
    since: list[datetime]
    value: list[float]
    threshold: list[float]
    for_s: list[float]
    clear_s: list[float]
    finding: Callable[[int], Finding]


def _groups_of_findings(findings: list[tuple[int, Finding]]) -> list[_Group]:
    """The class's findings grouped by (rule, subject)."""
    # each (rule, subject)'s findings as positions in the class's output: no new tuple per
    # finding (a quarter of a million in a year; the garbage collector's passes over them
    # cost as much as the replay)
    by_key: dict[tuple[str, str], list[int]] = {}
    last_subject: object = None
    subject_id = ""
    for position, (_, finding) in enumerate(findings):
        subject = finding.subject
        if subject is not last_subject:  # a class's findings come sensor by sensor
            last_subject, subject_id = subject, subject.id
        key = (finding.rule, subject_id)
        group = by_key.get(key)
        if group is None:
            by_key[key] = [position]
        else:
            group.append(position)
    out: list[_Group] = []
    for key, group in by_key.items():
        at_steps = [findings[position][0] for position in group]
        if any(map(gt, at_steps, at_steps[1:])):  # by step, then position (a stable sort)
            group.sort(key=lambda position: findings[position][0])
        steps: list[int] = []
        positions: list[int] = []
        chosen: list[Finding] = []
        for position in group:
            i, finding = findings[position]
            if steps and steps[-1] == i:
                # the best finding of a step: the first of the highest severity
                if finding.severity > chosen[-1].severity:
                    chosen[-1] = finding
                continue
            steps.append(i)
            positions.append(position)
            chosen.append(finding)
        out.append(
            _Group(
                key,
                steps,
                positions,
                [f.severity for f in chosen],
                [f.since for f in chosen],
                [f.value for f in chosen],
                [f.threshold for f in chosen],
                [f.for_s for f in chosen],
                [f.clear_s for f in chosen],
                chosen.__getitem__,
            )
        )
    return out


def _placed(runs: Sequence[FindingRun]) -> list[tuple[FindingRun, int]]:
    """The class's runs with their first finding's position (as in `RunsResult.materialised`),
    checked: one run per (rule, subject), its steps ascending, no value or since NaN."""
    out: list[tuple[FindingRun, int]] = []
    seen: set[tuple[str, str]] = set()
    base = 0
    for run in runs:
        key = (run.rule, run.subject.id)
        if key in seen:
            raise ValueError(f"two finding runs of {run.rule} at {key[1]} in one class")
        seen.add(key)
        if run.steps.size > 1 and not bool(np.all(run.steps[1:] > run.steps[:-1])):
            raise ValueError(f"finding run of {run.rule} at {key[1]}: steps not ascending")
        if np.isnan(run.value).any() or np.isnan(run.since).any():  # no alert can hold NaN
            raise ValueError(f"finding run of {run.rule} at {key[1]}: a value or since is NaN")
        if len(run):
            out.append((run, base))
        base += len(run)
    return out


@dataclass(slots=True)
class ReplayedAlert:
    """One alert of the replay, from its first finding to its resolution (or the end)."""

    first: Finding
    """The finding that opened it: rule, subject, unit and page never change after."""
    opened: tuple[float, int, int]
    """(time, class, position of the finding in the class's output): the order of opening,
    which is the order of alert ids."""
    opened_at: datetime
    state: AlertState
    severity: Severity
    since: datetime
    peak: float | None
    last: Finding
    """The latest finding: value, threshold, summary, advice, for_s, clear_s as stored."""
    last_step: int
    """The class's step of the latest finding (``last_seen``)."""
    last_seen: datetime | None = None
    updated_at: datetime | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    id: int = 0


@dataclass(slots=True)
class _Action:
    """One event (and maybe transition) of the replay, with where it falls in step order."""

    order: tuple[float, int, int, float, int, int]
    alert: ReplayedAlert
    src: AlertState | None
    dst: AlertState
    note: str
    finding: Finding | None
    """The finding the transition reports (None: a resolution, reported from the alert)."""
    transition: bool


@dataclass
class Replay:
    """What the step-by-step replay of the lifecycle would have done, in its order."""

    alerts: list[ReplayedAlert] = field(default_factory=list)
    """Every alert opened, in id order (ids from 1)."""
    actions: list[_Action] = field(default_factory=list)
    evaluations: int = 0
    """How many (class, step) the step-by-step replay applies: where the class has findings
    or open alerts."""

    def steps(self) -> Iterator[tuple[datetime, list[Transition]]]:
        """Each step with transitions: its time and what `apply_findings` returned there."""
        current: tuple[float, int] | None = None
        now: datetime | None = None
        changes: list[Transition] = []
        for action in self.actions:
            if not action.transition:
                continue
            at = action.order[:2]
            if at != current:
                if current is not None and now is not None:
                    yield now, changes
                current, changes = at, []
            now = _time_of(action)
            changes.append(_transition_of(action, now))
        if current is not None and now is not None:
            yield now, changes

    def write(self, rows: AlertRows) -> None:
        """Store the alerts (final form) and their events, as stepping would leave them, into
        an empty state."""
        rows.insert_replayed(
            [
                replayed_alert(
                    a.id,
                    a.first,
                    a.opened_at,
                    state=a.state,
                    severity=a.severity,
                    since=a.since,
                    value=a.last.value,
                    threshold=a.last.threshold,
                    peak_value=a.peak,
                    summary=a.last.summary,
                    advice=a.last.advice,
                    for_s=a.last.for_s,
                    clear_s=a.last.clear_s,
                    updated_at=a.updated_at,
                    fired_at=a.fired_at,
                    resolved_at=a.resolved_at,
                    last_seen=a.last_seen,
                )
                for a in self.alerts
            ],
            [
                (action.alert.id, _time_of(action), action.src, action.dst, ENGINE, action.note)
                for action in self.actions
            ],
        )


def _time_of(action: _Action) -> datetime:
    return from_epoch(action.order[0])


def _transition_of(action: _Action, now: datetime) -> Transition:
    alert = action.alert
    source = action.finding
    if source is None:  # a resolution reports what the alert held
        source = alert.last
        return Transition(
            alert_id=alert.id,
            rule=alert.first.rule,
            subject=alert.first.subject,
            time=now,
            from_state=action.src,
            to_state=action.dst,
            severity=alert.severity,
            value=source.value,
            threshold=source.threshold,
            unit=alert.first.unit,
            summary=source.summary,
        )
    return Transition(
        alert_id=alert.id,
        rule=source.rule,
        subject=source.subject,
        time=now,
        from_state=action.src,
        to_state=action.dst,
        severity=source.severity,
        value=source.value,
        threshold=source.threshold,
        unit=source.unit,
        summary=source.summary,
    )


def replay(classes: Sequence[tuple[FloatArray, ClassResult]]) -> Replay:
    """The lifecycle of ``classes`` (each its step times [epoch s] and its evaluation), as
    `apply_findings` stepped at every time where the class has findings or open alerts, in
    time order and classes in their order at the same time, from an empty state."""
    out = Replay()
    seen_rules: set[str] = set()
    for k, (times, result) in enumerate(classes):
        shared = seen_rules.intersection(result.rules)
        if shared:
            raise ValueError(f"rule classes share rules {sorted(shared)}: cannot replay apart")
        seen_rules.update(result.rules)
        out.evaluations += _replay_class(k, times, result, out)
    out.alerts.sort(key=lambda a: a.opened)
    for number, alert in enumerate(out.alerts, start=1):
        alert.id = number
    out.actions.sort(key=lambda action: action.order)
    return out


def _replay_class(k: int, times: FloatArray, result: ClassResult, out: Replay) -> int:
    """Replay one class into ``out``; how many of its steps stepping applies."""
    n = int(times.size)
    at: list[float] = times.tolist()
    moments: dict[int, datetime] = {}

    def moment(i: int) -> datetime:
        when = moments.get(i)
        if when is None:
            when = moments[i] = from_epoch(at[i])
        return when

    runs: list[tuple[FindingRun, int]] = []
    if isinstance(result, RunsResult) and result.runs:
        if result.output.findings:
            raise ValueError("a class's findings come either as runs or as a list, not both")
        runs = _placed(result.runs)
    groups = _groups_of_findings(result.output.findings)
    sinces = EpochTimes()
    held: dict[tuple[str, str], set[int]] = {}
    for i, rule, held_id in result.output.held:
        held.setdefault((rule, held_id), set()).add(i)
    subjects = result.subjects

    found = np.zeros(n, dtype=np.bool_)
    opened_for = np.zeros(n + 2, dtype=np.int64)
    actions = out.actions

    def act(
        i: int,
        phase: int,
        x: float,
        y: int,
        sub: int,
        alert: ReplayedAlert,
        src: AlertState | None,
        dst: AlertState,
        note: str,
        finding: Finding | None,
        transition: bool,
    ) -> None:
        actions.append(
            _Action((at[i], k, phase, x, y, sub), alert, src, dst, note, finding, transition)
        )

    def resolution(
        alert: ReplayedAlert, last: int, limit: int, never: set[int], clear_s: float
    ) -> int | None:
        """The step in ``(last, limit)`` where ``alert``, last found at step ``last`` (by a
        finding of ``clear_s``), resolves: the first not held — for a firing one, once
        ``clear_s`` has passed."""
        j = last + 1
        if alert.state is not _PENDING:
            seen = moment(last)
            hold = timedelta(seconds=clear_s)
            j = bisect_left(at, at[last] + clear_s, j, limit)
            while j > last + 1 and moment(j - 1) - seen >= hold:
                j -= 1
            while j < limit and moment(j) - seen < hold:
                j += 1
        while j < limit and j in never:
            j += 1
        return j if j < limit else None

    def resolve(alert: ReplayedAlert, j: int) -> None:
        now = moment(j)
        seen = alert.last_seen = moment(alert.last_step)
        if alert.state is _PENDING:
            note = "cleared before firing"
        else:
            minutes = (now - seen).total_seconds() / 60.0
            note = f"condition cleared (absent for {minutes:.0f} min)"
        opened_time, _, opened_position = alert.opened
        act(
            j,
            _CLOSED,
            opened_time,
            opened_position,
            0,
            alert,
            alert.state,
            _RESOLVED,
            note,
            None,
            True,
        )
        alert.state = _RESOLVED
        alert.resolved_at = now
        alert.updated_at = now
        opened_for[j + 1] -= 1

    def open_alert(i: int, position: int, finding: Finding) -> ReplayedAlert:
        now = moment(i)
        firing = now - finding.since >= timedelta(seconds=finding.for_s)
        alert = ReplayedAlert(
            first=finding,
            opened=(at[i], k, position),
            opened_at=now,
            state=_FIRING if firing else _PENDING,
            severity=finding.severity,
            since=finding.since,
            peak=finding.value,
            last=finding,
            last_step=i,
            fired_at=now if firing else None,
        )
        out.alerts.append(alert)
        act(i, _OPENED, position, 0, 0, alert, None, _PENDING, finding.summary, finding, True)
        if firing:
            act(
                i, _OPENED, position, 0, 1, alert, _PENDING, _FIRING, finding.summary, finding, True
            )
        opened_for[i + 1] += 1
        return alert

    def fire(alert: ReplayedAlert, i: int, position: int, finding: Finding, now: datetime) -> None:
        """The pending ``alert`` fires at step ``i`` by ``finding`` (at ``position``)."""
        alert.state = _FIRING
        alert.fired_at = now
        act(i, _OPENED, position, 0, 1, alert, _PENDING, _FIRING, finding.summary, finding, True)

    def walk(group: _Group) -> None:
        """The lifecycle of one (rule, subject)'s findings, finding by finding."""
        key, steps, positions = group.key, group.steps, group.positions
        severities, since_of, values, thresholds = (
            group.severity,
            group.since,
            group.value,
            group.threshold,
        )
        for_s, clear_s, finding_at = group.for_s, group.clear_s, group.finding
        found[steps] = True
        never = held.get(key, set())
        resolvable = key[1] in subjects
        i = steps[0]
        alert = open_alert(i, positions[0], finding_at(0))
        # the open alert's fields the steps decide on, kept in locals (written back to
        # ``alert`` when it resolves or the group ends); its latest finding by number
        since, peak, severity = alert.since, alert.peak, alert.severity
        pending, stored_threshold = alert.state is _PENDING, thresholds[0]
        last, latest = i, 0
        for g in range(1, len(steps)):
            i = steps[g]
            if i > last + 1 and resolvable:
                alert.last_step = last
                j = resolution(alert, last, i, never, clear_s[latest])
                if j is not None:
                    alert.since, alert.peak, alert.severity = since, peak, severity
                    alert.last = finding_at(latest)
                    resolve(alert, j)
                    alert = open_alert(i, positions[g], finding_at(g))
                    since, peak, severity = alert.since, alert.peak, alert.severity
                    pending, stored_threshold = alert.state is _PENDING, thresholds[g]
                    last, latest = i, g
                    continue
            if since_of[g] < since:
                since = since_of[g]
            value, threshold = values[g], thresholds[g]
            if peak is None or abs(value - threshold) > abs(peak - stored_threshold):
                peak = value
            stored_threshold = threshold
            finding: Finding | None = None
            if severities[g] != severity:
                finding = finding_at(g)
                act(
                    i,
                    _OPENED,
                    positions[g],
                    0,
                    0,
                    alert,
                    alert.state,
                    alert.state,
                    f"severity {severity.label} → {finding.severity.label}: {finding.summary}",
                    finding,
                    False,
                )
                severity = finding.severity
            if pending:
                now = moment(i)
                if now - since >= timedelta(seconds=for_s[g]):
                    if finding is None:
                        finding = finding_at(g)
                    pending = False
                    fire(alert, i, positions[g], finding, now)
            last, latest = i, g
        alert.since, alert.peak, alert.severity = since, peak, severity
        alert.last_step = last
        alert.last = finding_at(latest)
        j = resolution(alert, last, n, never, clear_s[latest]) if resolvable else None
        if j is None:
            alert.last_seen = alert.updated_at = moment(last)
        else:
            resolve(alert, j)

    def walk_run(run: FindingRun, base: int) -> None:
        """`walk` of a run, by stretches: only the gaps between its steps (where the alert may
        resolve) and, while the alert is pending, its steps are walked one by one; within
        an alert, the episode's start (the earliest), the peak (the first farthest from the
        threshold, which is the run's), the severity changes and the latest finding come
        from the columns at once."""
        steps: list[int] = run.steps.tolist()
        count = len(steps)
        key = (run.rule, run.subject.id)
        found[run.steps] = True
        never = held.get(key, set())
        resolvable = key[1] in subjects
        since_at: list[float] = run.since.tolist()
        critical = run.critical
        distance = np.abs(run.value - run.threshold)
        hold_s = run.clear_s
        needed = timedelta(seconds=run.for_s)
        gaps = (np.flatnonzero(np.diff(run.steps) > 1) + 1).tolist() if resolvable else []

        a = 0
        alert = open_alert(steps[0], base, run.finding(0))
        # the finding at which the alert fired (None: pending so far)
        fired: int | None = 0 if alert.state is _FIRING else None
        scanned = 1
        earliest = since_at[0]

        def scan(upto: int) -> None:
            """Whether the pending alert fires at one of the findings ``[scanned, upto)``."""
            nonlocal fired, scanned, earliest
            g = scanned
            while fired is None and g < upto:
                if since_at[g] < earliest:
                    earliest = since_at[g]
                now = moment(steps[g])
                if now - sinces[earliest] >= needed:
                    fired = g
                    fire(alert, steps[g], base + g, run.finding(g), now)
                g += 1
            scanned = max(scanned, upto)

        def finish(b: int) -> None:
            """The alert's fields after the findings ``[a, b)``, its severity changes."""
            scan(b)
            changed = np.flatnonzero(critical[a + 1 : b] != critical[a : b - 1]) + (a + 1)
            for g in changed.tolist():
                finding = run.finding(g)
                state = _FIRING if fired is not None and fired < g else _PENDING
                before = _SEVERITIES[bool(critical[g - 1])]
                act(
                    steps[g],
                    _OPENED,
                    base + g,
                    0,
                    0,
                    alert,
                    state,
                    state,
                    f"severity {before.label} → {finding.severity.label}: {finding.summary}",
                    finding,
                    False,
                )
            alert.since = sinces[min(since_at[a:b])]
            alert.peak = float(run.value[a + int(np.argmax(distance[a:b]))])
            alert.severity = _SEVERITIES[bool(critical[b - 1])]
            alert.last_step = steps[b - 1]
            alert.last = run.finding(b - 1)

        for g in gaps:
            scan(g)
            alert.last_step = steps[g - 1]
            j = resolution(alert, steps[g - 1], steps[g], never, hold_s)
            if j is not None:
                finish(g)
                resolve(alert, j)
                a = g
                alert = open_alert(steps[g], base + g, run.finding(g))
                fired = g if alert.state is _FIRING else None
                scanned = g + 1
                earliest = since_at[g]
        finish(count)
        last = steps[count - 1]
        j = resolution(alert, last, n, never, hold_s) if resolvable else None
        if j is None:
            alert.last_seen = alert.updated_at = moment(last)
        else:
            resolve(alert, j)

    for group in groups:
        walk(group)
    for run, base in runs:
        walk_run(run, base)
    stepped = found | (np.cumsum(opened_for[:n]) > 0)
    return int(np.count_nonzero(stepped))
