"""Mould: IPI's Mould Risk Factor and the VTT mould index at each sensor's place, over its recent
hourly history, against warning and critical levels. The holdings pick the VTT sensitivity class
and decline through `preservation.metrics` (one mapping for alerts and reports, so both give the
same indices for the same hours).

A damp corner is a risk even when the room's average is not, so mould is judged per sensor;
dispatch groups a room's sensors into one notification.

Both indices are cumulative with memory (months, for the VTT index of slowly declining
materials), longer than the history fetched each time (``lookback_days``). So live evaluation
carries them: each evaluation returns a `Checkpoint` — the models' full state at the end of the
hour ``settle_hours`` before the last complete one, so that late readings of the newest hours are
still counted — which the engine keeps in the alert state and hands to the next one; that one
integrates only the hours after it, and live agrees with the backtest (one integration over its
whole period). With no checkpoint, one older than the history fetched (a long outage of the
engine), one for another sensitivity class, decline or holdings, or one ahead of the hours
evaluated, integration starts from zero at the start of the history fetched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo

import numpy as np

from repoclimate.alerts.config import MouldParams
from repoclimate.alerts.model import Finding, Severity, Subject, from_epoch
from repoclimate.alerts.rules.base import ActiveStates, RuleOutput, since_times, when
from repoclimate.alerts.series import FloatArray, HourlySeries, episode_starts, hysteresis_mask
from repoclimate.preservation.advice import mould_advice
from repoclimate.preservation.metrics import DECLINE_FOR_HOLDINGS, SENSITIVITY_FOR_HOLDINGS
from repoclimate.preservation.mould import (
    DECLINE_RELATIVELY_LOW,
    MRF_RESET_AFTER_HOURS,
    MrfState,
    Sensitivity,
    VttState,
    days_to_mould,
    mould_risk_factor,
    mould_risk_factors,
    vtt_mould_index,
    vtt_mould_indices,
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


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Both models' state at the end of the hour starting at ``hour`` (epoch s), for the
    model parameters ``fingerprint`` names (see `fingerprint`)."""

    hour: float
    vtt: VttState
    mrf: MrfState
    fingerprint: str


def fingerprint(holdings: str, params: MouldParams) -> str:
    """What the indices depend on besides the readings: a checkpoint made under another
    sensitivity class, decline or holdings is not continued."""
    return (
        f"holdings={holdings};sensitivity={sensitivity_for(holdings, params)};"
        f"decline={decline_for(holdings)!r};mrf_reset_h={MRF_RESET_AFTER_HOURS!r}"
    )


def indices(
    hourly: HourlySeries,
    holdings: str,
    params: MouldParams,
    start: Checkpoint | None = None,
    checkpoint_index: int = -1,
    needed_from: int | None = None,
) -> tuple[FloatArray, FloatArray, Checkpoint | None]:
    """MRF and VTT index after each hour of ``hourly`` (NaN hours change neither), with the
    holdings' sensitivity class and decline — the numbers `preservation.metrics.room_metrics`
    reports for the same hours — and the checkpoint after hour ``checkpoint_index`` (None when
    it is negative).

    ``start``: a checkpoint to continue from. Used when it matches the parameters, its hour is
    on the grid (within the history fetched) and not after hour ``needed_from`` (the first
    hour the caller reads; ``checkpoint_index`` by default); then the hours after it are
    integrated from it, its own hour holds its values and the hours before are NaN. Otherwise
    the whole grid is integrated from zero."""
    n = hourly.hours.size
    fp = fingerprint(holdings, params)
    sensitivity = sensitivity_for(holdings, params)
    decline = decline_for(holdings)
    mrf = np.full(n, np.nan)
    vtt = np.full(n, np.nan)
    mrf_state, vtt_state = MrfState(), VttState()
    first = 0
    last_usable = checkpoint_index if needed_from is None else min(needed_from, checkpoint_index)
    k = _continued_from(hourly, start, fp, last_usable)
    if start is not None and k is not None:
        mrf_state, vtt_state = start.mrf, start.vtt
        mrf[k], vtt[k] = mrf_state.value, vtt_state.index
        first = k + 1
    checkpoint = start if start is not None and k == checkpoint_index >= 0 else None
    stop = max(checkpoint_index + 1, first)
    for lo, hi in ((first, stop), (stop, n)):
        if hi <= lo:
            continue
        t, rh = hourly.temperature[lo:hi], hourly.humidity[lo:hi]
        mrf[lo:hi], mrf_state = mould_risk_factor(t, rh, 1.0, state=mrf_state, return_state=True)
        vtt[lo:hi], vtt_state = vtt_mould_index(
            t,
            rh,
            1.0,
            sensitivity=sensitivity,
            decline=decline,
            state=vtt_state,
            return_state=True,
        )
        if hi == checkpoint_index + 1:
            checkpoint = Checkpoint(float(hourly.hours[hi - 1]), vtt_state, mrf_state, fp)
    return mrf, vtt, checkpoint


def _continued_from(
    hourly: HourlySeries, start: Checkpoint | None, fp: str, last_usable: int
) -> int | None:
    """The grid index of ``start``'s hour when integration may continue from it."""
    if start is None or start.fingerprint != fp or hourly.hours.size == 0:
        return None
    k = int(np.searchsorted(hourly.hours, start.hour))
    if k >= hourly.hours.size or hourly.hours[k] != start.hour or k > last_usable:
        return None
    return k


def evaluate(
    hourly: HourlySeries,
    subject: Subject,
    holdings: str,
    params: MouldParams,
    at: FloatArray,
    active: ActiveStates,
    computed: tuple[FloatArray, FloatArray] | None = None,
    zone: tzinfo = UTC,
) -> RuleOutput:
    """The mould finding at each evaluation time, from the last complete hour before it.

    ``computed``: the (MRF, VTT) series of `indices` when the caller already has them;
    ``zone``: the site's, for the times in the summary."""
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
    mrf, vtt = computed if computed is not None else indices(hourly, holdings, params)[:2]
    ratio = params.clear_ratio
    enter = (mrf >= params.mrf_warning) | (vtt >= params.vtt_warning)
    clear = (mrf < params.mrf_warning * ratio) & (vtt < params.vtt_warning * ratio)
    was = RULE in active
    on = hysteresis_mask(enter, clear, was)
    crit_enter = (mrf >= params.mrf_critical) | (vtt >= params.vtt_critical)
    crit_clear = (mrf < params.mrf_critical * ratio) & (vtt < params.vtt_critical * ratio)
    critical = hysteresis_mask(crit_enter, crit_clear, active.get(RULE) == Severity.CRITICAL)
    hour_end = hourly.hours + 3600.0
    # since: the end of the hour the alert's episode began (its index first reached the warning
    # level). An episode already under way at the first hour fetched (the alert is open) began
    # at a time these hours do not show, and the history's first hour can precede its cause
    # (issue 9): report no earlier time than the hour evaluated, and the lifecycle keeps the
    # since the alert was opened with (the earliest it was given). So live, from a history
    # fetched afresh each time, says what the backtest of one pass over all hours says.
    starts = episode_starts(on, was)
    since = np.where(starts >= 0, hour_end[np.maximum(starts, 0)], hour_end)
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
            f"damp since {when(damp_start[i], zone)}"
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
                    advice=_advice(
                        float(hourly.temperature[i]), float(hourly.humidity[i]), bool(damp[i])
                    ),
                    clear_s=params.clear_after_minutes * 60.0,
                ),
            )
        )
    return out


def _advice(t_c: float, rh_pct: float, damp: bool) -> str:
    """What to change (`preservation.advice.mould_advice`, while the last hour is damp), then
    what to check."""
    change = mould_advice(t_c, rh_pct) if damp else ""
    first = f"{change[0].upper()}{change[1:]}. " if change else ""
    return (
        f"{first}Check the dehumidifier (running, tank full, set point), air handling and water "
        "ingress; then inspect the holdings near this sensor for mould and isolate anything "
        "affected."
    )


def indices_many(
    hourlies: Sequence[HourlySeries],
    holdings: Sequence[str],
    params: Sequence[MouldParams],
    starts: Sequence[Checkpoint | None],
    checkpoint_indices: Sequence[int],
    needed_from: Sequence[int],
) -> list[tuple[FloatArray, FloatArray, Checkpoint | None]]:
    """`indices` of many sensors (one entry per sensor in each argument), integrated together:
    sensors whose integration spans the same hours with the same model parameters share one
    (time × sensors) pass of `preservation.mould.mould_risk_factors` and `vtt_mould_indices`.

    The same chunks as `indices` (up to the checkpoint, then after it), so the MRF is the same
    bits; the VTT index agrees to floating-point rounding (see `vtt_mould_indices`)."""
    out: list[tuple[FloatArray, FloatArray, Checkpoint | None]] = []
    groups: dict[tuple[int, int, int, Sensitivity, float], list[int]] = {}
    begin: list[tuple[MrfState, VttState]] = []
    for s, hourly in enumerate(hourlies):
        n = hourly.hours.size
        fp = fingerprint(holdings[s], params[s])
        start, index = starts[s], checkpoint_indices[s]
        mrf = np.full(n, np.nan)
        vtt = np.full(n, np.nan)
        state = (MrfState(), VttState())
        first = 0
        k = _continued_from(hourly, start, fp, min(needed_from[s], index))
        if start is not None and k is not None:
            state = (start.mrf, start.vtt)
            mrf[k], vtt[k] = start.mrf.value, start.vtt.index
            first = k + 1
        checkpoint = start if start is not None and k == index >= 0 else None
        out.append((mrf, vtt, checkpoint))
        begin.append(state)
        stop = max(index + 1, first)
        key = (first, stop, n, sensitivity_for(holdings[s], params[s]), decline_for(holdings[s]))
        groups.setdefault(key, []).append(s)
    for (first, stop, n, sensitivity, decline), members in groups.items():
        states = [begin[s] for s in members]
        for lo, hi in ((first, stop), (stop, n)):
            if hi <= lo:
                continue
            t = np.stack([hourlies[s].temperature[lo:hi] for s in members], axis=1)
            rh = np.stack([hourlies[s].humidity[lo:hi] for s in members], axis=1)
            mrf, mrf_ends = mould_risk_factors(t, rh, 1.0, [m for m, _ in states])
            vtt, vtt_ends = vtt_mould_indices(
                t, rh, 1.0, [v for _, v in states], sensitivity=sensitivity, decline=decline
            )
            states = list(zip(mrf_ends, vtt_ends, strict=True))
            for column, s in enumerate(members):
                mrf_s, vtt_s, checkpoint = out[s]
                mrf_s[lo:hi] = mrf[:, column]
                vtt_s[lo:hi] = vtt[:, column]
                if hi == checkpoint_indices[s] + 1:
                    checkpoint = Checkpoint(
                        float(hourlies[s].hours[hi - 1]),
                        states[column][1],
                        states[column][0],
                        fingerprint(holdings[s], params[s]),
                    )
                out[s] = (mrf_s, vtt_s, checkpoint)
    return out
