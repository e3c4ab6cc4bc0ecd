"""Mould: IPI's Mould Risk Factor and the VTT mould index at each sensor's place, over its recent
hourly history, against warning and critical levels. The holdings pick the VTT sensitivity class
and decline through `preservation.metrics` (one mapping for alerts and reports, so both give the
same indices for the same hours).

A damp corner is a risk even when the room's average is not, so mould is judged per sensor;
dispatch groups a room's sensors into one notification.
"""

from __future__ import annotations

import numpy as np

from alerts.config import MouldParams
from alerts.model import Finding, Severity, Subject, from_epoch
from alerts.rules.base import ActiveStates, RuleOutput, since_times, when
from alerts.series import FloatArray, HourlySeries, episode_starts, hysteresis_mask
from preservation.metrics import DECLINE_FOR_HOLDINGS, SENSITIVITY_FOR_HOLDINGS
from preservation.mould import (
    DECLINE_RELATIVELY_LOW,
    Sensitivity,
    days_to_mould,
    mould_risk_factor,
    vtt_mould_index,
)

RULE = "mould.risk"
RULES = (RULE,)


def sensitivity_for(holdings: str, params: MouldParams) -> Sensitivity:
    """The VTT sensitivity class: the rules' override, else the holdings' class as the science
    gives it (`preservation.metrics.SENSITIVITY_FOR_HOLDINGS`)."""
    if params.sensitivity is not None:
        return params.sensitivity
    return SENSITIVITY_FOR_HOLDINGS.get(holdings, "sensitive")


def decline_for(holdings: str) -> float:
    """The VTT decline coefficient C_mat of the holdings, as the reports use it
    (`preservation.metrics.DECLINE_FOR_HOLDINGS`)."""
    return DECLINE_FOR_HOLDINGS.get(holdings, DECLINE_RELATIVELY_LOW)


def indices(
    hourly: HourlySeries, holdings: str, params: MouldParams
) -> tuple[FloatArray, FloatArray]:
    """MRF and VTT index after each hour of ``hourly`` (NaN hours change neither), with the
    holdings' sensitivity class and decline — the numbers `preservation.metrics.room_metrics`
    reports for the same hours."""
    mrf = mould_risk_factor(hourly.temperature, hourly.humidity, 1.0)
    vtt = vtt_mould_index(
        hourly.temperature,
        hourly.humidity,
        1.0,
        sensitivity=sensitivity_for(holdings, params),
        decline=decline_for(holdings),
    )
    return mrf, vtt


def evaluate(
    hourly: HourlySeries,
    subject: Subject,
    holdings: str,
    params: MouldParams,
    at: FloatArray,
    active: ActiveStates,
    computed: tuple[FloatArray, FloatArray] | None = None,
) -> RuleOutput:
    """The mould finding at each evaluation time, from the last complete hour before it.

    ``computed``: the (MRF, VTT) series of `indices` when the caller already has them."""
    out = RuleOutput()
    if not params.enabled:
        return out
    idx = hourly.complete_before(at)
    known = np.isfinite(hourly.temperature) & np.isfinite(hourly.humidity)
    fresh = (idx >= 0) & known[np.maximum(idx, 0)] if hourly.hours.size else idx < -1
    out.hold(fresh, RULE, subject)
    if hourly.hours.size == 0:
        return out
    sensitivity = sensitivity_for(holdings, params)
    mrf, vtt = computed if computed is not None else indices(hourly, holdings, params)
    ratio = params.clear_ratio
    enter = (mrf >= params.mrf_warning) | (vtt >= params.vtt_warning)
    clear = (mrf < params.mrf_warning * ratio) & (vtt < params.vtt_warning * ratio)
    was = RULE in active
    on = hysteresis_mask(enter, clear, was)
    crit_enter = (mrf >= params.mrf_critical) | (vtt >= params.vtt_critical)
    crit_clear = (mrf < params.mrf_critical * ratio) & (vtt < params.vtt_critical * ratio)
    critical = hysteresis_mask(crit_enter, crit_clear, active.get(RULE) == Severity.CRITICAL)
    hour_end = hourly.hours + 3600.0
    first_known = float(hour_end[np.argmax(known)]) if np.any(known) else None
    since = since_times(episode_starts(on, was), hour_end, first_known)
    days = days_to_mould(hourly.temperature, hourly.humidity)
    damp = np.isfinite(days)
    damp_start = since_times(episode_starts(damp), hourly.hours)
    for step in np.nonzero(fresh & on[np.maximum(idx, 0)])[0]:
        i = int(idx[step])
        by_mrf = mrf[i] / params.mrf_warning >= vtt[i] / params.vtt_warning
        severity = Severity.CRITICAL if critical[i] else Severity.WARNING
        if by_mrf:
            value = float(mrf[i])
            threshold = params.mrf_critical if severity is Severity.CRITICAL else params.mrf_warning
            unit = "MRF"
        else:
            value = float(vtt[i])
            threshold = params.vtt_critical if severity is Severity.CRITICAL else params.vtt_warning
            unit = "VTT index"
        conditions = (
            f"damp since {when(damp_start[i])}"
            if damp[i]
            else "conditions no longer favour germination"
        )
        out.findings.append(
            (
                int(step),
                Finding(
                    rule=RULE,
                    subject=subject,
                    severity=severity,
                    since=from_epoch(since[i]),
                    value=value,
                    threshold=threshold,
                    unit=unit,
                    summary=(
                        f"Mould risk factor {mrf[i]:.2f} (germination expected at 1), "
                        f"VTT index {vtt[i]:.2f} ({sensitivity.replace('_', ' ')} material); "
                        f"{conditions}; last hour {hourly.temperature[i]:.1f} °C, "
                        f"{hourly.humidity[i]:.0f} %RH"
                    ),
                    advice=(
                        "Bring RH below 65 % now: check the dehumidifier (running, tank full, "
                        "set point), air handling and water ingress; then inspect the holdings "
                        "near this sensor for mould and isolate anything affected."
                    ),
                    clear_s=params.clear_after_minutes * 60.0,
                ),
            )
        )
    return out
