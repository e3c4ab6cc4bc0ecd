"""Fluctuation: a reading further from the running mean than the profile's short-term allowance
(ASHRAE class short-term limits around the running set point, JGJ 25's daily limits).

The profiles define the allowance against a running mean of ``window_hours`` (24 h, or 30 days
for the ASHRAE classes). Live, only the past exists, so the mean here is the trailing mean of the
complete hours before each reading (hourly means, so a 30-day window stays cheap).
"""

from __future__ import annotations

import numpy as np

from repoclimate.alerts.config import FluctuationParams
from repoclimate.alerts.model import Finding, Subject, from_epoch
from repoclimate.alerts.rules.base import ActiveStates, Band, Levels, RuleOutput, exceedances
from repoclimate.alerts.series import FloatArray, HourlySeries, SensorSeries

RULES = ("fluctuation.temperature", "fluctuation.humidity")

_ADVICE = {
    "fluctuation.temperature": (
        "Look for heating or cooling cycling on and off, doors left open, or sun through "
        "windows; rapid swings stress bindings, panels and emulsions."
    ),
    "fluctuation.humidity": (
        "Look for a humidifier or dehumidifier cycling, air handling switching between modes, "
        "or doors to outside air; rapid RH swings make hygroscopic materials swell and shrink."
    ),
}


def window_hours(band: Band, params: FluctuationParams) -> float:
    return params.window_hours if params.window_hours is not None else band.window_hours


def trailing_mean(
    hourly_times: FloatArray,
    hourly_values: FloatArray,
    at: FloatArray,
    hours: float,
    min_coverage: float,
) -> FloatArray:
    """Mean of the hourly values of the ``hours`` complete hours before each time in ``at``;
    NaN where fewer than ``min_coverage`` of those hours have data."""
    n_window = max(round(hours), 1)
    valid = ~np.isnan(hourly_values)
    sums = np.concatenate(([0.0], np.cumsum(np.where(valid, hourly_values, 0.0))))
    counts = np.concatenate(([0], np.cumsum(valid)))
    end = np.searchsorted(hourly_times + 3600.0, at, side="right")  # hours complete by then
    start = np.maximum(end - n_window, 0)
    n = counts[end] - counts[start]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (sums[end] - sums[start]) / n
    result: FloatArray = np.where(n >= min_coverage * n_window, mean, np.nan)
    return result


def evaluate(
    series: SensorSeries,
    hourly: HourlySeries,
    subject: Subject,
    band: Band,
    params: FluctuationParams,
    at: FloatArray,
    active: ActiveStates,
    max_age_s: float,
) -> RuleOutput:
    """Findings of the two fluctuation rules at each evaluation time."""
    out = RuleOutput()
    if not params.enabled:
        return out
    hours = window_hours(band, params)
    t_limit = params.t_deviation_max or band.t_deviation_max
    rh_limit = params.rh_deviation_max or band.rh_deviation_max
    checks = (
        (RULES[0], "temperature", hourly.temperature, t_limit, params.t_margin, "K", "Temperature"),
        (RULES[1], "humidity", hourly.humidity, rh_limit, params.rh_margin, "%RH", "RH"),
    )
    for rule, quantity, hourly_values, limit, margin, unit, name in checks:
        if limit is None:
            continue
        values = series.quantity(quantity)
        valid = ~np.isnan(values)
        times = series.times[valid]
        values = values[valid]
        mean = trailing_mean(hourly.hours, hourly_values, times, hours, params.min_coverage)
        deviation = values - mean
        size = np.where(np.isnan(deviation), 0.0, np.abs(deviation))
        crit = limit * params.critical_factor
        levels = Levels(
            above=True,
            warning=limit,
            warning_clear=max(limit - margin, 0.0),
            critical=crit,
            critical_clear=max(crit - margin, 0.0),
        )
        clear_s = params.clear_after_minutes * 60.0
        for hit in exceedances(out, rule, subject, times, size, at, max_age_s, active, levels):
            i = hit.index
            dev = float(deviation[i]) if np.isfinite(deviation[i]) else 0.0
            summary = (
                f"{name} {values[i]:.1f} is {dev:+.1f} {unit} from its {hours:g}-h "
                f"mean {mean[i]:.1f} (allowed ±{limit:g}, {band.profile})"
            )
            if hit.clearing:
                hold = f" for {clear_s / 60.0:.0f} min" if clear_s > 0 else ""
                summary += (
                    f" — clearing: needs a deviation within ±{levels.warning_clear:g} {unit}{hold}"
                )
            out.findings.append(
                (
                    hit.step,
                    Finding(
                        rule=rule,
                        subject=subject,
                        severity=hit.severity,
                        since=from_epoch(hit.since),
                        value=abs(dev),
                        threshold=float(limit),
                        unit=unit,
                        summary=summary,
                        advice=_ADVICE[rule],
                        for_s=params.for_minutes * 60.0,
                        clear_s=clear_s,
                    ),
                )
            )
    return out
