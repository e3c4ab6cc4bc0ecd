"""Sustained excursion: temperature or RH outside the room's band for longer than a set time,
with hysteresis — an excursion clears only once back inside the band by a margin."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from repoclimate.alerts.config import ExcursionParams
from repoclimate.alerts.model import Finding, Subject, from_epoch
from repoclimate.alerts.rules.base import ActiveStates, Band, Levels, RuleOutput, exceedances
from repoclimate.alerts.series import FloatArray, SensorSeries

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
    clear_s = params.clear_after_minutes * 60.0
    for d in _directions(band, params):
        values = series.quantity(d.quantity)
        valid = ~np.isnan(values)
        times = series.times[valid]
        values = values[valid]
        sign = 1.0 if d.above else -1.0
        crit_level = d.limit + sign * d.critical_offset
        levels = Levels(
            above=d.above,
            warning=d.limit,
            warning_clear=d.limit - sign * d.margin,
            critical=crit_level,
            critical_clear=crit_level - sign * d.margin,
        )
        side = "above" if d.above else "below"
        back = "back below" if d.above else "back above"
        for hit in exceedances(out, d.rule, subject, times, values, at, max_age_s, active, levels):
            value = float(values[hit.index])
            if hit.clearing:
                summary = (
                    f"{d.label} {value:.1f} {d.unit}, {back} the {band.profile} band limit "
                    f"{d.limit:g} {d.unit} — {levels.clearing_note(d.label, d.unit, clear_s)}"
                )
            else:
                summary = (
                    f"{d.label} {value:.1f} {d.unit} {side} the {band.profile} band "
                    f"limit {d.limit:g} {d.unit}"
                )
            out.findings.append(
                (
                    hit.step,
                    Finding(
                        rule=d.rule,
                        subject=subject,
                        severity=hit.severity,
                        since=from_epoch(hit.since),
                        value=value,
                        threshold=d.limit,
                        unit=d.unit,
                        summary=summary,
                        advice=_ADVICE[d.rule],
                        for_s=params.for_minutes * 60.0,
                        clear_s=clear_s,
                    ),
                )
            )
    return out
