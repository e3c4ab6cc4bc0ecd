"""Sustained excursion: temperature or RH outside the room's band for longer than a set time,
with hysteresis — an excursion clears only once back inside the band by a margin."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from repoclimate.alerts.config import ExcursionParams
from repoclimate.alerts.model import Finding, Severity, Subject, from_epoch
from repoclimate.alerts.rules.base import ActiveStates, Band, RuleOutput, fresh_steps, since_times
from repoclimate.alerts.series import (
    FloatArray,
    SensorSeries,
    episode_starts,
    hysteresis_above,
    hysteresis_below,
)

RULES = (
    "excursion.temperature_high",
    "excursion.temperature_low",
    "excursion.humidity_high",
    "excursion.humidity_low",
)

_ADVICE = {
    "excursion.humidity_high": (
        "Check the dehumidifier or air handling (running? tank full? set point?), doors and "
        "windows, and any water ingress; RH above 65 % for days lets mould germinate on paper."
    ),
    "excursion.humidity_low": (
        "Check humidification and for heating running hot; very dry air embrittles paper, "
        "parchment and photographic emulsions."
    ),
    "excursion.temperature_high": (
        "Check the heating or cooling plant and its set point, sun on the walls, and equipment "
        "left running; heat speeds chemical decay."
    ),
    "excursion.temperature_low": (
        "Check the heating and for open doors or windows; cold raises RH and the risk of "
        "condensation."
    ),
}


@dataclass(frozen=True, slots=True)
class _Direction:
    rule: str
    quantity: str
    above: bool
    limit: float
    margin: float
    critical_offset: float
    unit: str
    label: str


def _directions(band: Band, p: ExcursionParams) -> Iterable[_Direction]:
    t_min = p.t_min if p.t_min is not None else band.t_min
    t_max = p.t_max if p.t_max is not None else band.t_max
    rh_min = p.rh_min if p.rh_min is not None else band.rh_min
    rh_max = p.rh_max if p.rh_max is not None else band.rh_max
    if t_max is not None:
        yield _Direction(
            RULES[0],
            "temperature",
            True,
            t_max,
            p.t_margin,
            p.critical_t_offset,
            "°C",
            "Temperature",
        )
    if t_min is not None:
        yield _Direction(
            RULES[1],
            "temperature",
            False,
            t_min,
            p.t_margin,
            p.critical_t_offset,
            "°C",
            "Temperature",
        )
    if rh_max is not None:
        yield _Direction(
            RULES[2], "humidity", True, rh_max, p.rh_margin, p.critical_rh_offset, "%RH", "RH"
        )
    if rh_min is not None:
        yield _Direction(
            RULES[3], "humidity", False, rh_min, p.rh_margin, p.critical_rh_offset, "%RH", "RH"
        )


def evaluate(
    series: SensorSeries,
    subject: Subject,
    band: Band,
    params: ExcursionParams,
    at: FloatArray,
    active: ActiveStates,
    max_age_s: float,
) -> RuleOutput:
    """Findings of the four excursion rules at each evaluation time."""
    out = RuleOutput()
    if not params.enabled:
        return out
    for d in _directions(band, params):
        values = series.quantity(d.quantity)
        valid = ~np.isnan(values)
        times = series.times[valid]
        values = values[valid]
        idx, fresh = fresh_steps(times, at, max_age_s)
        out.hold(fresh, d.rule, subject)
        if times.size == 0:
            continue
        was = d.rule in active
        was_critical = active.get(d.rule) == Severity.CRITICAL
        if d.above:
            on = hysteresis_above(values, d.limit, d.limit - d.margin, was)
            crit_level = d.limit + d.critical_offset
            critical = hysteresis_above(values, crit_level, crit_level - d.margin, was_critical)
        else:
            on = hysteresis_below(values, d.limit, d.limit + d.margin, was)
            crit_level = d.limit - d.critical_offset
            critical = hysteresis_below(values, crit_level, crit_level + d.margin, was_critical)
        since = since_times(episode_starts(on, was), times)
        side = "above" if d.above else "below"
        for step in np.nonzero(fresh & on[idx])[0]:
            i = int(idx[step])
            value = float(values[i])
            severity = Severity.CRITICAL if critical[i] else Severity.WARNING
            begun = from_epoch(since[i])
            out.findings.append(
                (
                    int(step),
                    Finding(
                        rule=d.rule,
                        subject=subject,
                        severity=severity,
                        since=begun,
                        value=value,
                        threshold=d.limit,
                        unit=d.unit,
                        summary=(
                            f"{d.label} {value:.1f} {d.unit} {side} the {band.profile} band "
                            f"limit {d.limit:g} {d.unit}"
                        ),
                        advice=_ADVICE[d.rule],
                        for_s=params.for_minutes * 60.0,
                        clear_s=params.clear_after_minutes * 60.0,
                    ),
                )
            )
    return out
