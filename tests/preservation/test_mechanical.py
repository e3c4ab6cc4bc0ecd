"""Wood EMC against REFERENCE.md, the Wood Handbook and IPI dpcalc; IPI's EMC ratings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from repoclimate.preservation.mechanical import (
    emc_range,
    mechanical_damage_rating,
    metal_corrosion_rating,
    wood_emc,
)
from tests.preservation.reference_values import DPCALC_CASES, REFERENCE_TABLE, js_round


@pytest.mark.parametrize("row", REFERENCE_TABLE, ids=lambda r: f"{r[0]}C-{r[1]}pct")
def test_wood_emc_matches_reference_table(row: tuple[float, ...]) -> None:
    assert abs(wood_emc(row[0], row[1]) - row[7]) <= 0.005 + 1e-9


def test_wood_handbook_published_check() -> None:
    # Wood Handbook (FPL-GTR-190) table 4-2: 12.0 % at 70 °F (21.1 °C) and 65 % RH.
    assert round(float(wood_emc((70 - 32) / 1.8, 65.0)), 1) == 12.0


@pytest.mark.parametrize(("t", "rh", "pi", "emc", "days"), DPCALC_CASES)
def test_wood_emc_matches_dpcalc_table(
    t: float, rh: float, pi: float, emc: float, days: float
) -> None:
    # dpcalc's EMC table, read at the rounded inputs and printed to 0.1 %.
    cell_t = min(max(js_round(t), -20.0), 65.0)
    assert abs(wood_emc(cell_t, js_round(rh)) - emc) <= 0.05 + 1e-9


def test_wood_emc_validity() -> None:
    assert np.isnan(wood_emc(-21.0, 50.0))
    assert np.isnan(wood_emc(101.0, 50.0))
    assert np.isnan(wood_emc(20.0, 100.5))
    assert wood_emc(20.0, 0.0) == 0.0
    assert np.isfinite(wood_emc(-20.0, 100.0))


def test_vectorised_and_scalar_calls_agree() -> None:
    rng = np.random.default_rng(2)
    t, rh = rng.uniform(-25, 105, 300), rng.uniform(-5, 105, 300)
    scalar = [wood_emc(float(a), float(b)) for a, b in zip(t, rh, strict=True)]
    assert_allclose(wood_emc(t, rh), scalar, rtol=1e-12, equal_nan=True)
    assert isinstance(wood_emc(20.0, 50.0), np.float64)


@settings(max_examples=200, deadline=None)
@given(
    t=st.floats(min_value=-20, max_value=100, allow_nan=False),
    rh=st.floats(min_value=0, max_value=99, allow_nan=False),
)
def test_emc_rises_with_rh(t: float, rh: float) -> None:
    assert wood_emc(t, rh + 1.0) > wood_emc(t, rh)


def test_emc_range_reports_extremes_and_time_outside_ipi_band() -> None:
    # EMC at 20 °C: 30 % RH → 6.2 %, 50 % → 9.27 %, 70 % → 13.1 % (outside 5–12.5 %).
    result = emc_range([20.0, 20.0, 20.0, 20.0], [30.0, 50.0, 70.0, np.nan], hours=[1, 2, 1, 5])
    assert result.emc_min_pct == pytest.approx(float(wood_emc(20.0, 30.0)))
    assert result.emc_max_pct == pytest.approx(float(wood_emc(20.0, 70.0)))
    assert result.emc_range_pct == pytest.approx(result.emc_max_pct - result.emc_min_pct)
    assert result.hours_above_max == 1.0
    assert result.hours_below_min == 0.0
    assert result.outside_pct == pytest.approx(25.0)
    assert result.rating == "risk"
    calm = emc_range([20.0] * 3, [45.0, 50.0, 55.0])
    assert calm.rating == "ok"
    assert calm.outside_pct == 0.0
    empty = emc_range([np.nan], [50.0])
    assert np.isnan(empty.emc_min_pct)


@pytest.mark.parametrize(
    ("emc", "rating"), [(4.9, "risk"), (5.0, "ok"), (12.5, "ok"), (12.6, "risk")]
)
def test_mechanical_damage_rating_ipi(emc: float, rating: str) -> None:
    assert mechanical_damage_rating(emc) == rating


@pytest.mark.parametrize(
    ("emc", "rating"), [(6.9, "good"), (7.0, "ok"), (10.4, "ok"), (10.5, "risk")]
)
def test_metal_corrosion_rating_ipi(emc: float, rating: str) -> None:
    assert metal_corrosion_rating(emc) == rating


def test_ratings_refuse_nan() -> None:
    with pytest.raises(ValueError):
        mechanical_damage_rating(float("nan"))
    with pytest.raises(ValueError):
        metal_corrosion_rating(float("nan"))
