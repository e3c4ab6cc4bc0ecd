"""Chemical decay: IPI's Preservation Index and its time-weighted mean, and the lifetime
multiplier for paper.

Both models are Arrhenius kinetics with a humidity term. Over a varying climate what adds up is
the *rate* of decay (1/lifetime), so series are summarised by averaging rates, never lifetimes:
a week at PI = 10 years does far more harm than a week at PI = 100 years does good.

References
----------
[1] Reilly, J. M., Nishimura, D. W. & Zinn, E. (1995). New Tools for Preservation: Assessing
    Long-Term Environmental Effects on Library and Archives Collections. Commission on
    Preservation and Access, Washington DC.
[2] Padfield, T. (2004). The Preservation Index and the Time Weighted Preservation Index.
    https://www.conservationphysics.org/twpi/twpi_01.html
[3] Image Permanence Institute, Dew Point Calculator, http://www.dpcalc.org/dp.js (its PI and
    rating logic as reproduced in the ``preservationeval`` package, github.com/petter-b/
    preservationeval, whose validated cases give the dpcalc values our tests use).
[4] Strlič, M. et al. (2015). Damage function for historic paper. Part III: Isochrones and
    demography of collections. Heritage Science 3:40. Michalski, S. (2002). Double the life
    for each five-degree drop, more than double the life for each halving of relative humidity.
    ICOM-CC 13th Triennial Meeting, 66–72.
[5] ../shared/science/REFERENCE.md §3.
"""

from __future__ import annotations

from typing import Literal, overload

import numpy as np
from numpy.typing import ArrayLike

from repoclimate.preservation._series import (
    FloatArray,
    as_float_array,
    sample_weights,
    scalar_or_array,
)

R_GAS = 8.314
"""Molar gas constant [J mol⁻¹ K⁻¹]."""
KELVIN = 273.15

PI_ACTIVATION_ENERGY_J_MOL = 95220.0
"""Activation energy of Padfield's fit to the IPI PI table [2] (cellulose triacetate)."""
PI_RANGE_T_C = (-23.0, 65.0)
PI_RANGE_RH_PCT = (6.0, 95.0)
"""The domain of IPI's PI table in dpcalc [3]; outside it ``preservation_index`` is NaN."""

PI_GOOD_YEARS = 75.0
PI_RISK_YEARS = 45.0
"""IPI natural-aging ratings [3]: GOOD for PI ≥ 75 years, OK for 45 ≤ PI < 75, RISK below 45."""

LM_ACTIVATION_ENERGY_J_MOL = 100e3
LM_RH_EXPONENT = 1.3
LM_RANGE_T_C = (-20.0, 40.0)
LM_RANGE_RH_PCT = (5.0, 95.0)

Rating = Literal["good", "ok", "risk"]


@overload
def preservation_index(t_c: float, rh_pct: float) -> np.float64: ...
@overload
def preservation_index(t_c: ArrayLike, rh_pct: ArrayLike) -> FloatArray: ...
def preservation_index(t_c: ArrayLike, rh_pct: ArrayLike) -> np.float64 | FloatArray:
    """IPI Preservation Index: years to noticeable decay at constant T and RH [years].

    IPI defined PI from the hydrolysis kinetics of cellulose triacetate film [1] and ships it in
    dpcalc as a table on whole °C and whole % RH [3]. The table itself is IPI's and is not
    redistributed here; we use Padfield's published closed-form fit to it [2]::

        PI = exp( (E − 134.9·RH) / (R·T) + 0.0284·RH − 28.023 ) / 365

    with E = 95 220 J/mol, R = 8.314 J mol⁻¹ K⁻¹, T in kelvin, RH in %. Against the dpcalc
    values published with ``preservationeval`` (11 points from −13 °C to 44 °C, 6–97 % RH) the
    fit agrees within 4 % plus dpcalc's rounding to whole years and its rounding of the inputs
    to whole °C / % RH; at 20 °C / 50 % it gives 44.6 years, IPI's "room conditions" anchor of
    about 45 years (the boundary of the OK/RISK ratings). Unlike dpcalc, which caps the table
    at 9999 years, the fit is not capped.

    Validity: the table's domain, −23…65 °C and 6…95 % RH. Outside it the result is NaN (dpcalc
    silently clamps inputs to the table edge; we do not).

    Parameters
    ----------
    t_c : float or array_like
        Temperature [°C].
    rh_pct : float or array_like
        Relative humidity [%].

    Returns
    -------
    numpy.float64 or numpy.ndarray
        PI [years].

    References
    ----------
    [1] Reilly, Nishimura & Zinn (1995), New Tools for Preservation.
    [2] Padfield (2004), conservationphysics.org/twpi/twpi_01.html.
    [3] IPI dpcalc.org dp.js (table domain and ratings).
    """
    t = as_float_array(t_c)
    rh = as_float_array(rh_pct)
    valid = (
        (t >= PI_RANGE_T_C[0])
        & (t <= PI_RANGE_T_C[1])
        & (rh >= PI_RANGE_RH_PCT[0])
        & (rh <= PI_RANGE_RH_PCT[1])
    )
    tk = t + KELVIN
    ln_days = (PI_ACTIVATION_ENERGY_J_MOL - 134.9 * rh) / (R_GAS * tk) + 0.0284 * rh - 28.023
    with np.errstate(over="ignore", invalid="ignore"):
        pi = np.where(valid, np.exp(ln_days) / 365.0, np.nan)
    return scalar_or_array(pi)


def twpi(t_c: ArrayLike, rh_pct: ArrayLike, hours: ArrayLike | None = None) -> np.float64:
    """Time-Weighted Preservation Index of a series [years].

    The harmonic, time-weighted mean of PI — rates are averaged, not PI values [1, 2]::

        TWPI = Σ hᵢ / Σ (hᵢ / PIᵢ)

    ``hours`` are the hours each sample stands for (all equal when omitted). Samples whose PI is
    NaN (missing readings, or outside PI's validity range) carry no weight; the result is NaN
    when no sample is valid. Each of ``t_c``, ``rh_pct``, ``hours`` is a 1-D series (or
    broadcastable to one).

    IPI rates a TWPI of at least 75 years GOOD, 45–75 OK and below 45 RISK
    (:func:`natural_aging_rating`).

    References
    ----------
    [1] Reilly, Nishimura & Zinn (1995), New Tools for Preservation.
    [2] Padfield (2004), conservationphysics.org/twpi/twpi_01.html.
    """
    return rate_average(preservation_index(t_c, rh_pct), hours)


def _harmonic_mean(values: FloatArray, weights: FloatArray, axis: int | None) -> FloatArray:
    ok = np.isfinite(values) & (values > 0) & (weights > 0)
    w = np.where(ok, weights, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(ok, w / np.where(ok, values, 1.0), 0.0)
        total_w = np.sum(w, axis=axis)
        total_rate = np.sum(rate, axis=axis)
        result: FloatArray = np.where(total_w > 0, total_w / total_rate, np.nan)
    return result


def rate_average(lifetimes: ArrayLike, hours: ArrayLike | None = None) -> np.float64:
    """Time-weighted mean of lifetimes taken through their rates: ``Σ h / Σ (h / L)``.

    The summary :func:`twpi` and :func:`mean_lifetime_multiplier` apply to PI and LM values;
    use it on values already computed. NaN, non-positive and zero-weight values are skipped;
    NaN when none remains.
    """
    values = np.atleast_1d(as_float_array(lifetimes))
    return np.float64(_harmonic_mean(values, sample_weights(hours, values.shape), axis=None))


def twpi_along_time(
    t_c: ArrayLike, rh_pct: ArrayLike, hours: ArrayLike | None = None
) -> FloatArray:
    """TWPI of many series at once: arrays of shape (time, series) → one TWPI per series."""
    pi = as_float_array(preservation_index(t_c, rh_pct))
    return _harmonic_mean(pi, sample_weights(hours, pi.shape), axis=0)


@overload
def lifetime_multiplier(
    t_c: float,
    rh_pct: float,
    *,
    activation_energy_j_mol: float = ...,
    rh_exponent: float = ...,
) -> np.float64: ...
@overload
def lifetime_multiplier(
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    *,
    activation_energy_j_mol: float = ...,
    rh_exponent: float = ...,
) -> FloatArray: ...
def lifetime_multiplier(
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    *,
    activation_energy_j_mol: float = LM_ACTIVATION_ENERGY_J_MOL,
    rh_exponent: float = LM_RH_EXPONENT,
) -> np.float64 | FloatArray:
    """Lifetime multiplier of chemically unstable paper relative to 20 °C / 50 % RH [–].

    Michalski's isoperm form with the paper parameters of Strlič et al. [1, 2]::

        LM = (50 / RH)^1.3 · exp( (E_a / R) · (1/(T + 273.15) − 1/293.15) )

    E_a = 100 kJ/mol, R = 8.314 J mol⁻¹ K⁻¹; LM = 1 at 20 °C / 50 %, LM = 2 means the paper
    lasts twice as long as it would at 20 °C / 50 %. Over a series, average the rates 1/LM
    (:func:`mean_lifetime_multiplier`), not LM.

    Validity: NaN outside −20…40 °C and 5…95 % RH. The published isochrone and isoperm charts
    [1, 2] span roughly 0–30 °C and 10–90 % RH; we allow a modest margin around them and refuse
    the rest, where the power law in RH diverges (RH → 0) or the Arrhenius extrapolation is
    untested.

    References
    ----------
    [1] Strlič et al. (2015), Heritage Science 3:40.
    [2] Michalski (2002), ICOM-CC 13th Triennial Meeting, 66–72.
    [3] REFERENCE.md §3.
    """
    t = as_float_array(t_c)
    rh = as_float_array(rh_pct)
    valid = (
        (t >= LM_RANGE_T_C[0])
        & (t <= LM_RANGE_T_C[1])
        & (rh >= LM_RANGE_RH_PCT[0])
        & (rh <= LM_RANGE_RH_PCT[1])
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        lm = (50.0 / rh) ** rh_exponent * np.exp(
            activation_energy_j_mol / R_GAS * (1.0 / (t + KELVIN) - 1.0 / (20.0 + KELVIN))
        )
    return scalar_or_array(np.where(valid, lm, np.nan))


def mean_lifetime_multiplier(
    t_c: ArrayLike, rh_pct: ArrayLike, hours: ArrayLike | None = None
) -> np.float64:
    """Lifetime multiplier of a whole series: ``Σ h / Σ (h / LM)`` (rates averaged) [–].

    NaN samples carry no weight; NaN when none is valid. See :func:`lifetime_multiplier`.
    """
    return rate_average(lifetime_multiplier(t_c, rh_pct), hours)


def natural_aging_rating(pi_years: float) -> Rating:
    """IPI's natural-aging rating of a PI or TWPI value: "good", "ok" or "risk".

    GOOD for PI ≥ 75 years, OK for 45 ≤ PI < 75, RISK below 45, as in dpcalc [1]. NaN → "risk"
    is not assumed: a NaN input raises ``ValueError``.

    References
    ----------
    [1] IPI dpcalc.org dp.js, as reproduced in ``preservationeval`` (rate_natural_aging).
    """
    if not np.isfinite(pi_years) and not np.isposinf(pi_years):
        raise ValueError(f"cannot rate a PI of {pi_years!r}")
    if pi_years >= PI_GOOD_YEARS:
        return "good"
    if pi_years >= PI_RISK_YEARS:
        return "ok"
    return "risk"
