"""What every rule takes and gives.

A rule is a pure function of (a subject's history as arrays, its band and parameters, the
evaluation times ``at``, the state of its open alerts) → `RuleOutput`: for each evaluation time,
the findings that hold then, and the subjects that could not be judged (no fresh data) and keep
their state. The live engine passes one time (now); the backtest passes every scheduled time of a
period at once — the same code either way.

The four threshold rules (excursion, fluctuation, condensation at a surface and near saturation)
share one shape — valid samples → fresh steps → hysteresis from the open alert's state →
episode start → findings — in `exceedances`, with the levels in `Levels`; each rule keeps only
what it measures and how its text reads. Text helpers (`when`, `span`) write what people read:
times in the site's zone, lengths of time in minutes, hours or days.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo

import numpy as np

from repoclimate.alerts.model import Finding, Severity, Subject, from_epoch
from repoclimate.alerts.series import (
    BoolArray,
    FloatArray,
    IntArray,
    episode_starts,
    hysteresis_above,
    hysteresis_below,
)

ActiveStates = Mapping[str, Severity]
"""Rule id → severity of the subject's open alert of that rule (hysteresis starts from it)."""


@dataclass(frozen=True, slots=True)
class Band:
    """The climate a room is held to, from its profile: limits of temperature [°C] and RH [%],
    and the short-term allowance: largest deviation from the running mean of ``window_hours``."""

    profile: str
    t_min: float | None = None
    t_max: float | None = None
    rh_min: float | None = None
    rh_max: float | None = None
    t_deviation_max: float | None = None
    rh_deviation_max: float | None = None
    window_hours: float = 24.0


@dataclass
class RuleOutput:
    """Findings and held subjects, each tagged with the index of its evaluation time."""

    findings: list[tuple[int, Finding]] = field(default_factory=list)
    held: list[tuple[int, str, str]] = field(default_factory=list)

    def extend(self, other: RuleOutput) -> None:
        self.findings.extend(other.findings)
        self.held.extend(other.held)

    def hold(self, fresh: BoolArray, rule: str, subject: Subject) -> None:
        """Hold ``rule`` × ``subject`` at every step that is not ``fresh``."""
        subject_id = subject.id
        self.held.extend((int(i), rule, subject_id) for i in np.nonzero(~fresh)[0])


def since_times(starts: IntArray, times: FloatArray, first: float | None = None) -> FloatArray:
    """Episode start times from start indices into ``times``.

    −1 (the episode was already under way at the first sample) gives ``first``, by default the
    first sample's time: the earliest evidence there is. Never the window's start, which may lie
    before any data (the first hours of a store, a sensor added yesterday) — an alert "since"
    a time nothing was measured would both mislead and satisfy its rule's duration too early.
    """
    if times.size == 0:
        return np.full(starts.size, np.nan if first is None else first)
    earliest = float(times[0]) if first is None else first
    result: FloatArray = np.where(starts >= 0, times[np.maximum(starts, 0)], earliest)
    return result


def fresh_steps(times: FloatArray, at: FloatArray, max_age_s: float) -> tuple[IntArray, BoolArray]:
    """For each evaluation time the index of the last sample at or before it (clipped to 0),
    and whether that sample exists and is at most ``max_age_s`` old."""
    idx = np.searchsorted(times, at, side="right").astype(np.int64) - 1
    ok = idx >= 0
    clipped = np.maximum(idx, 0)
    if times.size == 0:
        return clipped, np.zeros(at.size, dtype=np.bool_)
    fresh = ok & (at - times[clipped] <= max_age_s)
    return clipped, fresh


def when(seconds: float, zone: tzinfo = UTC) -> str:
    """A time for summaries, in ``zone`` (the site's) with the zone's name: what people read is
    in the site's local time."""
    return from_epoch(seconds).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def span(seconds: float) -> str:
    """A length of time as people read it: ``25 min``, ``36 h``, ``4.5 d``."""
    minutes = seconds / 60.0
    if minutes < 120:
        return f"{minutes:.0f} min"
    hours = minutes / 60.0
    if hours < 72:
        return f"{hours:.1f}".removesuffix(".0") + " h"
    return f"{hours / 24.0:.1f}".removesuffix(".0") + " d"


@dataclass(frozen=True, slots=True)
class Levels:
    """A threshold with hysteresis on one quantity; ``above``: high values are the bad side.

    The condition holds from beyond ``warning`` until back past ``warning_clear``; it is
    critical from beyond ``critical`` until back past ``critical_clear``.
    """

    above: bool
    warning: float
    warning_clear: float
    critical: float
    critical_clear: float

    def holding(self, values: FloatArray, was: bool, was_critical: bool) -> tuple[BoolArray, ...]:
        """Per sample: whether the condition holds, whether it is critical, and whether it is
        only *clearing* — held by the hysteresis, back inside ``warning`` but not yet past
        ``warning_clear``."""
        if self.above:
            on = hysteresis_above(values, self.warning, self.warning_clear, was)
            critical = hysteresis_above(values, self.critical, self.critical_clear, was_critical)
            with np.errstate(invalid="ignore"):
                beyond = values > self.warning
        else:
            on = hysteresis_below(values, self.warning, self.warning_clear, was)
            critical = hysteresis_below(values, self.critical, self.critical_clear, was_critical)
            with np.errstate(invalid="ignore"):
                beyond = values < self.warning
        return on, critical, on & ~beyond

    def clearing_note(self, name: str, unit: str, clear_s: float) -> str:
        """What an alert that is clearing still needs, e.g. "clearing: needs RH ≤ 63 %RH for
        30 min" (the hysteresis level, then the lifecycle's clear-hold)."""
        sign = "≤" if self.above else "≥"
        hold = f" for {clear_s / 60.0:.0f} min" if clear_s > 0 else ""
        return f"clearing: needs {name} {sign} {self.warning_clear:g} {unit}{hold}"


@dataclass(frozen=True, slots=True)
class Exceedance:
    """One evaluation step at which a threshold rule holds: what its finding is made of."""

    step: int
    """Index into the evaluation times."""
    index: int
    """Index of the sample judged (the last fresh one)."""
    severity: Severity
    since: float
    """Start of the episode [epoch s] (`since_times`)."""
    clearing: bool
    """Held only by the hysteresis: back inside the warning level, not yet past its clear level."""


def exceedances(
    out: RuleOutput,
    rule: str,
    subject: Subject,
    times: FloatArray,
    values: FloatArray,
    at: FloatArray,
    max_age_s: float,
    active: ActiveStates,
    levels: Levels,
) -> Iterator[Exceedance]:
    """The shape every threshold rule shares: fresh steps (holding ``rule`` × ``subject``
    where the data is stale), hysteresis from the open alert's state, the episode's start, and
    the steps at which the condition holds.

    ``times`` and ``values`` are the rule's samples, already masked to the valid ones; the
    rule builds each finding from the `Exceedance` (its text names the quantity).
    """
    idx, fresh = fresh_steps(times, at, max_age_s)
    out.hold(fresh, rule, subject)
    if times.size == 0:
        return
    was = rule in active
    on, critical, clearing = levels.holding(values, was, active.get(rule) == Severity.CRITICAL)
    since = since_times(episode_starts(on, was), times)
    for step in np.nonzero(fresh & on[idx])[0]:
        i = int(idx[step])
        yield Exceedance(
            step=int(step),
            index=i,
            severity=Severity.CRITICAL if critical[i] else Severity.WARNING,
            since=float(since[i]),
            clearing=bool(clearing[i]),
        )
