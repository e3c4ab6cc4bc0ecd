"""Condensation: the room air's dew point within a margin of a surface temperature where a
surface sensor exists; RH near saturation at the sensors of rooms without one."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from repoclimate.alerts.config import CondensationParams
from repoclimate.alerts.model import Finding, Subject, from_epoch
from repoclimate.alerts.rules.base import ActiveStates, Levels, RuleOutput, exceedances
from repoclimate.alerts.series import FloatArray, SensorSeries, resample_ffill
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
    warn = params.dew_point_margin_k
    crit = params.critical_margin_k
    levels = Levels(
        above=False,
        warning=warn,
        warning_clear=warn + params.clear_margin_k,
        critical=crit,
        critical_clear=crit + params.clear_margin_k,
    )
    clear_s = params.clear_after_minutes * 60.0
    for hit in exceedances(out, SURFACE, subject, times, margin, at, max_age_s, active, levels):
        i = hit.index
        if hit.clearing:
            hold = f" for {clear_s / 60.0:.0f} min" if clear_s > 0 else ""
            summary = (
                f"Surface at {t_surface[i]:.1f} °C is {margin[i]:.1f} K above the air's dew "
                f"point {dp[i]:.1f} °C, more than the {warn:g} K warning margin — clearing: "
                f"needs ≥ {levels.warning_clear:g} K{hold}"
            )
        else:
            summary = (
                f"Surface at {t_surface[i]:.1f} °C is only {margin[i]:.1f} K above the "
                f"air's dew point {dp[i]:.1f} °C"
            )
        out.findings.append(
            (
                hit.step,
                Finding(
                    rule=SURFACE,
                    subject=subject,
                    severity=hit.severity,
                    since=from_epoch(hit.since),
                    value=float(margin[i]),
                    threshold=warn,
                    unit="K",
                    summary=summary,
                    advice=(
                        "Look for wet patches on this wall or floor; raise the surface "
                        "temperature or lower the air's moisture, and move holdings away from "
                        "cold outside walls."
                    ),
                    for_s=params.for_minutes * 60.0,
                    clear_s=clear_s,
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
    levels = Levels(
        above=True,
        warning=params.rh_warning,
        warning_clear=params.rh_warning - params.rh_clear_margin,
        critical=params.rh_critical,
        critical_clear=params.rh_critical - params.rh_clear_margin,
    )
    clear_s = params.clear_after_minutes * 60.0
    for hit in exceedances(out, SATURATION, subject, times, rh, at, max_age_s, active, levels):
        i = hit.index
        if hit.clearing:
            summary = (
                f"RH {rh[i]:.1f} %, back below {params.rh_warning:g} % — "
                f"{levels.clearing_note('RH', '%', clear_s)}"
            )
        else:
            summary = f"RH {rh[i]:.1f} % — the air is close to saturation"
        out.findings.append(
            (
                hit.step,
                Finding(
                    rule=SATURATION,
                    subject=subject,
                    severity=hit.severity,
                    since=from_epoch(hit.since),
                    value=float(rh[i]),
                    threshold=params.rh_warning,
                    unit="%RH",
                    summary=summary,
                    advice=(
                        "Condensation forms on anything slightly colder than the air: look for "
                        "water on walls, pipes and boxes, and find the moisture source."
                    ),
                    for_s=params.for_minutes * 60.0,
                    clear_s=clear_s,
                ),
            )
        )
    return out
