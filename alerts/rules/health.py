"""Sensor health: silent for a multiple of its expected interval, stuck (flat-lined) values,
battery low, readings outside the physical range."""

from __future__ import annotations

import numpy as np

from repoclimate.alerts.config import HealthParams
from repoclimate.alerts.model import Finding, Severity, Subject, from_epoch
from repoclimate.alerts.rules.base import ActiveStates, RuleOutput, fresh_steps, since_times, when
from repoclimate.alerts.series import (
    BoolArray,
    FloatArray,
    IntArray,
    SensorSeries,
    episode_starts,
    hysteresis_below,
    hysteresis_mask,
)

RULES = ("sensor.silent", "sensor.stuck", "sensor.battery_low", "sensor.out_of_range")


def evaluate(
    series: SensorSeries,
    subject: Subject,
    expected_interval_s: float,
    params: HealthParams,
    at: FloatArray,
    active: ActiveStates,
    first_seen: float | None = None,
) -> RuleOutput:
    """Findings of the four health rules at each evaluation time.

    ``first_seen``: the first reading of any sensor of the room in the window (epoch s). A
    sensor with no reading at all in the window is silent since then at the earliest — a
    room whose sensors began reporting an hour ago does not have one silent for a day.
    """
    out = RuleOutput()
    if not params.enabled:
        return out
    silent_after = params.silent_factor * expected_interval_s
    times = series.times
    idx, fresh = fresh_steps(times, at, silent_after)
    clear_s = params.clear_after_minutes * 60.0
    _silent(series, subject, idx, fresh, silent_after, at, out, first_seen, clear_s)
    for rule in RULES[1:]:
        out.hold(fresh, rule, subject)
    if times.size == 0:
        return out
    _stuck(series, subject, params, idx, fresh, out)
    _battery(series, subject, params, at, silent_after, active, out)
    _out_of_range(series, subject, params, idx, fresh, active, out)
    return out


def _silent(
    series: SensorSeries,
    subject: Subject,
    idx: IntArray,
    fresh: BoolArray,
    silent_after: float,
    at: FloatArray,
    out: RuleOutput,
    first_seen: float | None,
    clear_s: float,
) -> None:
    times = series.times
    unheard_since = series.start if first_seen is None else max(series.start, first_seen)
    for step in np.nonzero(~fresh)[0]:
        t = float(at[step])
        has = times.size > 0 and times[idx[step]] <= t
        last = float(times[idx[step]]) if has else min(unheard_since, t)
        gap = t - last
        heard = f"last reading {when(last)}" if has else f"no reading since {when(last)}"
        out.findings.append(
            (
                int(step),
                Finding(
                    rule=RULES[0],
                    subject=subject,
                    severity=Severity.WARNING,
                    since=from_epoch(last),
                    value=gap,
                    threshold=silent_after,
                    unit="s",
                    summary=f"No reading for {gap / 60:.0f} min ({heard})",
                    advice=(
                        "Check the sensor's battery and radio link (gateway, Zigbee coordinator, "
                        "Wi-Fi), then the collector's log for rejected messages from it."
                    ),
                    clear_s=clear_s,
                ),
            )
        )


def _run_starts(values: FloatArray) -> IntArray:
    """Index where the current run of equal values began, per sample (NaN continues a run)."""
    n = values.size
    filled = values.copy()
    valid = ~np.isnan(filled)
    if not np.any(valid):
        return np.zeros(n, dtype=np.int64)
    last = np.maximum.accumulate(np.where(valid, np.arange(n), -1))
    filled = np.where(last >= 0, values[np.maximum(last, 0)], np.nan)
    changed = np.ones(n, dtype=np.bool_)
    changed[1:] = ~(filled[1:] == filled[:-1])
    changed[1:] &= ~(np.isnan(filled[1:]) & np.isnan(filled[:-1]))
    starts: IntArray = np.maximum.accumulate(np.where(changed, np.arange(n), 0)).astype(np.int64)
    return starts


def _stuck(
    series: SensorSeries,
    subject: Subject,
    params: HealthParams,
    idx: IntArray,
    fresh: BoolArray,
    out: RuleOutput,
) -> None:
    times = series.times
    run_start = np.zeros(times.size, dtype=np.int64)
    reported = False
    for values in (series.temperature, series.humidity):
        if np.all(np.isnan(values)):
            continue
        reported = True
        run_start = np.maximum(run_start, _run_starts(values))
    if not reported:
        return
    valid_any = ~(np.isnan(series.temperature) & np.isnan(series.humidity))
    cum = np.concatenate(([0], np.cumsum(valid_any)))
    i_all = np.arange(times.size)
    readings = cum[i_all + 1] - cum[run_start]
    duration = times - times[run_start]
    stuck = (duration >= params.stuck_hours * 3600.0) & (readings >= params.stuck_min_readings)
    for step in np.nonzero(fresh & stuck[idx])[0]:
        i = int(idx[step])
        began = float(times[run_start[i]])
        out.findings.append(
            (
                int(step),
                Finding(
                    rule=RULES[1],
                    subject=subject,
                    severity=Severity.WARNING,
                    since=from_epoch(began),
                    value=float(duration[i]) / 3600.0,
                    threshold=params.stuck_hours,
                    unit="h",
                    summary=(
                        f"Same values for {duration[i] / 3600.0:.1f} h "
                        f"({int(readings[i])} readings)"
                    ),
                    advice=(
                        "The sensor reports but its values do not change: check that it is not "
                        "frozen, saturated or reporting a cached value; power-cycle it."
                    ),
                    clear_s=params.clear_after_minutes * 60.0,
                ),
            )
        )


def _battery(
    series: SensorSeries,
    subject: Subject,
    params: HealthParams,
    at: FloatArray,
    max_age_s: float,
    active: ActiveStates,
    out: RuleOutput,
) -> None:
    rule = RULES[2]
    valid = ~np.isnan(series.battery)
    if not np.any(valid):
        return
    times = series.times[valid]
    values = series.battery[valid]
    was = rule in active
    on = hysteresis_below(
        values, params.battery_warning, params.battery_warning + params.battery_margin, was
    )
    critical = values < params.battery_critical
    since = since_times(episode_starts(on, was), times)
    # battery is reported rarely: judge by the last battery value, however old
    idx, _ = fresh_steps(times, at, np.inf)
    has = np.searchsorted(times, at, side="right") > 0
    for step in np.nonzero(has & on[idx])[0]:
        i = int(idx[step])
        value = float(values[i])
        out.findings.append(
            (
                int(step),
                Finding(
                    rule=rule,
                    subject=subject,
                    severity=Severity.CRITICAL if critical[i] else Severity.WARNING,
                    since=from_epoch(since[i]),
                    value=value,
                    threshold=params.battery_warning,
                    unit="%",
                    summary=f"Battery at {value:.0f} %",
                    advice="Replace or recharge the battery before the sensor falls silent.",
                    clear_s=params.clear_after_minutes * 60.0,
                ),
            )
        )


def _out_of_range(
    series: SensorSeries,
    subject: Subject,
    params: HealthParams,
    idx: IntArray,
    fresh: BoolArray,
    active: ActiveStates,
    out: RuleOutput,
) -> None:
    rule = RULES[3]
    t_lo, t_hi = params.temperature_range
    h_lo, h_hi = params.humidity_range
    t = series.temperature
    h = series.humidity
    with np.errstate(invalid="ignore"):
        t_bad = (t < t_lo) | (t > t_hi)
        h_bad = (h < h_lo) | (h > h_hi)
        t_good = (t >= t_lo) & (t <= t_hi)
        h_good = (h >= h_lo) & (h <= h_hi)
    was = rule in active
    t_on = hysteresis_mask(t_bad, t_good, was)
    h_on = hysteresis_mask(h_bad, h_good, was)
    on = t_on | h_on
    since = since_times(episode_starts(on, was), series.times)
    last_t = _last_valid(t)
    last_h = _last_valid(h)
    for step in np.nonzero(fresh & on[idx])[0]:
        i = int(idx[step])
        if t_on[i]:
            value, unit, lo, hi, name = last_t[i], "°C", t_lo, t_hi, "Temperature"
        else:
            value, unit, lo, hi, name = last_h[i], "%RH", h_lo, h_hi, "RH"
        threshold = hi if value > hi else lo
        out.findings.append(
            (
                int(step),
                Finding(
                    rule=rule,
                    subject=subject,
                    severity=Severity.WARNING,
                    since=from_epoch(since[i]),
                    value=float(value),
                    threshold=threshold,
                    unit=unit,
                    summary=f"{name} reading {value:.1f} {unit} outside {lo:g}…{hi:g} {unit}",
                    advice=(
                        "A reading no room can have: check the probe (wet, detached, broken) "
                        "and the sensor's registry entry (calibration, humidity as a fraction)."
                    ),
                    clear_s=params.out_of_range_clear_minutes * 60.0,
                ),
            )
        )


def _last_valid(values: FloatArray) -> FloatArray:
    n = values.size
    valid = ~np.isnan(values)
    last = np.maximum.accumulate(np.where(valid, np.arange(n), -1))
    result: FloatArray = np.where(last >= 0, values[np.maximum(last, 0)], np.nan)
    return result
