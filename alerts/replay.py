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

For the backtest only: the state must start empty (nothing open), every finding's values are
tracked (``track_values``), and nobody acknowledges meanwhile.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import gt

import numpy as np

from repoclimate.alerts.evaluate import ClassResult
from repoclimate.alerts.lifecycle import ENGINE
from repoclimate.alerts.model import AlertState, Finding, Severity, Transition, from_epoch
from repoclimate.alerts.series import FloatArray
from repoclimate.alerts.state.alerts import AlertRows, replayed_alert

_PENDING = AlertState.PENDING
_FIRING = AlertState.FIRING
_RESOLVED = AlertState.RESOLVED

_OPENED = 0
"""Step phase of what `apply_findings` does for the findings (in their order)…"""
_CLOSED = 1
"""…and of the resolutions after them (in alert id order)."""


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

    # each (rule, subject)'s findings as positions in the class's output: no new tuple per
    # finding (a quarter of a million in a year; the garbage collector's passes over them
    # cost as much as the replay)
    findings = result.output.findings
    groups: dict[tuple[str, str], list[int]] = {}
    last_subject: object = None
    subject_id = ""
    for position, (_, finding) in enumerate(findings):
        subject = finding.subject
        if subject is not last_subject:  # a class's findings come sensor by sensor
            last_subject, subject_id = subject, subject.id
        key = (finding.rule, subject_id)
        group = groups.get(key)
        if group is None:
            groups[key] = [position]
        else:
            group.append(position)
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

    def resolution(alert: ReplayedAlert, last: int, limit: int, never: set[int]) -> int | None:
        """The step in ``(last, limit)`` where ``alert``, last found at step ``last``,
        resolves: the first not held — for a firing one, once ``clear_s`` has passed."""
        j = last + 1
        if alert.state is not _PENDING:
            seen = moment(last)
            hold = timedelta(seconds=alert.last.clear_s)
            j = bisect_left(at, at[last] + alert.last.clear_s, j, limit)
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

    for key, group in groups.items():
        at_steps = [findings[position][0] for position in group]
        if any(map(gt, at_steps, at_steps[1:])):  # by step, then position (a stable sort)
            group.sort(key=lambda position: findings[position][0])
        found[at_steps] = True
        never = held.get(key, set())
        resolvable = key[1] in subjects
        count = len(group)
        position = group[0]
        i, finding = findings[position]
        g = 1
        while g < count and findings[group[g]][0] == i:
            other = findings[group[g]][1]
            if other.severity > finding.severity:
                finding = other
            g += 1
        alert = open_alert(i, position, finding)
        # the open alert's fields the steps decide on, kept in locals (written back to
        # ``alert`` when it resolves or the group ends)
        since, peak, severity = alert.since, alert.peak, alert.severity
        pending, stored_threshold = alert.state is _PENDING, finding.threshold
        last = i
        while g < count:
            position = group[g]
            i, finding = findings[position]
            g += 1
            # the best finding of a step: the first of the highest severity
            while g < count and findings[group[g]][0] == i:
                other = findings[group[g]][1]
                if other.severity > finding.severity:
                    finding = other
                g += 1
            if i > last + 1 and resolvable:
                alert.since, alert.peak, alert.severity = since, peak, severity
                alert.last_step = last
                j = resolution(alert, last, i, never)
                if j is not None:
                    resolve(alert, j)
                    alert = open_alert(i, position, finding)
                    since, peak, severity = alert.since, alert.peak, alert.severity
                    pending, stored_threshold = alert.state is _PENDING, finding.threshold
                    last = i
                    continue
            if finding.since < since:
                since = finding.since
            value, threshold = finding.value, finding.threshold
            if peak is None or abs(value - threshold) > abs(peak - stored_threshold):
                peak = value
            stored_threshold = threshold
            if finding.severity != severity:
                act(
                    i,
                    _OPENED,
                    position,
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
                if now - since >= timedelta(seconds=finding.for_s):
                    pending = False
                    alert.state = _FIRING
                    alert.fired_at = now
                    act(
                        i,
                        _OPENED,
                        position,
                        0,
                        1,
                        alert,
                        _PENDING,
                        _FIRING,
                        finding.summary,
                        finding,
                        True,
                    )
            alert.last = finding
            last = i
        alert.since, alert.peak, alert.severity = since, peak, severity
        alert.last_step = last
        j = resolution(alert, last, n, never) if resolvable else None
        if j is None:
            alert.last_seen = alert.updated_at = moment(last)
        else:
            resolve(alert, j)
    stepped = found | (np.cumsum(opened_for[:n]) > 0)
    return int(np.count_nonzero(stepped))
