"""Sensor health: silent for a multiple of its expected interval, stuck (flat-lined) values,
battery low, readings outside the physical range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, tzinfo

import numpy as np

from repoclimate.alerts.config import HealthParams
from repoclimate.alerts.model import Finding, Severity, Subject, from_epoch
from repoclimate.alerts.rules.base import (
    ActiveStates,
    RuleOutput,
    fresh_steps,
    since_times,
    span,
    when,
)
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
    *,
    heard_before: float | None = None,
    opened: float | None = None,
    zone: tzinfo = UTC,
) -> RuleOutput:
    """Findings of the four health rules at each evaluation time.

    Silence is counted from the sensor's last reading: in the window, else ``heard_before``
    (its last reading before the window, when the store knows one). A sensor heard of neither
    way is silent only once ``silent_factor`` × its interval has passed since the window
    opened (``opened`` when later than the window's start: the backtest's start) — and, when
    the room's sensors began reporting later (``first_seen``, the first reading of any sensor
    of the room in the window, epoch s), since then: a room whose sensors began reporting an
    hour ago does not have one silent for a day, and before anything was measured nothing is
    silent. Times in the texts are in ``zone`` (the site's).
    """
    out = RuleOutput()
    if not params.enabled:
        return out
    silent_after = params.silent_factor * expected_interval_s
    times = series.times
    idx, fresh = fresh_steps(times, at, silent_after)
    clear_s = params.clear_after_minutes * 60.0
    window_opened = series.start if opened is None else max(series.start, opened)
    _silent(
        series,
        subject,
        idx,
        fresh,
        silent_after,
        at,
        out,
        _Unheard(window_opened, first_seen, heard_before),
        clear_s,
        zone,
    )
    for rule in RULES[1:]:
        out.hold(fresh, rule, subject)
    if times.size == 0:
        return out
    _stuck(series, subject, params, idx, fresh, out)
    _battery(series, subject, params, at, silent_after, active, out)
    _out_of_range(series, subject, params, idx, fresh, active, out)
    return out


@dataclass(frozen=True, slots=True)
class _Unheard:
    """What is known about a sensor with no reading in the window."""

    opened: float
    first_seen: float | None
    heard_before: float | None

    def counted_from(self, t: float) -> float:
        """Since when a sensor never heard is silent at ``t``."""
        if self.first_seen is not None and self.first_seen <= t:
            return max(self.opened, self.first_seen)
        return self.opened


def _silent(
    series: SensorSeries,
    subject: Subject,
    idx: IntArray,
    fresh: BoolArray,
    silent_after: float,
    at: FloatArray,
    out: RuleOutput,
    unheard: _Unheard,
    clear_s: float,
    zone: tzinfo,
) -> None:
    times = series.times
    for step in np.nonzero(~fresh)[0]:
        t = float(at[step])
        if times.size > 0 and times[idx[step]] <= t:
            last: float | None = float(times[idx[step]])
        else:
            last = unheard.heard_before if unheard.heard_before is not None else None
        if last is not None:
            since = last
            summary = f"No reading for {span(t - last)} (last reading {when(last, zone)})"
        else:
            since = min(unheard.counted_from(t), t)
            if t - since < silent_after:
                # nothing was expected yet: not silent, and not known to be speaking either
                out.held.append((int(step), RULES[0], subject.id))
                continue
            summary = f"No reading for at least {span(t - since)} (none since {when(since, zone)})"
        out.findings.append(
            (
                int(step),
                Finding(
                    rule=RULES[0],
                    subject=subject,
                    severity=Severity.WARNING,
                    since=from_epoch(since),
                    value=t - since,
                    threshold=silent_after,
                    unit="s",
                    summary=summary,
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
