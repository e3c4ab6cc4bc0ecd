"""Psychrometrics against REFERENCE.md §6 and published checks; invariants by property tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from repoclimate.preservation.psychrometrics import (
    absolute_humidity,
    dew_or_frost_point,
    dew_point,
    frost_point,
    mixing_ratio,
    rh_at_temperature,
    saturation_vapour_pressure,
    saturation_vapour_pressure_over_ice,
    vapour_pressure,
)
from tests.preservation.reference_values import REFERENCE_TABLE

ROWS = [pytest.param(*row, id=f"{row[0]}C-{row[1]}pct") for row in REFERENCE_TABLE]
# REFERENCE.md prints two decimals: agreement to half a unit in the last place.
HALF_CENT = 0.005 + 1e-9

temperatures = st.floats(min_value=-40, max_value=50, allow_nan=False)
humidities = st.floats(min_value=0.5, max_value=100, allow_nan=False)


@pytest.mark.parametrize(("t", "rh", "es_m", "es_s", "td", "ah", "w", "emc", "lm"), ROWS)
def test_saturation_vapour_pressure_magnus_and_sonntag(
    t: float,
    rh: float,
    es_m: float,
    es_s: float,
    td: float,
    ah: float,
    w: float,
    emc: float,
    lm: float,
) -> None:
    assert abs(saturation_vapour_pressure(t) - es_m) <= HALF_CENT
    assert abs(saturation_vapour_pressure(t, method="sonntag") - es_s) <= HALF_CENT


@pytest.mark.parametrize(("t", "rh", "es_m", "es_s", "td", "ah", "w", "emc", "lm"), ROWS)
def test_humidity_quantities_match_reference_table(
    t: float,
    rh: float,
    es_m: float,
    es_s: float,
    td: float,
    ah: float,
    w: float,
    emc: float,
    lm: float,
) -> None:
    assert abs(dew_point(t, rh) - td) <= HALF_CENT
    assert abs(absolute_humidity(t, rh) - ah) <= HALF_CENT
    assert abs(mixing_ratio(t, rh) - w) <= HALF_CENT


def test_published_dew_point_of_20c_50pct() -> None:
    # REFERENCE.md "published checks": dew point of 20 °C / 50 % ≈ 9.3 °C.
    assert round(float(dew_point(20.0, 50.0)), 1) == 9.3


def test_magnus_is_within_its_published_error_of_sonntag_over_its_range() -> None:
    # Alduchov & Eskridge (1996) give a largest relative error of 0.384 % for −40…50 °C.
    # (REFERENCE.md §1 says ±0.1 %; its own table shows 0.25 % at 20 °C, so the paper's bound
    # is the one tested.)
    t = np.linspace(-40, 50, 901)
    ratio = saturation_vapour_pressure(t) / saturation_vapour_pressure(t, method="sonntag")
    assert np.all(np.abs(ratio - 1) < 0.00384)


def test_outside_validity_is_nan() -> None:
    assert np.isnan(saturation_vapour_pressure(-41.0))
    assert np.isnan(saturation_vapour_pressure(51.0))
    assert np.isfinite(saturation_vapour_pressure(51.0, method="sonntag"))
    assert np.isnan(dew_point(20.0, 0.0))
    assert np.isnan(dew_point(20.0, 101.0))
    assert np.isnan(absolute_humidity(20.0, -1.0))
    assert np.isnan(mixing_ratio(20.0, 50.0, pressure_pa=1000.0))
    with pytest.raises(ValueError, match="method"):
        saturation_vapour_pressure(20.0, method="goff")  # type: ignore[call-overload]


def test_scalar_in_float_out_array_in_array_out() -> None:
    scalar = dew_point(20.0, 50.0)
    assert isinstance(scalar, np.float64)
    assert isinstance(scalar, float)
    array = dew_point(np.array([20.0, 25.0]), np.array([50.0, 75.0]))
    assert isinstance(array, np.ndarray)
    assert array.shape == (2,)
    grid = dew_point(np.array([[20.0], [25.0]]), np.array([50.0, 60.0, 70.0]))
    assert grid.shape == (2, 3)


@pytest.mark.parametrize(
    "func",
    [dew_point, absolute_humidity, mixing_ratio, vapour_pressure],
)
def test_vectorised_and_scalar_calls_agree(func: object) -> None:
    rng = np.random.default_rng(7)
    t = rng.uniform(-30, 45, 200)
    rh = rng.uniform(1, 100, 200)
    vector = func(t, rh)  # type: ignore[operator]
    scalar = np.array([func(float(a), float(b)) for a, b in zip(t, rh, strict=True)])  # type: ignore[operator]
    assert_allclose(vector, scalar, rtol=1e-12, atol=0)


def test_rh_at_temperature_vectorised_and_scalar_agree() -> None:
    rng = np.random.default_rng(8)
    t, rh, t2 = rng.uniform(0, 30, 100), rng.uniform(5, 95, 100), rng.uniform(0, 30, 100)
    vector = rh_at_temperature(t, rh, t2)
    scalar = [
        rh_at_temperature(float(a), float(b), float(c)) for a, b, c in zip(t, rh, t2, strict=True)
    ]
    assert_allclose(vector, scalar, rtol=1e-12, atol=0)


def test_rh_at_temperature_published_behaviour() -> None:
    # Air at 20 °C / 50 % cooled to its dew point (9.26 °C, table above) is saturated.
    assert abs(rh_at_temperature(20.0, 50.0, 9.26) - 100.0) < 0.1
    # ... and colder still, the excess condenses: capped at 100 %.
    assert rh_at_temperature(20.0, 50.0, 0.0) == 100.0
    # Warmed from 0 °C / 50 % to 20 °C: e = 305.47 Pa over e_s(20) = 2333.44 Pa (table) → 13.09 %.
    assert abs(rh_at_temperature(0.0, 50.0, 20.0) - 100 * 0.5 * 610.94 / 2333.44) < 1e-4


@settings(max_examples=300, deadline=None)
@given(t=temperatures, rh=humidities)
def test_dew_point_never_above_temperature(t: float, rh: float) -> None:
    assert dew_point(t, rh) <= t


@settings(max_examples=300, deadline=None)
@given(t=temperatures, rh=humidities)
def test_dew_point_is_where_the_air_saturates(t: float, rh: float) -> None:
    td = float(dew_point(t, rh))
    if td >= -40:
        assert abs(rh_at_temperature(t, rh, td) - 100.0) < 1e-6 + 1e-9 * 100


@settings(max_examples=300, deadline=None)
@given(
    t=temperatures,
    rh=st.floats(min_value=1, max_value=100, allow_nan=False),
    t_new=temperatures,
)
def test_rh_round_trip_through_another_temperature(t: float, rh: float, t_new: float) -> None:
    there = float(rh_at_temperature(t, rh, t_new))
    if there < 100.0:  # no condensation on the way: the moisture content is conserved
        back = float(rh_at_temperature(t_new, there, t))
        assert abs(back - rh) < 1e-9 * max(1.0, rh) * 100


@settings(max_examples=200, deadline=None)
@given(t=temperatures, rh=humidities)
def test_absolute_humidity_and_mixing_ratio_grow_with_rh(t: float, rh: float) -> None:
    lower = max(rh - 5.0, 0.0)
    assert absolute_humidity(t, lower) <= absolute_humidity(t, rh)
    assert mixing_ratio(t, lower) <= mixing_ratio(t, rh)


# --- frost point (saturation over ice below 0 °C) -----------------------------------------------


@pytest.mark.parametrize(
    ("t", "published_pa"), [(-10.0, 259.9), (-20.0, 103.2), (-30.0, 38.0), (-40.0, 12.84)]
)
def test_saturation_over_ice_matches_published_values(t: float, published_pa: float) -> None:
    # Saturation vapour pressure of ice (IAPWS / CRC Handbook tables): the WMO Magnus ice form
    # is within 0.1 % of them here.
    assert saturation_vapour_pressure_over_ice(t) == pytest.approx(published_pa, rel=1e-3)


@pytest.mark.parametrize(("t_f", "published_pa"), [(-10.0, 259.9), (-20.0, 103.2)])
def test_frost_point_is_where_the_vapour_saturates_over_ice(
    t_f: float, published_pa: float
) -> None:
    # Air at 0 °C holding ice's published saturation pressure at T_f has its frost point at T_f.
    rh = 100.0 * published_pa / float(saturation_vapour_pressure(0.0))
    assert frost_point(0.0, rh) == pytest.approx(t_f, abs=0.02)


def test_frost_point_lies_above_the_dew_point_below_zero() -> None:
    # −5 °C / 80 %: e = 337.5 Pa; over ice it saturates at −7.02 °C, over water at −7.92 °C.
    assert frost_point(-5.0, 80.0) == pytest.approx(-7.02, abs=0.01)
    assert dew_point(-5.0, 80.0) == pytest.approx(-7.92, abs=0.01)
    assert dew_or_frost_point(-5.0, 80.0) == frost_point(-5.0, 80.0)
    # at 0 °C the two saturations meet (611.2 Pa over ice, 610.9 over water)
    assert frost_point(0.0, 100.0) == pytest.approx(0.0, abs=0.01)


def test_dew_or_frost_point_is_the_dew_point_above_zero() -> None:
    assert dew_or_frost_point(20.0, 50.0) == dew_point(20.0, 50.0)
    assert math.isnan(frost_point(20.0, 50.0))  # dew, not frost: no frost point above 0 °C
    assert math.isnan(frost_point(20.0, 0.0))
