"""Mechanical damage: the equilibrium moisture content (EMC) of wood and IPI's EMC-based ratings
for mechanical damage and metal corrosion over a series.

Hygroscopic materials (wood, paper, parchment, glue, paint) swell and shrink with their moisture
content; EMC is the moisture content they settle at in a given climate, and its range over a
period is IPI's measure of mechanical-damage risk.

References
----------
[1] Simpson, W. T. (1973). Predicting equilibrium moisture content of wood by mathematical
    models. Wood and Fiber 5(1), 41–49; as given in Forest Products Laboratory (2010), Wood
    Handbook, FPL-GTR-190, ch. 4, eq. 4-5 (Hailwood–Horrobin form).
[2] Image Permanence Institute, Dew Point Calculator, http://www.dpcalc.org/dp.js: EMC table on
    whole °C / % RH for −20…65 °C, and the ratings "mechanical damage OK for 5 % ≤ EMC ≤
    12.5 %, else RISK" and "metal corrosion GOOD below 7 %, OK 7–10.5 %, RISK from 10.5 %", as
    reproduced in the ``preservationeval`` package (github.com/petter-b/preservationeval).
[3] ../shared/science/REFERENCE.md §2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
from numpy.typing import ArrayLike

from repoclimate.preservation._series import (
    FloatArray,
    as_float_array,
    sample_weights,
    scalar_or_array,
)

EMC_RANGE_T_C = (-20.0, 100.0)
"""Temperatures over which :func:`wood_emc` is defined: the Wood Handbook fit is given for about
−1…100 °C [1]; IPI applies the same fit down to −20 °C in dpcalc [2] (its table matches Simpson's
equation there to ±0.05 % MC), and we follow IPI so that cold stores get an EMC."""

EMC_MECHANICAL_MIN_PCT = 5.0
EMC_MECHANICAL_MAX_PCT = 12.5
"""IPI: mechanical-damage risk when EMC leaves 5…12.5 % [2]."""
EMC_CORROSION_GOOD_BELOW_PCT = 7.0
EMC_CORROSION_RISK_FROM_PCT = 10.5
"""IPI metal-corrosion ratings by EMC [2]."""

Rating = Literal["good", "ok", "risk"]


@overload
def wood_emc(t_c: float, rh_pct: float) -> np.float64: ...
@overload
def wood_emc(t_c: ArrayLike, rh_pct: ArrayLike) -> FloatArray: ...
def wood_emc(t_c: ArrayLike, rh_pct: ArrayLike) -> np.float64 | FloatArray:
    """Equilibrium moisture content of wood [% of dry mass].

    Simpson's Hailwood–Horrobin fit [1] with h = RH/100 and T in °C::

        W  = 349 + 1.29·T + 0.0135·T²
        K  = 0.805 + 0.000736·T − 0.00000273·T²
        K₁ = 6.27 − 0.00938·T − 0.000303·T²
        K₂ = 1.91 + 0.0407·T − 0.000293·T²
        EMC = 1800/W · [ K·h/(1 − K·h) + (K₁·K·h + 2·K₁·K₂·K²·h²) / (1 + K₁·K·h + K₁·K₂·K²·h²) ]

    Wood Handbook check: 12.0 % at 21.1 °C (70 °F) / 65 % RH. IPI's dpcalc EMC table is this
    equation on whole °C / % RH.

    Validity: −20…100 °C (see ``EMC_RANGE_T_C``), 0…100 % RH; NaN outside.

    Parameters
    ----------
    t_c : float or array_like
        Temperature [°C].
    rh_pct : float or array_like
        Relative humidity [%].

    References
    ----------
    [1] Simpson (1973); Wood Handbook FPL-GTR-190 (2010), ch. 4.
    [2] IPI dpcalc.org dp.js.
    """
    t = as_float_array(t_c)
    rh = as_float_array(rh_pct)
    valid = (t >= EMC_RANGE_T_C[0]) & (t <= EMC_RANGE_T_C[1]) & (rh >= 0) & (rh <= 100)
    h = np.where(valid, rh / 100.0, np.nan)
    w = 349.0 + 1.29 * t + 0.0135 * t**2
    k = 0.805 + 0.000736 * t - 0.00000273 * t**2
    k1 = 6.27 - 0.00938 * t - 0.000303 * t**2
    k2 = 1.91 + 0.0407 * t - 0.000293 * t**2
    kh = k * h
    emc = (1800.0 / w) * (
        kh / (1.0 - kh) + (k1 * kh + 2.0 * k1 * k2 * kh**2) / (1.0 + k1 * kh + k1 * k2 * kh**2)
    )
    return scalar_or_array(np.where(valid, emc, np.nan))


@dataclass(frozen=True, slots=True)
class EmcRange:
    """IPI's mechanical-damage view of a series: the EMC extremes and time outside 5…12.5 %."""

    emc_min_pct: float
    emc_max_pct: float
    emc_range_pct: float
    hours_below_min: float
    """Hours with EMC below 5 % (too dry: shrinkage, embrittlement)."""
    hours_above_max: float
    """Hours with EMC above 12.5 % (too damp: swelling, softening)."""
    outside_pct: float
    """Share of the valid time spent outside 5…12.5 % [%]."""
    rating: Rating
    """"ok" when EMC stayed within 5…12.5 % throughout, "risk" otherwise (IPI [2])."""


def emc_range(t_c: ArrayLike, rh_pct: ArrayLike, hours: ArrayLike | None = None) -> EmcRange:
    """Mechanical-damage metric of a series: EMC extremes and time outside IPI's safe band.

    IPI rates mechanical-damage risk from the moisture content hygroscopic materials reach: OK
    while EMC stays within 5…12.5 %, RISK when it goes outside [2]. Over a series we report the
    minimum, maximum and range of EMC, the hours below and above the band, the share of time
    outside it, and the rating ("ok" only if no valid sample left the band). ``hours`` are the
    hours each sample stands for (1 each when omitted); NaN samples carry no weight. All fields
    are NaN (rating "ok") for a series with no valid sample.

    References
    ----------
    [2] IPI dpcalc.org dp.js (via ``preservationeval``: rate_mechanical_damage).
    """
    return summarise_emc(wood_emc(t_c, rh_pct), hours)


def summarise_emc(emc_pct: ArrayLike, hours: ArrayLike | None = None) -> EmcRange:
    """:func:`emc_range` of EMC values already computed [%]."""
    emc = np.atleast_1d(as_float_array(emc_pct))
    w = sample_weights(hours, emc.shape)
    ok = np.isfinite(emc) & (w > 0)
    if not np.any(ok):
        nan = float("nan")
        return EmcRange(nan, nan, nan, 0.0, 0.0, nan, "ok")
    values, weights = emc[ok], w[ok]
    below = float(np.sum(weights[values < EMC_MECHANICAL_MIN_PCT]))
    above = float(np.sum(weights[values > EMC_MECHANICAL_MAX_PCT]))
    total = float(np.sum(weights))
    lo, hi = float(np.min(values)), float(np.max(values))
    return EmcRange(
        emc_min_pct=lo,
        emc_max_pct=hi,
        emc_range_pct=hi - lo,
        hours_below_min=below,
        hours_above_max=above,
        outside_pct=100.0 * (below + above) / total,
        rating="ok" if below + above == 0 else "risk",
    )


def mechanical_damage_rating(emc_pct: float) -> Rating:
    """IPI's mechanical-damage rating of one EMC value: "ok" in 5…12.5 %, else "risk" [2]."""
    _require_finite(emc_pct)
    return "ok" if EMC_MECHANICAL_MIN_PCT <= emc_pct <= EMC_MECHANICAL_MAX_PCT else "risk"


def metal_corrosion_rating(emc_pct: float) -> Rating:
    """IPI's metal-corrosion rating by EMC: "good" < 7 %, "ok" 7…10.5 %, "risk" ≥ 10.5 % [2]."""
    _require_finite(emc_pct)
    if emc_pct < EMC_CORROSION_GOOD_BELOW_PCT:
        return "good"
    if emc_pct < EMC_CORROSION_RISK_FROM_PCT:
        return "ok"
    return "risk"


def _require_finite(value: float) -> None:
    if not np.isfinite(value):
        raise ValueError(f"cannot rate an EMC of {value!r}")
