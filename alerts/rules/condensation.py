"""Condensation: the room air's dew point within a margin of a surface temperature where a
surface sensor exists; RH near saturation at the sensors of rooms without one."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from repoclimate.alerts.config import CondensationParams
from repoclimate.alerts.model import Finding, Severity, Subject, from_epoch
from repoclimate.alerts.rules.base import ActiveStates, RuleOutput, fresh_steps, since_times
from repoclimate.alerts.series import (
    FloatArray,
    SensorSeries,
    episode_starts,
    hysteresis_above,
    hysteresis_below,
    resample_ffill,
)
from repoclimate.preservation.psychrometrics import dew_point

SURFACE = "condensation.surface"
SATURATION = "condensation.saturation"
RULES = (SURFACE, SATURATION)


def air_dew_point(air: Sequence[SensorSeries], times: FloatArray, max_age_s: float) -> FloatArray:
    """The highest dew point among the room's air sensors at ``times`` (worst case) [°C]."""
    worst = np.full(times.size, np.nan)
    for series in air:
        valid = ~np.isnan(series.temperature) & ~np.isnan(series.humidity)
        if not np.any(valid):
            continue
        dp = np.asarray(
            dew_point(series.temperature[valid], series.humidity[valid]), dtype=np.float64
        )
        at_times = resample_ffill(series.times[valid], dp, times, max_age_s)
        worst = np.fmax(worst, at_times)
    return worst


def evaluate_surface(
    surface: SensorSeries,
    subject: Subject,
    air: Sequence[SensorSeries],
    params: CondensationParams,
    at: FloatArray,
    active: ActiveStates,
    max_age_s: float,
) -> RuleOutput:
    """Surface temperature minus the air's dew point against the margin, per surface sensor."""
    out = RuleOutput()
    if not params.enabled:
        return out
    valid = ~np.isnan(surface.temperature)
    times = surface.times[valid]
    t_surface = surface.temperature[valid]
    dp = air_dew_point(air, times, params.max_age_minutes * 60.0)
    margin = t_surface - dp
    known = ~np.isnan(margin)
    times, t_surface, dp, margin = times[known], t_surface[known], dp[known], margin[known]
    idx, fresh = fresh_steps(times, at, max_age_s)
    out.hold(fresh, SURFACE, subject)
    if times.size == 0:
        return out
    was = SURFACE in active
    warn = params.dew_point_margin_k
    on = hysteresis_below(margin, warn, warn + params.clear_margin_k, was)
    crit = params.critical_margin_k
    critical = hysteresis_below(
        margin, crit, crit + params.clear_margin_k, active.get(SURFACE) == Severity.CRITICAL
    )
    since = since_times(episode_starts(on, was), times)
    for step in np.nonzero(fresh & on[idx])[0]:
        i = int(idx[step])
        out.findings.append(
            (
                int(step),
                Finding(
                    rule=SURFACE,
                    subject=subject,
                    severity=Severity.CRITICAL if critical[i] else Severity.WARNING,
                    since=from_epoch(since[i]),
                    value=float(margin[i]),
                    threshold=warn,
                    unit="K",
                    summary=(
                        f"Surface at {t_surface[i]:.1f} °C is only {margin[i]:.1f} K above the "
                        f"air's dew point {dp[i]:.1f} °C"
                    ),
                    advice=(
                        "Look for wet patches on this wall or floor; raise the surface "
                        "temperature or lower the air's moisture, and move holdings away from "
                        "cold outside walls."
                    ),
                    for_s=params.for_minutes * 60.0,
                    clear_s=params.clear_after_minutes * 60.0,
                ),
            )
        )
    return out


def evaluate_saturation(
    series: SensorSeries,
    subject: Subject,
    params: CondensationParams,
    at: FloatArray,
    active: ActiveStates,
    max_age_s: float,
) -> RuleOutput:
    """RH near saturation at an air sensor (rooms without a surface sensor)."""
    out = RuleOutput()
    if not params.enabled:
        return out
    valid = ~np.isnan(series.humidity)
    times = series.times[valid]
    rh = series.humidity[valid]
    idx, fresh = fresh_steps(times, at, max_age_s)
    out.hold(fresh, SATURATION, subject)
    if times.size == 0:
        return out
    was = SATURATION in active
    on = hysteresis_above(rh, params.rh_warning, params.rh_warning - params.rh_clear_margin, was)
    critical = hysteresis_above(
        rh,
        params.rh_critical,
        params.rh_critical - params.rh_clear_margin,
        active.get(SATURATION) == Severity.CRITICAL,
    )
    since = since_times(episode_starts(on, was), times)
    for step in np.nonzero(fresh & on[idx])[0]:
        i = int(idx[step])
        out.findings.append(
            (
                int(step),
                Finding(
                    rule=SATURATION,
                    subject=subject,
                    severity=Severity.CRITICAL if critical[i] else Severity.WARNING,
                    since=from_epoch(since[i]),
                    value=float(rh[i]),
                    threshold=params.rh_warning,
                    unit="%RH",
                    summary=f"RH {rh[i]:.1f} % — the air is close to saturation",
                    advice=(
                        "Condensation forms on anything slightly colder than the air: look for "
                        "water on walls, pipes and boxes, and find the moisture source."
                    ),
                    for_s=params.for_minutes * 60.0,
                    clear_s=params.clear_after_minutes * 60.0,
                ),
            )
        )
    return out
