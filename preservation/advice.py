"""What to change: the smallest change of a room's present condition that reaches a goal.

For a present temperature and RH, two levers, each alone:

- the RH change at the present temperature (dehumidify or humidify), and
- the temperature change at the present absolute humidity (heat or cool the same air, whose
  RH then follows: cooling raises it, warming lowers it — see
  `preservation.psychrometrics.rh_at_temperature`),

and three goals: (a) out of IPI's mould risk (`preservation.mould.days_to_mould` infinite),
(b) inside a climate profile's band (`preservation.profiles`), (c) an IPI natural-aging rating
(`preservation.decay.preservation_index`) of at least "ok". Each function returns the smallest
signed change that reaches its goal (0 when already there), or None when that lever alone
cannot reach it within its search range. Alert messages, pages and reports phrase them
(:func:`mould_advice`).

Changes are found on a grid of 0.01 % RH or 0.01 K (exact to that step), the nearest point that
reaches the goal, searched within ``max_change`` of the present value; temperatures stay within
the psychrometric functions' range (−40…50 °C), and air that would be cooled to or below its dew
point (RH ≥ 100 %) never counts as reaching a goal. The mould goal is searched only within IPI's
domain (2…45 °C): that the table reports no risk below 2 °C or above 45 °C is the edge of the
model, not a remedy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from repoclimate.preservation._series import BoolArray, FloatArray
from repoclimate.preservation.decay import PI_RISK_YEARS, preservation_index
from repoclimate.preservation.mould import MOULD_T_RANGE_C, days_to_mould, mould_rh_threshold
from repoclimate.preservation.profiles import Profile, get_profile
from repoclimate.preservation.psychrometrics import MAGNUS_RANGE_C, rh_at_temperature

STEP = 0.01
"""Resolution of the changes [% RH or K]."""
MAX_RH_CHANGE_PCT = 100.0
MAX_T_CHANGE_K = 20.0
"""How far each lever is searched from the present value."""

Goal = Callable[[FloatArray, FloatArray], BoolArray]
"""Whether conditions (T [°C], RH [%]) reach a goal, elementwise."""


def out_of_mould_risk(t: FloatArray, rh: FloatArray) -> BoolArray:
    """IPI predicts no germination, inside IPI's domain 2…45 °C and below saturation."""
    inside = (t >= MOULD_T_RANGE_C[0]) & (t <= MOULD_T_RANGE_C[1])
    result: BoolArray = inside & (rh < 100.0) & np.isinf(days_to_mould(t, rh))
    return result


def in_band(profile: Profile) -> Goal:
    """Inside the profile's temperature and RH band (limits included)."""

    def goal(t: FloatArray, rh: FloatArray) -> BoolArray:
        result: BoolArray = (
            (t >= profile.t_min_c)
            & (t <= profile.t_max_c)
            & (rh >= profile.rh_min_pct)
            & (rh <= profile.rh_max_pct)
            & (rh < 100.0)
        )
        return result

    return goal


def pi_at_least_ok(t: FloatArray, rh: FloatArray) -> BoolArray:
    """IPI's natural-aging rating at least "ok": PI ≥ 45 years."""
    result: BoolArray = (rh < 100.0) & (preservation_index(t, rh) >= PI_RISK_YEARS)
    return result


def _nearest(
    reaches: Callable[[FloatArray], BoolArray], present: float, low: float, high: float
) -> float | None:
    """The smallest signed change from ``present`` within [low, high], on the STEP grid, at
    which ``reaches`` holds; 0 when it holds at ``present``; None when nowhere."""
    if not (math.isfinite(present) and low <= high):
        return None
    if bool(reaches(np.array([present]))[0]):
        return 0.0
    steps = np.arange(math.ceil((low - present) / STEP), math.floor((high - present) / STEP) + 1)
    changes: FloatArray = steps.astype(np.float64) * STEP
    ok = reaches(present + changes)
    if not np.any(ok):
        return None
    found = changes[ok]
    best = found[np.argmin(np.abs(found) - 1e-9 * np.sign(found))]  # ties: the lower value
    return round(float(best), 2)


def rh_change(
    t_c: float, rh_pct: float, goal: Goal, max_change: float = MAX_RH_CHANGE_PCT
) -> float | None:
    """Smallest RH change [% RH] at the present temperature that reaches ``goal`` (negative:
    lower the RH); None when no RH within ``max_change`` does (e.g. the temperature alone is
    outside the band)."""
    t = np.float64(t_c)
    return _nearest(
        lambda rh: goal(np.full(rh.shape, t), rh),
        float(rh_pct),
        max(0.0, rh_pct - max_change),
        min(100.0, rh_pct + max_change),
    )


def temperature_change(
    t_c: float, rh_pct: float, goal: Goal, max_change: float = MAX_T_CHANGE_K
) -> float | None:
    """Smallest temperature change [K] of the same air (its absolute humidity kept) that reaches
    ``goal``: warming lowers its RH, cooling raises it. None when none within ``max_change``."""

    def reaches(t_new: FloatArray) -> BoolArray:
        rh_new = np.asarray(rh_at_temperature(t_c, rh_pct, t_new), dtype=np.float64)
        result: BoolArray = np.isfinite(rh_new) & goal(t_new, np.minimum(rh_new, 100.0))
        return result

    return _nearest(
        reaches,
        float(t_c),
        max(MAGNUS_RANGE_C[0], t_c - max_change),
        min(MAGNUS_RANGE_C[1], t_c + max_change),
    )


@dataclass(frozen=True, slots=True)
class Levers:
    """For one goal: the RH change at the present temperature and the temperature change at the
    present absolute humidity that reach it (None: that lever alone cannot)."""

    rh_pct: float | None
    t_k: float | None


@dataclass(frozen=True, slots=True)
class WhatToChange:
    """The levers for each goal, for one present condition."""

    leave_mould_risk: Levers
    into_band: Levers
    pi_ok: Levers


def what_to_change(t_c: float, rh_pct: float, profile: Profile | str) -> WhatToChange:
    """Both levers for the three goals (mould, the profile's band, PI ≥ ok)."""
    prof = get_profile(profile) if isinstance(profile, str) else profile
    goals: tuple[Goal, Goal, Goal] = (out_of_mould_risk, in_band(prof), pi_at_least_ok)
    mould, band, pi = (
        Levers(rh_change(t_c, rh_pct, g), temperature_change(t_c, rh_pct, g)) for g in goals
    )
    return WhatToChange(mould, band, pi)


def cooling_makes_mould_worse(t_c: float, rh_pct: float, by_k: float = 1.0) -> bool:
    """Whether cooling the same air by ``by_k`` shortens IPI's days to germination or brings it
    to saturation (condensation)."""
    rh_cooler = float(rh_at_temperature(t_c, rh_pct, t_c - by_k))
    if not math.isfinite(rh_cooler) or rh_cooler >= 100.0:
        return True
    return bool(days_to_mould(t_c - by_k, rh_cooler) < days_to_mould(t_c, rh_pct))


def mould_advice(t_c: float, rh_pct: float) -> str:
    """One sentence on what takes the present condition out of IPI's mould risk, e.g. "lower RH
    by 12 % (below 78 %) to leave mould risk; or warm the air by 3.2 °C at the same absolute
    humidity; cooling alone makes it worse". Empty when there is no risk now."""
    levers = Levers(
        rh_change(t_c, rh_pct, out_of_mould_risk),
        temperature_change(t_c, rh_pct, out_of_mould_risk),
    )
    if levers.rh_pct == 0.0 or levers.t_k == 0.0:
        return ""
    parts = []
    if levers.rh_pct is not None:
        below = float(mould_rh_threshold(t_c))
        parts.append(
            f"lower RH by {math.ceil(-levers.rh_pct)} % (below {below:g} %) to leave mould risk"
        )
    if levers.t_k is not None and levers.t_k > 0:
        parts.append(f"or warm the air by {levers.t_k:.1f} °C at the same absolute humidity")
    if cooling_makes_mould_worse(t_c, rh_pct):
        parts.append("cooling alone makes it worse")
    return "; ".join(parts)
