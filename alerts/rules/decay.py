"""Decay: a falling TWPI (time-weighted preservation index) of a room, reported in the weekly
digest rather than paged — chemical decay is slow, but a trend is worth a manager's look."""

from __future__ import annotations

import numpy as np

from repoclimate.alerts.config import DecayParams
from repoclimate.alerts.model import Finding, Severity, Subject, from_epoch
from repoclimate.alerts.rules.base import RuleOutput
from repoclimate.alerts.series import FloatArray, HourlySeries
from repoclimate.preservation.decay import twpi

RULE = "decay.twpi_falling"
RULES = (RULE,)
WEEK_S = 7 * 86400.0


def lookback_s(params: DecayParams) -> float:
    return (params.baseline_weeks + 1) * WEEK_S


def evaluate(
    hourly: HourlySeries,
    subject: Subject,
    params: DecayParams,
    at: FloatArray,
) -> RuleOutput:
    """Last week's TWPI against the preceding ``baseline_weeks`` at each evaluation time."""
    out = RuleOutput()
    if not params.enabled:
        return out
    hours = hourly.hours
    ok = np.isfinite(hourly.temperature) & np.isfinite(hourly.humidity)
    for step, t in enumerate(at.tolist()):
        week = (hours >= t - WEEK_S) & (hours + 3600.0 <= t) & ok
        base = (hours >= t - lookback_s(params)) & (hours < t - WEEK_S) & ok
        need_week = params.min_coverage * 168
        need_base = params.min_coverage * 168 * params.baseline_weeks
        if week.sum() < need_week or base.sum() < need_base:
            out.held.append((step, RULE, subject.id))
            continue
        last = float(twpi(hourly.temperature[week], hourly.humidity[week]))
        baseline = float(twpi(hourly.temperature[base], hourly.humidity[base]))
        if not (np.isfinite(last) and np.isfinite(baseline)):
            out.held.append((step, RULE, subject.id))
            continue
        limit = baseline * (1.0 - params.drop_pct / 100.0)
        if last >= limit:
            continue
        drop = 100.0 * (1.0 - last / baseline)
        out.findings.append(
            (
                step,
                Finding(
                    rule=RULE,
                    subject=subject,
                    severity=Severity.INFO,
                    since=from_epoch(t - WEEK_S),
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
    return out
