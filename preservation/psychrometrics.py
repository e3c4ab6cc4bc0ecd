"""Psychrometrics of room air: saturation vapour pressure, dew point, absolute humidity, mixing
ratio, and the relative humidity of the same air at another temperature.

All functions take temperatures in °C and relative humidity in % (0–100) as scalars or arrays
and follow the package's return rule (scalar in → ``numpy.float64`` out, arrays in → array out).
Outside a function's validity range the result is NaN.

Below 0 °C every function here still works *over water*: relative humidity is, by the WMO
convention hygrometers follow, defined against saturation over liquid water at all temperatures,
so the water form is the consistent one. The exception is :func:`frost_point` (and
:func:`dew_or_frost_point`): below 0 °C vapour deposits as frost, at the temperature where the
air's vapour pressure equals saturation *over ice* — the convention of ASHRAE Fundamentals'
psychrometric tables and of CoolProp's humid-air functions, which both take saturation over ice
below 0 °C. That is what a film cold store's cold surfaces meet.

References
----------
[1] Alduchov, O. A. & Eskridge, R. E. (1996). Improved Magnus form approximation of saturation
    vapor pressure. J. Appl. Meteor. 35, 601–609.
[2] Sonntag, D. (1990). Important new values of the physical constants of 1986, vapour pressure
    formulations based on the ITS-90, and psychrometer formulae. Z. Meteorol. 40, 340–344.
[3] ../shared/science/REFERENCE.md §1 (the project's science reference).
[4] WMO (2018). Guide to Instruments and Methods of Observation (WMO-No. 8), vol. I, annex 4.B:
    e_i(T) = 6.112 hPa · exp(22.46·T / (272.62 + T)) over ice, −65…0.01 °C.
"""

from __future__ import annotations

from typing import Literal, overload

import numpy as np
from numpy.typing import ArrayLike

from repoclimate.preservation._series import FloatArray, as_float_array, scalar_or_array

MAGNUS_C_PA = 610.94
MAGNUS_A = 17.625
MAGNUS_B_C = 243.04
MAGNUS_RANGE_C = (-40.0, 50.0)
"""Range of the Alduchov–Eskridge fit (within 0.384 % of Sonntag over water) [1]."""
SONNTAG_RANGE_C = (-100.0, 100.0)
R_V = 461.5
"""Specific gas constant of water vapour [J kg⁻¹ K⁻¹]."""
EPSILON = 0.62198
"""Ratio of the molar masses of water and dry air."""
STANDARD_PRESSURE_PA = 101325.0
KELVIN = 273.15
MAGNUS_ICE_C_PA = 611.2
MAGNUS_ICE_A = 22.46
MAGNUS_ICE_B_C = 272.62
MAGNUS_ICE_RANGE_C = (-65.0, 0.01)
"""Magnus form over ice of the WMO guide [4] (Sonntag's 1990 fit), −65…0.01 °C."""

SaturationMethod = Literal["magnus", "sonntag"]


def _in_range(x: FloatArray, low: float, high: float) -> FloatArray:
    return np.where((x >= low) & (x <= high), x, np.nan)


def _rh_fraction(rh_pct: FloatArray, *, allow_zero: bool = True) -> FloatArray:
    low_ok = rh_pct >= 0 if allow_zero else rh_pct > 0
    return np.where(low_ok & (rh_pct <= 100), rh_pct / 100.0, np.nan)


def _magnus(t: FloatArray) -> FloatArray:
    t = _in_range(t, *MAGNUS_RANGE_C)
    result: FloatArray = MAGNUS_C_PA * np.exp(MAGNUS_A * t / (t + MAGNUS_B_C))
    return result


def _vapour_pressure(t_c: ArrayLike, rh_pct: ArrayLike) -> FloatArray:
    """Actual vapour pressure [Pa]: RH as a fraction times the Magnus saturation pressure."""
    result: FloatArray = _rh_fraction(as_float_array(rh_pct)) * _magnus(as_float_array(t_c))
    return result


def _sonntag(t: FloatArray) -> FloatArray:
    tk = _in_range(t, *SONNTAG_RANGE_C) + KELVIN
    ln_es = (
        -6096.9385 / tk
        + 21.2409642
        - 2.711193e-2 * tk
        + 1.673952e-5 * tk**2
        + 2.433502 * np.log(tk)
    )
    result: FloatArray = np.exp(ln_es)
    return result


@overload
def saturation_vapour_pressure(t_c: float, *, method: SaturationMethod = ...) -> np.float64: ...
@overload
def saturation_vapour_pressure(t_c: ArrayLike, *, method: SaturationMethod = ...) -> FloatArray: ...
def saturation_vapour_pressure(
    t_c: ArrayLike, *, method: SaturationMethod = "magnus"
) -> np.float64 | FloatArray:
    """Saturation vapour pressure over liquid water [Pa].

    ``method="magnus"`` (default) uses the Magnus form with the coefficients of [1]::

        e_s(T) = 610.94 · exp(17.625·T / (T + 243.04))        T in °C

    valid for −40…50 °C. Its largest error against Sonntag there is 0.384 % [1] (0.25 % at
    20 °C; REFERENCE.md's "±0.1 %" understates it). ``method="sonntag"`` uses [2]
    (T in kelvin)::

        ln e_s = −6096.9385/T + 21.2409642 − 2.711193e−2·T + 1.673952e−5·T² + 2.433502·ln T

    valid for −100…100 °C. Outside the method's range the result is NaN.

    Parameters
    ----------
    t_c : float or array_like
        Air temperature [°C].
    method : {"magnus", "sonntag"}

    Returns
    -------
    numpy.float64 or numpy.ndarray
        e_s [Pa].

    References
    ----------
    [1] Alduchov & Eskridge (1996), J. Appl. Meteor. 35, 601–609.
    [2] Sonntag (1990), Z. Meteorol. 40, 340–344.
    """
    t = as_float_array(t_c)
    if method == "magnus":
        return scalar_or_array(_magnus(t))
    if method == "sonntag":
        return scalar_or_array(_sonntag(t))
    raise ValueError(f"method must be 'magnus' or 'sonntag', not {method!r}")


@overload
def vapour_pressure(t_c: float, rh_pct: float) -> np.float64: ...
@overload
def vapour_pressure(t_c: ArrayLike, rh_pct: ArrayLike) -> FloatArray: ...
def vapour_pressure(t_c: ArrayLike, rh_pct: ArrayLike) -> np.float64 | FloatArray:
    """Partial pressure of water vapour, ``e = RH/100 · e_s(T)`` [Pa].

    Magnus e_s [1]; valid −40…50 °C and 0…100 % RH, NaN outside.

    References
    ----------
    [1] Alduchov & Eskridge (1996), J. Appl. Meteor. 35, 601–609.
    """
    e = _vapour_pressure(t_c, rh_pct)
    return scalar_or_array(e)


@overload
def dew_point(t_c: float, rh_pct: float) -> np.float64: ...
@overload
def dew_point(t_c: ArrayLike, rh_pct: ArrayLike) -> FloatArray: ...
def dew_point(t_c: ArrayLike, rh_pct: ArrayLike) -> np.float64 | FloatArray:
    """Dew point of moist air [°C].

    Inverts the Magnus form of [1] at e = RH/100 · e_s(T)::

        γ   = ln(RH/100) + 17.625·T / (243.04 + T)
        T_d = 243.04·γ / (17.625 − γ)

    Accurate to about ±0.1 K for −40…50 °C. NaN outside that range and for RH outside
    (0, 100] % (the dew point of perfectly dry air is −∞). Below 0 °C this is the dew point over
    water, not the frost point.

    Parameters
    ----------
    t_c : float or array_like
        Air temperature [°C].
    rh_pct : float or array_like
        Relative humidity [%].

    Returns
    -------
    numpy.float64 or numpy.ndarray
        Dew point [°C], never above ``t_c``.

    Examples
    --------
    >>> round(float(dew_point(20.0, 50.0)), 2)
    9.26

    References
    ----------
    [1] Alduchov & Eskridge (1996), J. Appl. Meteor. 35, 601–609.
    """
    t = _in_range(as_float_array(t_c), *MAGNUS_RANGE_C)
    h = _rh_fraction(as_float_array(rh_pct), allow_zero=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma = np.log(h) + MAGNUS_A * t / (MAGNUS_B_C + t)
        td = MAGNUS_B_C * gamma / (MAGNUS_A - gamma)
    # Rounding can put T_d a hair above T at 100 % RH; the dew point never exceeds T.
    return scalar_or_array(np.minimum(td, t))


@overload
def saturation_vapour_pressure_over_ice(t_c: float) -> np.float64: ...
@overload
def saturation_vapour_pressure_over_ice(t_c: ArrayLike) -> FloatArray: ...
def saturation_vapour_pressure_over_ice(t_c: ArrayLike) -> np.float64 | FloatArray:
    """Saturation vapour pressure over ice [Pa], Magnus form of the WMO guide [4]::

        e_i(T) = 611.2 · exp(22.46·T / (272.62 + T))        T in °C, −65…0.01 °C

    NaN outside that range. Published values (IAPWS/CRC tables): 259.9 Pa at −10 °C, 103.2 Pa
    at −20 °C, 38.0 Pa at −30 °C; this form is within 0.3 % of them down to −40 °C.

    References
    ----------
    [4] WMO-No. 8 (2018), vol. I, annex 4.B.
    """
    t = _in_range(as_float_array(t_c), *MAGNUS_ICE_RANGE_C)
    result: FloatArray = MAGNUS_ICE_C_PA * np.exp(MAGNUS_ICE_A * t / (MAGNUS_ICE_B_C + t))
    return scalar_or_array(result)


@overload
def frost_point(t_c: float, rh_pct: float) -> np.float64: ...
@overload
def frost_point(t_c: ArrayLike, rh_pct: ArrayLike) -> FloatArray: ...
def frost_point(t_c: ArrayLike, rh_pct: ArrayLike) -> np.float64 | FloatArray:
    """Frost point of moist air [°C]: where its vapour pressure saturates over ice.

    With e = RH/100 · e_s(T) (RH over water, Magnus [1]) and the WMO ice form [4] inverted::

        γ   = ln(e / 611.2 Pa)
        T_f = 272.62·γ / (22.46 − γ)

    Meaningful where T_f ≤ 0 °C (frost forms instead of dew); NaN where T_f would be above
    0.01 °C (use :func:`dew_point`), below −65 °C, for RH outside (0, 100] %, or T outside
    −40…50 °C. Below 0 °C the frost point lies above the dew point over water: a cold surface
    meets frost before the dew point says so. ASHRAE's and CoolProp's humid-air properties take
    saturation over ice below 0 °C in the same way.

    Parameters
    ----------
    t_c : float or array_like
        Air temperature [°C].
    rh_pct : float or array_like
        Relative humidity (over water, as hygrometers report it) [%].

    Returns
    -------
    numpy.float64 or numpy.ndarray
        Frost point [°C].

    Examples
    --------
    >>> round(float(frost_point(-5.0, 80.0)), 2)
    -7.02

    References
    ----------
    [1] Alduchov & Eskridge (1996), J. Appl. Meteor. 35, 601–609.
    [4] WMO-No. 8 (2018), vol. I, annex 4.B.
    """
    t = _in_range(as_float_array(t_c), *MAGNUS_RANGE_C)
    e = _rh_fraction(as_float_array(rh_pct), allow_zero=False) * _magnus(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma = np.log(e / MAGNUS_ICE_C_PA)
        tf = MAGNUS_ICE_B_C * gamma / (MAGNUS_ICE_A - gamma)
    return scalar_or_array(_in_range(np.minimum(tf, t), *MAGNUS_ICE_RANGE_C))


@overload
def dew_or_frost_point(t_c: float, rh_pct: float) -> np.float64: ...
@overload
def dew_or_frost_point(t_c: ArrayLike, rh_pct: ArrayLike) -> FloatArray: ...
def dew_or_frost_point(t_c: ArrayLike, rh_pct: ArrayLike) -> np.float64 | FloatArray:
    """The temperature at which a surface collects water from the air [°C]: the dew point where
    it is at or above 0 °C, else the frost point (saturation over ice, as ASHRAE and CoolProp
    take it below 0 °C). NaN as :func:`dew_point`."""
    td = as_float_array(dew_point(t_c, rh_pct))
    tf = as_float_array(frost_point(t_c, rh_pct))
    return scalar_or_array(np.where(td >= 0.0, td, tf))


@overload
def absolute_humidity(t_c: float, rh_pct: float) -> np.float64: ...
@overload
def absolute_humidity(t_c: ArrayLike, rh_pct: ArrayLike) -> FloatArray: ...
def absolute_humidity(t_c: ArrayLike, rh_pct: ArrayLike) -> np.float64 | FloatArray:
    """Absolute humidity (water-vapour density) [g/m³].

    ``ρ_v = e / (R_v · (T + 273.15))`` with e from Magnus [1] and R_v = 461.5 J kg⁻¹ K⁻¹,
    ×1000 for g/m³. Valid −40…50 °C, 0…100 % RH; NaN outside.

    References
    ----------
    [1] Alduchov & Eskridge (1996), J. Appl. Meteor. 35, 601–609.
    [2] REFERENCE.md §1.
    """
    t = as_float_array(t_c)
    e = _vapour_pressure(t, rh_pct)
    return scalar_or_array(1000.0 * e / (R_V * (t + KELVIN)))


@overload
def mixing_ratio(t_c: float, rh_pct: float, pressure_pa: float = ...) -> np.float64: ...
@overload
def mixing_ratio(t_c: ArrayLike, rh_pct: ArrayLike, pressure_pa: ArrayLike = ...) -> FloatArray: ...
def mixing_ratio(
    t_c: ArrayLike, rh_pct: ArrayLike, pressure_pa: ArrayLike = STANDARD_PRESSURE_PA
) -> np.float64 | FloatArray:
    """Humidity mixing ratio, mass of vapour per mass of dry air [g/kg].

    ``w = 0.62198 · e / (p − e)``, ×1000 for g/kg, with e from Magnus [1]. Valid −40…50 °C,
    0…100 % RH and p > e; NaN outside.

    Parameters
    ----------
    t_c : float or array_like
        Air temperature [°C].
    rh_pct : float or array_like
        Relative humidity [%].
    pressure_pa : float or array_like
        Total air pressure [Pa]; standard atmosphere (101 325 Pa) by default.

    References
    ----------
    [1] Alduchov & Eskridge (1996), J. Appl. Meteor. 35, 601–609.
    [2] REFERENCE.md §1.
    """
    e = _vapour_pressure(t_c, rh_pct)
    p = as_float_array(pressure_pa)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(p > e, 1000.0 * EPSILON * e / (p - e), np.nan)
    return scalar_or_array(w)


@overload
def rh_at_temperature(t_c: float, rh_pct: float, t_new_c: float) -> np.float64: ...
@overload
def rh_at_temperature(t_c: ArrayLike, rh_pct: ArrayLike, t_new_c: ArrayLike) -> FloatArray: ...
def rh_at_temperature(
    t_c: ArrayLike, rh_pct: ArrayLike, t_new_c: ArrayLike
) -> np.float64 | FloatArray:
    """Relative humidity of the same air brought to another temperature [%].

    At constant moisture content and pressure the vapour pressure is unchanged, so::

        RH₂ = RH₁ · e_s(T₁) / e_s(T₂)

    capped at 100 % (beyond that the excess condenses). This is what a cold wall, a cooled
    store or a warmed box sees. Magnus e_s [1]; valid −40…50 °C for both temperatures and
    0…100 % RH, NaN outside.

    Parameters
    ----------
    t_c : float or array_like
        Temperature of the air as measured [°C].
    rh_pct : float or array_like
        Relative humidity as measured [%].
    t_new_c : float or array_like
        Temperature the air is brought to [°C].

    References
    ----------
    [1] Alduchov & Eskridge (1996), J. Appl. Meteor. 35, 601–609.
    [2] REFERENCE.md §1.
    """
    e = _vapour_pressure(t_c, rh_pct)
    rh_new = 100.0 * e / _magnus(as_float_array(t_new_c))
    return scalar_or_array(np.minimum(rh_new, 100.0))
