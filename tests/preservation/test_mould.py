"""Mould models against published values (IPI dpcalc days to mould; Hukka–Viitanen / Ojanen VTT
equations and constants) and their invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal

from repoclimate.preservation.ipi_mould_table import IPI_DAYS_TO_MOULD
from repoclimate.preservation.mould import (
    DECLINE_RELATIVELY_LOW,
    DECLINE_SIGNIFICANT,
    SENSITIVITY_CLASSES,
    MrfState,
    VttState,
    critical_rh,
    days_to_mould,
    mould_rh_threshold,
    mould_risk_factor,
    vtt_mould_index,
)
from tests.preservation.reference_values import DPCALC_CASES

# --- IPI days to mould -------------------------------------------------------------------------

RISK_CASES = [c for c in DPCALC_CASES if c[4] > 0]
NO_RISK_CASES = [c for c in DPCALC_CASES if c[4] == 0]
GRID = [(t, rh) for t in range(2, 46) for rh in range(65, 101)]


def published(t: int, rh: int) -> float:
    """IPI's value for whole T and RH (the table's 0, no risk, as inf)."""
    days = IPI_DAYS_TO_MOULD[t - 2][rh - 65]
    return math.inf if days == 0 else float(days)


def test_the_table_is_ipis_whole_grid() -> None:
    assert len(IPI_DAYS_TO_MOULD) == 44  # 2…45 °C
    assert {len(row) for row in IPI_DAYS_TO_MOULD} == {36}  # 65…100 %RH
    assert sum(v > 0 for row in IPI_DAYS_TO_MOULD for v in row) == 1147


@pytest.mark.parametrize(("t", "rh", "days"), [(20, 80, 14), (10, 85, 9), (5, 90, 9)])
def test_ipi_examples_of_the_issue(t: int, rh: int, days: int) -> None:
    # IPI's grid values for a cool damp stack (issue 8): our old fit gave 60, 255, 1151 days.
    assert days_to_mould(float(t), float(rh)) == days


def test_days_to_mould_equals_ipi_on_every_cell_of_the_grid() -> None:
    t = np.array([c[0] for c in GRID], dtype=float)
    rh = np.array([c[1] for c in GRID], dtype=float)
    expected = np.array([published(*c) for c in GRID])
    assert_array_equal(days_to_mould(t, rh), expected)
    ratio = days_to_mould(t, rh)[np.isfinite(expected)] / expected[np.isfinite(expected)]
    assert np.median(ratio) == 1.0 and ratio.min() == ratio.max() == 1.0


@pytest.mark.parametrize(("t", "rh"), [c for c in GRID if c[0] <= 15])
def test_cold_cells_are_ipis(t: int, rh: int) -> None:
    # The unheated stacks and basements (2–15 °C), where the old fit was up to 100 times slow.
    assert days_to_mould(float(t), float(rh)) == published(t, rh)


@pytest.mark.parametrize(
    ("t", "rh"),
    [(2, 89), (5, 86), (10, 79), (15, 73), (20, 68), (25, 65), (30, 65), (40, 76), (45, 89)],
)
def test_no_risk_below_the_temperature_dependent_threshold(t: int, rh: int) -> None:
    # IPI's threshold is well above 65 % at low and high temperatures ...
    assert days_to_mould(float(t), float(rh)) == math.inf
    assert math.isfinite(days_to_mould(float(t), float(rh + 1)))  # ... and sharp


def test_the_threshold_is_the_first_risky_rh_of_the_rounded_cell() -> None:
    assert mould_rh_threshold(2.0) == 89.5
    assert mould_rh_threshold(28.0) == 65.0
    assert mould_rh_threshold(20.4) == 68.5  # read at 20 °C
    assert mould_rh_threshold(46.0) == math.inf
    t = np.linspace(2.0, 45.0, 431)
    th = mould_rh_threshold(t)
    assert np.all(np.isfinite(days_to_mould(t, np.minimum(th, 100.0))))
    assert np.all(np.isinf(days_to_mould(t, np.maximum(th - 0.01, 0.0))))


def test_germination_is_fastest_near_30_degrees_not_at_45() -> None:
    # Not monotonic in T: at 80 %RH 13 days from 21 to 37 °C, slower below and above.
    assert days_to_mould(10.0, 80.0) == 19
    assert days_to_mould(30.0, 80.0) == 13
    assert days_to_mould(43.0, 84.0) == 12
    assert days_to_mould(44.0, 80.0) == math.inf
    at_75 = days_to_mould(np.arange(2.0, 46.0), 75.0)
    fastest = int(np.argmin(at_75)) + 2
    assert 25 <= fastest <= 32
    assert at_75[fastest - 2] < at_75[20 - 2] and at_75[fastest - 2] < at_75[38 - 2]


@pytest.mark.parametrize(("t", "rh", "pi", "emc", "days"), RISK_CASES)
def test_days_to_mould_reproduces_dpcalc_cases(
    t: float, rh: float, pi: float, emc: float, days: float
) -> None:
    # dpcalc's own outputs at unrounded inputs: it reads its table at the rounded inputs.
    assert days_to_mould(t, rh) == days


@pytest.mark.parametrize(("t", "rh", "pi", "emc", "days"), NO_RISK_CASES)
def test_no_risk_cases_of_dpcalc_are_infinite(
    t: float, rh: float, pi: float, emc: float, days: float
) -> None:
    assert days_to_mould(t, rh) == math.inf


@pytest.mark.parametrize(
    ("t", "rh"), [(20.0, 65.0), (20.0, 64.9), (1.9, 95.0), (45.1, 95.0), (-5.0, 100.0)]
)
def test_ipi_no_risk_boundaries(t: float, rh: float) -> None:
    # dp.js: no risk below 65 % RH or outside 2…45 °C (not rounded: 45.1 °C is no risk).
    assert days_to_mould(t, rh) == math.inf


def test_inputs_are_read_at_the_rounded_cell() -> None:
    assert days_to_mould(19.5, 79.5) == published(20, 80)
    assert days_to_mould(19.49, 79.49) == published(19, 79)
    assert days_to_mould(44.6, 100.0) == published(45, 100)


def test_days_to_mould_invalid_inputs_are_nan() -> None:
    assert np.isnan(days_to_mould(20.0, 101.0))
    assert np.isnan(days_to_mould(np.nan, 80.0))
    assert np.isfinite(days_to_mould(2.0, 100.0))
    assert np.isfinite(days_to_mould(45.0, 100.0))


@settings(max_examples=300, deadline=None)
@given(
    t=st.floats(min_value=-10, max_value=50, allow_nan=False),
    rh=st.floats(min_value=0, max_value=99, allow_nan=False),
    step=st.floats(min_value=0.01, max_value=20, allow_nan=False),
)
def test_days_to_mould_never_rises_with_rh(t: float, rh: float, step: float) -> None:
    assert days_to_mould(t, min(rh + step, 100.0)) <= days_to_mould(t, rh)


# --- Mould Risk Factor ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("t", "rh", "days"), [(20.0, 80.0, 14), (10.0, 85.0, 9), (5.0, 90.0, 9), (25.0, 70.0, 156)]
)
def test_mrf_reaches_one_at_ipis_days(t: float, rh: float, days: int) -> None:
    # IPI: MRF accumulates (hours/24)/days_to_mould; MRF = 1 (germination) after IPI's days of
    # constant conditions — after 14 days at 20 °C / 80 % (the old fit had reached 0.23).
    n = days * 24 + 48
    mrf = mould_risk_factor(np.full(n, t), np.full(n, rh), 1.0)
    assert int(np.argmax(mrf >= 1.0 - 1e-9)) + 1 == days * 24
    assert mrf[days * 24 - 2] < 1.0


def test_mrf_is_time_weighted_for_irregular_samples() -> None:
    days = float(days_to_mould(25.0, 85.0))
    mrf = mould_risk_factor([25.0, 25.0, 25.0], [85.0, 85.0, 85.0], [1.0, 10.0, 0.5])
    assert_allclose(mrf, np.cumsum([1.0, 10.0, 0.5]) / 24.0 / days, rtol=1e-12)


def test_mrf_resets_after_a_full_day_of_no_risk() -> None:
    wet = [80.0] * 48
    t = np.full(48 + 24 + 5, 22.0)
    rh_23 = np.array(wet + [50.0] * 23 + [80.0] * 6)
    rh_24 = np.array(wet + [50.0] * 24 + [80.0] * 5)
    kept = mould_risk_factor(t, rh_23, 1.0)
    reset = mould_risk_factor(t, rh_24, 1.0)
    assert kept[47 + 23] == pytest.approx(kept[47])  # 23 dry hours: paused, not reset
    assert reset[47 + 24] == 0.0  # the 24th dry hour resets it
    assert reset[-1] == pytest.approx(5 / 24 / float(days_to_mould(22.0, 80.0)))
    never = mould_risk_factor(t, rh_24, 1.0, reset_after_hours=None)
    assert never[-1] > never[47]


def test_mrf_missing_samples_neither_grow_nor_dry() -> None:
    t = np.array([22.0] * 10 + [np.nan] * 50 + [22.0] * 20)
    rh = np.array([80.0] * 10 + [np.nan] * 50 + [50.0] * 20)
    mrf = mould_risk_factor(t, rh, 1.0)
    assert mrf[59] == pytest.approx(mrf[9])  # the gap adds nothing
    assert mrf[-1] == pytest.approx(mrf[9])  # 20 dry hours after it: no reset yet


def test_mrf_along_time_matches_single_series() -> None:
    rng = np.random.default_rng(5)
    t = rng.uniform(10, 35, (200, 4))
    rh = rng.uniform(40, 100, (200, 4))
    both = mould_risk_factor(t, rh, 1.0)
    for j in range(4):
        assert_allclose(both[:, j], mould_risk_factor(t[:, j], rh[:, j], 1.0), rtol=1e-12)


# --- VTT mould index --------------------------------------------------------------------------


def hukka_viitanen_response_weeks(t: float, rh: float, w: float = 0.0, sq: float = 0.0) -> float:
    """Time to M = 1 on pine sapwood, Hukka & Viitanen (1999) eq. 1 [weeks]."""
    return math.exp(-0.68 * math.log(t) - 13.9 * math.log(rh) + 0.14 * w - 0.33 * sq + 66.02)


@pytest.mark.parametrize(("t", "rh"), [(20.0, 97.0), (25.0, 90.0), (10.0, 95.0), (30.0, 95.0)])
def test_vtt_reaches_index_one_at_the_published_response_time(t: float, rh: float) -> None:
    # Very sensitive class (k1 = 1 below M = 1): M = 1 after t_m weeks of constant conditions
    # (in conditions where M_max ≥ 4, so that k2 ≈ 1 up to M = 1).
    expected_h = hukka_viitanen_response_weeks(t, rh) * 7 * 24
    n = int(expected_h * 1.2) + 10
    m = vtt_mould_index(np.full(n, t), np.full(n, rh), 1.0, sensitivity="very_sensitive")
    hours = int(np.argmax(m >= 1.0)) + 1
    assert hours == pytest.approx(expected_h, rel=0.005, abs=1.0)


def test_vtt_surface_quality_and_species_enter_as_published() -> None:
    expected_h = hukka_viitanen_response_weeks(20.0, 97.0, w=1.0, sq=1.0) * 7 * 24
    n = int(expected_h * 1.2)
    m = vtt_mould_index(
        np.full(n, 20.0),
        np.full(n, 97.0),
        1.0,
        sensitivity="very_sensitive",
        surface_quality=1.0,
        wood_species=1.0,
    )
    assert int(np.argmax(m >= 1.0)) + 1 == pytest.approx(expected_h, rel=0.005, abs=1.0)


@pytest.mark.parametrize(
    ("sensitivity", "rh", "m_max"),
    [
        # M_max = A + B·x − C·x², x = (RH_crit − RH)/(RH_crit − 100), RH_crit = 80 % at 20 °C
        ("very_sensitive", 90.0, 1 + 7 * 0.5 - 2 * 0.25),
        ("very_sensitive", 100.0, 1 + 7 - 2),
        ("sensitive", 95.0, 0.3 + 6 * 0.75 - 1 * 0.75**2),
    ],
)
def test_vtt_levels_off_at_the_published_maximum(sensitivity: str, rh: float, m_max: float) -> None:
    n = 24 * 365 * 2
    m = vtt_mould_index(np.full(n, 20.0), np.full(n, rh), 1.0, sensitivity=sensitivity)  # type: ignore[arg-type]
    assert m[-1] == pytest.approx(m_max, rel=0.01)
    assert np.all(m <= m_max + 1e-12)


def test_vtt_critical_rh_published_values() -> None:
    # Hukka & Viitanen polynomial: 82.03 % at 10 °C, ~80 % at 20 °C; Ojanen RH_min above.
    assert critical_rh(10.0, "very_sensitive") == pytest.approx(82.03, abs=0.01)
    assert critical_rh(20.0, "sensitive") == pytest.approx(80.04, abs=0.01)
    assert critical_rh(25.0, "sensitive") == pytest.approx(80.0, abs=0.1)
    assert critical_rh(35.0, "sensitive") == 80.0
    assert critical_rh(25.0, "medium_resistant") == 85.0
    assert critical_rh(15.0, "resistant") == 85.0
    assert critical_rh(0.0, "very_sensitive") == 100.0
    assert critical_rh(50.0, "very_sensitive") == 100.0


def test_vtt_decline_uses_published_constants() -> None:
    # −0.032/day for the first 6 h, 0 until 24 h, −0.016/day after, times C_mat.
    grow_h = 24 * 120
    t = np.full(grow_h + 72, 20.0)
    rh = np.concatenate([np.full(grow_h, 97.0), np.full(72, 50.0)])
    m = vtt_mould_index(t, rh, 1.0, sensitivity="very_sensitive", decline=DECLINE_SIGNIFICANT)
    top = m[grow_h - 1]
    assert top > 1.0
    c = DECLINE_SIGNIFICANT
    assert top - m[grow_h - 1 + 6] == pytest.approx(c * 6 * 0.032 / 24, rel=1e-9)
    assert m[grow_h - 1 + 24] == pytest.approx(m[grow_h - 1 + 6], rel=1e-12)
    assert top - m[grow_h - 1 + 48] == pytest.approx(c * (6 * 0.032 + 24 * 0.016) / 24, rel=1e-9)


def test_vtt_decline_is_integrated_across_long_steps() -> None:
    # One 48-hour dry step must decline exactly as 48 hourly ones.
    t = np.full(24 * 100 + 1, 20.0)
    rh = np.concatenate([np.full(24 * 100, 97.0), [40.0]])
    hours = np.concatenate([np.ones(24 * 100), [48.0]])
    long_step = vtt_mould_index(t, rh, hours, sensitivity="very_sensitive")
    t2 = np.full(24 * 100 + 48, 20.0)
    rh2 = np.concatenate([np.full(24 * 100, 97.0), np.full(48, 40.0)])
    hourly = vtt_mould_index(t2, rh2, 1.0, sensitivity="very_sensitive")
    assert long_step[-1] == pytest.approx(hourly[-1], rel=1e-12)


def test_vtt_no_growth_at_or_below_freezing_or_from_50c() -> None:
    for t in (-5.0, 0.0, 50.0, 55.0):
        m = vtt_mould_index(np.full(2000, t), np.full(2000, 100.0), 1.0)
        assert np.all(m == 0.0)


def test_vtt_missing_samples_leave_the_index_unchanged() -> None:
    t = np.array([20.0] * 2000 + [np.nan] * 100)
    rh = np.array([97.0] * 2000 + [np.nan] * 100)
    m = vtt_mould_index(t, rh, 1.0, sensitivity="very_sensitive")
    assert np.all(m[2000:] == m[1999])


def test_vtt_many_series_agree_with_one_at_a_time() -> None:
    rng = np.random.default_rng(9)
    t = rng.uniform(5, 35, (500, 6))
    rh = np.clip(rng.normal(85, 10, (500, 6)), 30, 100)
    for sensitivity in SENSITIVITY_CLASSES:
        both = vtt_mould_index(t, rh, 2.0, sensitivity=sensitivity, decline=0.5)
        for j in range(6):
            single = vtt_mould_index(t[:, j], rh[:, j], 2.0, sensitivity=sensitivity, decline=0.5)
            assert_allclose(both[:, j], single, rtol=1e-12, atol=1e-15)


series = st.integers(min_value=1, max_value=400).flatmap(
    lambda n: st.tuples(
        arrays(np.float64, n, elements=st.floats(-10, 55, allow_nan=False)),
        arrays(np.float64, n, elements=st.floats(0, 100, allow_nan=False)),
        arrays(np.float64, n, elements=st.floats(0.1, 48, allow_nan=False)),
    )
)


@settings(max_examples=150, deadline=None)
@given(
    data=series,
    sensitivity=st.sampled_from(list(SENSITIVITY_CLASSES)),
    initial=st.floats(0, 6),
)
def test_vtt_index_stays_between_0_and_6(
    data: tuple[np.ndarray, np.ndarray, np.ndarray], sensitivity: str, initial: float
) -> None:
    t, rh, hours = data
    m = vtt_mould_index(t, rh, hours, sensitivity=sensitivity, initial=initial)  # type: ignore[arg-type]
    assert np.all(m >= 0.0)
    assert np.all(m <= 6.0)


@settings(max_examples=150, deadline=None)
@given(
    data=series,
    sensitivity=st.sampled_from(list(SENSITIVITY_CLASSES)),
    initial=st.floats(0, 6),
)
def test_vtt_index_never_rises_in_dry_conditions(
    data: tuple[np.ndarray, np.ndarray, np.ndarray], sensitivity: str, initial: float
) -> None:
    t, rh, hours = data
    dry_rh = np.minimum(rh, 79.9)  # below RH_crit of every class at every temperature
    m = vtt_mould_index(t, dry_rh, hours, sensitivity=sensitivity, initial=initial)  # type: ignore[arg-type]
    assert np.all(np.diff(np.concatenate([[initial], m])) <= 0.0)


# --- integrating in chunks carrying the state ----------------------------------------------


def in_chunks_vtt(
    t: np.ndarray, rh: np.ndarray, h: np.ndarray, cuts: list[int]
) -> tuple[np.ndarray, VttState]:
    parts = []
    state = VttState()
    for lo, hi in zip([0, *cuts], [*cuts, t.size], strict=True):
        part, state = vtt_mould_index(
            t[lo:hi],
            rh[lo:hi],
            h[lo:hi],
            decline=DECLINE_RELATIVELY_LOW,
            state=state,
            return_state=True,
        )
        parts.append(part)
    return np.concatenate(parts), state


def in_chunks_mrf(
    t: np.ndarray, rh: np.ndarray, h: np.ndarray, cuts: list[int]
) -> tuple[np.ndarray, MrfState]:
    parts = []
    state = MrfState()
    for lo, hi in zip([0, *cuts], [*cuts, t.size], strict=True):
        part, state = mould_risk_factor(
            t[lo:hi], rh[lo:hi], h[lo:hi], state=state, return_state=True
        )
        parts.append(part)
    return np.concatenate(parts), state


def damp_then_dry(damp_h: int, dry_h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.full(damp_h + dry_h, 22.0)
    rh = np.where(np.arange(damp_h + dry_h) < damp_h, 97.0, 50.0)
    return t, rh, np.ones(t.size)


@pytest.mark.parametrize("dry_h", [3, 6, 7, 12, 24, 25, 30])
def test_vtt_in_two_chunks_equals_one_call_in_every_decline_phase(dry_h: int) -> None:
    # Cut dry_h hours into a dry spell: inside the first 6 h, on its boundaries, in the 6–24 h
    # pause and beyond 24 h. Without the hours since conditions turned unfavourable the second
    # chunk would restart the decline's first phase.
    t, rh, h = damp_then_dry(240, 100)
    whole, end = vtt_mould_index(
        t, rh, h, decline=DECLINE_RELATIVELY_LOW, state=VttState(), return_state=True
    )
    chunked, chunked_end = in_chunks_vtt(t, rh, h, [240 + dry_h])
    assert_allclose(chunked, whole, rtol=0, atol=1e-12)
    assert chunked_end.hours_unfavourable == end.hours_unfavourable == 100.0
    assert chunked_end.index == pytest.approx(end.index, abs=1e-12)
    assert whole[-1] < whole[239]  # it did decline


@pytest.mark.parametrize("dry_h", [1, 12, 23, 24, 25])
def test_mrf_in_two_chunks_equals_one_call_across_the_reset(dry_h: int) -> None:
    t, rh, h = damp_then_dry(100, 40)
    whole, end = mould_risk_factor(t, rh, h, return_state=True)
    chunked, chunked_end = in_chunks_mrf(t, rh, h, [100 + dry_h])
    assert whole[100 + 22] > 0 and whole[100 + 23] == 0.0  # reset after the 24th dry hour
    assert_allclose(chunked, whole, rtol=0, atol=1e-12)
    assert chunked_end == end == MrfState(0.0, 40.0)


def test_state_defaults_reproduce_initial() -> None:
    t, rh, h = damp_then_dry(50, 50)
    assert_allclose(
        vtt_mould_index(t, rh, h, state=VttState(0.7)), vtt_mould_index(t, rh, h, initial=0.7)
    )
    assert_allclose(
        mould_risk_factor(t, rh, h, state=MrfState(0.3)), mould_risk_factor(t, rh, h, initial=0.3)
    )
    with pytest.raises(ValueError, match="state or initial"):
        vtt_mould_index(t, rh, h, initial=0.5, state=VttState())
    with pytest.raises(ValueError, match="1-D"):
        mould_risk_factor(np.ones((3, 2)), np.ones((3, 2)), 1.0, return_state=True)


def test_empty_chunk_returns_the_state_unchanged() -> None:
    state = VttState(1.2, 7.0)
    values, after = vtt_mould_index([], [], 1.0, state=state, return_state=True)
    assert values.size == 0 and after == state
    mrf_state = MrfState(0.4, 3.0)
    mrf, mrf_after = mould_risk_factor([], [], 1.0, state=mrf_state, return_state=True)
    assert mrf.size == 0 and mrf_after == mrf_state


@st.composite
def chunked_series(
    draw: st.DrawFn,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    n = draw(st.integers(2, 300))
    spells = draw(st.lists(st.tuples(st.integers(1, 60), st.booleans()), min_size=1, max_size=12))
    rh = np.concatenate([np.full(k, 96.0 if damp else 55.0) for k, damp in spells])
    rh = np.resize(rh, n) + draw(arrays(np.float64, n, elements=st.floats(-3, 3)))
    t = draw(arrays(np.float64, n, elements=st.floats(5, 30)))
    missing = draw(arrays(np.bool_, n, elements=st.sampled_from([False] * 9 + [True])))
    rh = np.where(missing, np.nan, rh)  # some samples without data
    h = draw(arrays(np.float64, n, elements=st.sampled_from([0.5, 1.0, 1.0, 3.0])))
    cuts = sorted(set(draw(st.lists(st.integers(1, n - 1), max_size=10))))
    return t, rh, h, cuts


@settings(max_examples=150, deadline=None)
@given(chunked_series())
def test_chunked_integration_equals_one_call(
    case: tuple[np.ndarray, np.ndarray, np.ndarray, list[int]],
) -> None:
    t, rh, h, cuts = case
    vtt, vtt_end = in_chunks_vtt(t, rh, h, cuts)
    whole_vtt, whole_vtt_end = vtt_mould_index(
        t, rh, h, decline=DECLINE_RELATIVELY_LOW, return_state=True
    )
    assert_allclose(vtt, whole_vtt, rtol=0, atol=1e-12)
    assert vtt_end.hours_unfavourable == pytest.approx(whole_vtt_end.hours_unfavourable)
    mrf, mrf_end = in_chunks_mrf(t, rh, h, cuts)
    whole_mrf, whole_mrf_end = mould_risk_factor(t, rh, h, return_state=True)
    assert_allclose(mrf, whole_mrf, rtol=0, atol=1e-12)
    assert mrf_end.dry_hours == pytest.approx(whole_mrf_end.dry_hours)
