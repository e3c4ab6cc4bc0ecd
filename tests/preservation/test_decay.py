"""Chemical decay against published values: REFERENCE.md's LM column, IPI dpcalc's PI, and the
rate-averaging rule of TWPI."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from repoclimate.preservation.decay import (
    lifetime_multiplier,
    mean_lifetime_multiplier,
    natural_aging_rating,
    preservation_index,
    twpi,
    twpi_along_time,
)
from tests.preservation.reference_values import (
    DPCALC_CASES,
    DPCALC_PI_CAP,
    REFERENCE_TABLE,
    decimals,
    dpcalc_pi_inputs,
)


@pytest.mark.parametrize("row", REFERENCE_TABLE, ids=lambda r: f"{r[0]}C-{r[1]}pct")
def test_lifetime_multiplier_matches_reference_table(row: tuple[float, ...]) -> None:
    t, rh, lm = row[0], row[1], row[8]
    # to half a unit in the last decimal REFERENCE.md prints
    assert abs(lifetime_multiplier(t, rh) - lm) <= 0.5 * 10 ** -decimals(lm) + 1e-12


def test_lifetime_multiplier_is_one_at_20c_50pct() -> None:
    assert lifetime_multiplier(20.0, 50.0) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(("t", "rh", "pi_published", "emc", "days"), DPCALC_CASES)
def test_preservation_index_reproduces_dpcalc(
    t: float, rh: float, pi_published: float, emc: float, days: float
) -> None:
    # dpcalc reads its table at the rounded, clamped inputs and prints whole years, capped at
    # 9999; Padfield's fit of the table is documented to within 4 % — we allow 5 % + rounding.
    cell_t, cell_rh = dpcalc_pi_inputs(t, rh)
    value = float(preservation_index(cell_t, cell_rh))
    if pi_published >= DPCALC_PI_CAP:
        assert value >= DPCALC_PI_CAP
    else:
        assert abs(value - pi_published) <= 0.05 * pi_published + 0.5


def test_preservation_index_classic_anchor_room_conditions() -> None:
    # IPI's room-condition anchor: about 45 years at 20 °C / 50 % RH — the OK/RISK boundary of
    # its natural-aging rating. (At 20 °C / 45 % the PI is about 51 years.)
    assert preservation_index(20.0, 50.0) == pytest.approx(45.0, rel=0.02)
    assert preservation_index(20.0, 45.0) == pytest.approx(51.0, rel=0.02)


def test_preservation_index_is_nan_outside_ipi_table() -> None:
    assert np.isnan(preservation_index(20.0, 5.0))
    assert np.isnan(preservation_index(20.0, 96.0))
    assert np.isnan(preservation_index(-24.0, 50.0))
    assert np.isnan(preservation_index(66.0, 50.0))
    assert np.isfinite(preservation_index(-23.0, 6.0))
    assert np.isfinite(preservation_index(65.0, 95.0))


def test_lifetime_multiplier_is_nan_outside_validity() -> None:
    assert np.isnan(lifetime_multiplier(20.0, 0.0))
    assert np.isnan(lifetime_multiplier(20.0, 4.0))
    assert np.isnan(lifetime_multiplier(45.0, 50.0))
    assert np.isnan(lifetime_multiplier(-25.0, 50.0))


def test_twpi_averages_rates_not_lifetimes() -> None:
    # Reilly et al. (1995), Padfield (2004): TWPI = 1 / mean(1/PI). Half the time at 20 °C/50 %
    # and half at 30 °C/80 %: the harmonic mean, far below the arithmetic one.
    pi_a = float(preservation_index(20.0, 50.0))
    pi_b = float(preservation_index(30.0, 80.0))
    expected = 2.0 / (1.0 / pi_a + 1.0 / pi_b)
    assert twpi([20.0, 30.0], [50.0, 80.0]) == pytest.approx(expected, rel=1e-12)
    assert expected < 0.5 * (pi_a + pi_b)


def test_twpi_is_time_weighted_and_ignores_invalid_samples() -> None:
    pi_a = float(preservation_index(20.0, 50.0))
    pi_b = float(preservation_index(30.0, 80.0))
    # 3 h at a, 1 h at b; the NaN sample and the out-of-range one (RH 99 %) carry no weight
    value = twpi([20.0, 30.0, np.nan, 20.0], [50.0, 80.0, 50.0, 99.0], hours=[3.0, 1.0, 5.0, 2.0])
    assert value == pytest.approx(4.0 / (3.0 / pi_a + 1.0 / pi_b), rel=1e-12)
    assert np.isnan(twpi([np.nan], [50.0]))


def test_twpi_of_a_constant_climate_is_its_pi() -> None:
    assert twpi(np.full(100, 18.0), np.full(100, 45.0)) == pytest.approx(
        float(preservation_index(18.0, 45.0)), rel=1e-12
    )


def test_mean_lifetime_multiplier_averages_rates() -> None:
    lm = lifetime_multiplier(np.array([10.0, 30.0]), np.array([40.0, 90.0]))
    assert mean_lifetime_multiplier([10.0, 30.0], [40.0, 90.0]) == pytest.approx(
        2.0 / float(np.sum(1.0 / lm)), rel=1e-12
    )


def test_twpi_along_time_matches_per_series_twpi() -> None:
    rng = np.random.default_rng(3)
    t = rng.uniform(10, 30, (48, 5))
    rh = rng.uniform(20, 80, (48, 5))
    assert_allclose(twpi_along_time(t, rh), [twpi(t[:, j], rh[:, j]) for j in range(5)], rtol=1e-12)


@pytest.mark.parametrize(
    ("pi", "rating"), [(75.0, "good"), (120.0, "good"), (74.9, "ok"), (45.0, "ok"), (44.9, "risk")]
)
def test_natural_aging_rating_uses_ipi_bands(pi: float, rating: str) -> None:
    # dpcalc (rate_natural_aging): GOOD ≥ 75, OK 45–75, RISK < 45 years.
    assert natural_aging_rating(pi) == rating


def test_natural_aging_rating_refuses_nan() -> None:
    with pytest.raises(ValueError):
        natural_aging_rating(math.nan)
    assert natural_aging_rating(math.inf) == "good"


def test_vectorised_and_scalar_calls_agree() -> None:
    rng = np.random.default_rng(11)
    t, rh = rng.uniform(-25, 70, 300), rng.uniform(0, 100, 300)
    for func in (preservation_index, lifetime_multiplier):
        vector = func(t, rh)
        scalar = [func(float(a), float(b)) for a, b in zip(t, rh, strict=True)]
        assert_allclose(vector, scalar, rtol=1e-12, atol=0, equal_nan=True)
        assert isinstance(func(20.0, 50.0), np.float64)


@settings(max_examples=200, deadline=None)
@given(
    t=st.floats(min_value=-20, max_value=60, allow_nan=False),
    rh=st.floats(min_value=6, max_value=90, allow_nan=False),
)
def test_warmer_or_damper_never_lengthens_life(t: float, rh: float) -> None:
    assert preservation_index(t + 1.0, rh) < preservation_index(t, rh)
    assert preservation_index(t, rh + 1.0) < preservation_index(t, rh)
    if t <= 39:
        assert lifetime_multiplier(t + 1.0, rh) < lifetime_multiplier(t, rh)
