"""What every rule takes and gives.

A rule is a pure function of (a subject's history as arrays, its band and parameters, the
evaluation times ``at``, the state of its open alerts) → `RuleOutput`: for each evaluation time,
the findings that hold then, and the subjects that could not be judged (no fresh data) and keep
their state. The live engine passes one time (now); the backtest passes every scheduled time of a
period at once — the same code either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from repoclimate.alerts.model import Finding, Severity, Subject, from_epoch
from repoclimate.alerts.series import BoolArray, FloatArray, IntArray

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


def when(seconds: float) -> str:
    """Short UTC time for summaries (people-facing text is re-rendered in local time)."""
    return from_epoch(seconds).strftime("%Y-%m-%d %H:%M UTC")
