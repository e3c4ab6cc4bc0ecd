"""Climate profiles: the numbers of the standards, and compliance of constructed series whose
answers are known by construction (time in band, breaches, gaps, seasonal drift)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repoclimate.preservation.compliance import compliance
from repoclimate.preservation.profiles import (
    KNOWN_PROFILE_IDS,
    OLD_PROFILE_IDS,
    PROFILES,
    Profile,
    UnknownProfileError,
    get_profile,
    lookup_profile,
)

T0 = np.datetime64("2025-01-01T00:00", "ns")
HOUR = np.timedelta64(1, "h")


def hourly(n: int) -> np.ndarray:
    return T0 + np.arange(n) * HOUR


REQUIRED_IDS = [
    "ashrae-aa",
    "ashrae-a1",
    "ashrae-a2",
    "ashrae-b",
    "ashrae-c",
    "ashrae-d",
    "en15757",
    "iso11799-paper",
    "bs4971",
    "pas198",
    "en16893",
    "jgj25-paper",
    "jgj25-film",
    "jgj25-magnetic",
    "film-cold",
]


def test_every_id_the_rest_of_repoclimate_uses_exists() -> None:
    for profile_id in REQUIRED_IDS:
        assert PROFILES[profile_id].id == profile_id


@pytest.mark.parametrize(("old", "new"), [("ashrae-as", "ashrae-a1"), ("ashrae-a", "ashrae-a2")])
def test_old_ashrae_ids_are_aliases_that_say_so(old: str, new: str) -> None:
    # ASHRAE 2019 renamed As and A to A1 and A2: old registries keep working, with a warning.
    assert OLD_PROFILE_IDS[old] == new
    assert old not in list(PROFILES) and new in list(PROFILES)  # listed: the current ids
    assert old in PROFILES and PROFILES[old] is PROFILES[new] is get_profile(old)  # looked up
    assert PROFILES.get(old) is PROFILES[new]  # as callers holding old ids use it
    found = lookup_profile(old)
    assert found.profile.id == new and found.old_name == old
    assert found.warning == f"profile {old} is the old name of {new}"
    assert lookup_profile(new).warning is None
    assert {old, new} <= KNOWN_PROFILE_IDS


def test_ashrae_2019_class_names_are_profiles() -> None:
    for cls in ("aa", "a1", "a2", "b", "c", "d"):
        profile = PROFILES[f"ashrae-{cls}"]
        assert f"class {cls.upper()} " in profile.name
        assert "2019" in profile.notes


def test_every_profile_names_its_source_and_flags_unconfirmed_numbers() -> None:
    for profile in PROFILES.values():
        assert profile.name and profile.source and profile.notes
        assert profile.t_min_c <= profile.t_max_c
        assert 0 <= profile.rh_min_pct < profile.rh_max_pct <= 100
        if not profile.verified:
            assert "NOT CONFIRMED" in profile.notes or "BS 4971" in profile.notes


@pytest.mark.parametrize(
    ("profile_id", "t_range", "rh_range"),
    [
        # JGJ 25-2010 tables 5.2.1 and 5.2.2
        ("jgj25-paper", (14, 24), (45, 60)),
        ("jgj25-special", (14, 20), (45, 55)),
        ("jgj25-magnetic", (14, 24), (40, 60)),
        ("jgj25-film", (13, 15), (35, 45)),
        ("jgj25-film-copy", (14, 24), (40, 60)),
    ],
)
def test_jgj25_tables(profile_id: str, t_range: tuple[int, int], rh_range: tuple[int, int]) -> None:
    p = PROFILES[profile_id]
    assert (p.t_min_c, p.t_max_c) == t_range
    assert (p.rh_min_pct, p.rh_max_pct) == rh_range
    # §5.2.3: daily variation within ±2 °C and ±5 % RH
    assert (p.short_term_t_k, p.short_term_rh_pct, p.short_term_window_h) == (2.0, 5.0, 24.0)


@pytest.mark.parametrize(
    ("profile_id", "short", "seasonal"),
    [
        # REFERENCE.md §5 (ASHRAE table): short-term (RH %, K); seasonal (RH %, +K, −K)
        ("ashrae-aa", (5, 2), (5, 5, 5)),  # "no seasonal RH change": only the short-term band
        ("ashrae-a1", (5, 2), (10, 5, 10)),  # 2019's A1, formerly As
        ("ashrae-a2", (10, 2), (10, 5, 10)),  # 2019's A2, formerly A (its first option)
        ("ashrae-b", (10, 5), (10, 10, math.inf)),
    ],
)
def test_ashrae_classes(
    profile_id: str, short: tuple[float, float], seasonal: tuple[float, float, float]
) -> None:
    p = PROFILES[profile_id]
    assert (p.short_term_rh_pct, p.short_term_t_k) == short
    assert (p.seasonal_rh_pct, p.seasonal_t_up_k, p.seasonal_t_down_k) == seasonal


def test_ashrae_c_and_d_limits() -> None:
    c, d = PROFILES["ashrae-c"], PROFILES["ashrae-d"]
    assert (c.rh_min_pct, c.rh_max_pct, c.t_max_c) == (25, 75, 30)
    assert (d.rh_min_pct, d.rh_max_pct) == (0, 75)
    assert not d.has_temperature_rules
    assert PROFILES["ashrae-b"].t_max_c == 30  # "+10 K, but not above 30 °C"


def test_get_profile_names_the_valid_ids() -> None:
    assert get_profile("bs4971") is PROFILES["bs4971"]
    with pytest.raises(KeyError) as excinfo:
        get_profile("ashrae-z")
    assert isinstance(excinfo.value, UnknownProfileError)
    message = str(excinfo.value)
    assert "ashrae-z" in message
    for profile_id in REQUIRED_IDS:
        assert profile_id in message


# --- compliance -------------------------------------------------------------------------------


def test_time_in_band_regular_sampling() -> None:
    t = np.full(20, 20.0)
    rh = np.array([50.0] * 10 + [70.0] * 10)
    result = compliance("jgj25-paper", hourly(20), t, rh)
    assert result.time_in_band_pct == pytest.approx(50.0)
    assert result.time_out_of_band_pct == pytest.approx(50.0)
    assert result.too_damp_pct == pytest.approx(50.0)
    assert result.too_dry_pct == result.too_cold_pct == result.too_warm_pct == 0.0
    assert result.gap_hours == 0.0
    assert result.covered_hours == 20.0


def test_time_in_band_is_time_weighted_for_irregular_sampling() -> None:
    times = np.array([T0, T0 + 3 * HOUR, T0 + 4 * HOUR])
    # in band for 3 h, out for 1 h, in band for the last sample's nominal (median) 2 h
    result = compliance("jgj25-paper", times, [20.0, 30.0, 20.0], [50.0, 50.0, 50.0])
    assert result.covered_hours == pytest.approx(6.0)
    assert result.time_in_band_pct == pytest.approx(100 * 5 / 6)
    assert result.too_warm_pct == pytest.approx(100 * 1 / 6)


def test_gaps_are_neither_in_nor_out_of_band_and_are_reported() -> None:
    times = np.concatenate([hourly(10), T0 + (30 + np.arange(10)) * HOUR])
    rh = np.array([50.0] * 10 + [70.0] * 10)
    result = compliance("jgj25-paper", times, np.full(20, 20.0), rh)
    # the 21 h silence after 09:00 is a gap (> 3 × 1 h median): sample 9 keeps 1 h, 20 h gap
    assert result.gap_hours == pytest.approx(20.0)
    assert result.covered_hours == pytest.approx(20.0)
    assert result.time_in_band_pct == pytest.approx(50.0)
    assert result.gap_pct == pytest.approx(50.0)
    # an excursion does not bridge a gap
    both_sides = compliance("jgj25-paper", times, np.full(20, 30.0), np.full(20, 50.0))
    assert [e.quantity for e in both_sides.band_excursions] == ["t", "t"]


def test_missing_values_count_as_gap() -> None:
    rh = np.array([50.0, np.nan, np.nan, 70.0])
    result = compliance("jgj25-paper", hourly(4), np.full(4, 20.0), rh)
    assert result.gap_hours == pytest.approx(2.0)
    assert result.time_in_band_pct == pytest.approx(50.0)


def test_explicit_gap_threshold() -> None:
    times = np.array([T0, T0 + HOUR, T0 + 2 * HOUR, T0 + 4 * HOUR])
    default = compliance("jgj25-paper", times, np.full(4, 20.0), np.full(4, 50.0))
    strict = compliance("jgj25-paper", times, np.full(4, 20.0), np.full(4, 50.0), max_gap_h=1.5)
    assert default.gap_hours == 0.0
    assert strict.gap_hours == pytest.approx(1.0)


def test_short_term_breach_has_start_end_and_size() -> None:
    n = 72
    rh = np.full(n, 50.0)
    rh[30:34] = 58.0  # a 4-hour spike of +8 % RH in a day-long mean of about 51.3 %
    result = compliance("jgj25-paper", hourly(n), np.full(n, 20.0), rh)
    [breach] = result.short_term_breaches
    assert (breach.kind, breach.quantity) == ("short_term", "rh")
    assert breach.start == T0 + 30 * HOUR
    assert breach.end == T0 + 34 * HOUR
    assert breach.hours == pytest.approx(4.0)
    assert breach.limit == 5.0
    assert 8.0 - 4 * 8 / 24 - 0.5 < breach.peak < 8.0 - 4 * 8 / 25 + 0.5
    assert result.band_excursions == ()  # 58 % is still inside 45–60 %


def test_band_excursion_has_start_end_and_distance_beyond_limit() -> None:
    t = np.full(24, 20.0)
    t[5:8] = [25.0, 26.5, 25.5]
    result = compliance("jgj25-paper", hourly(24), t, np.full(24, 50.0))
    [excursion] = [e for e in result.band_excursions if e.quantity == "t"]
    assert excursion.start == T0 + 5 * HOUR
    assert excursion.end == T0 + 8 * HOUR
    assert excursion.peak == pytest.approx(2.5)
    assert excursion.limit == 24.0


def test_seasonal_drift_against_allowance() -> None:
    n = 24 * 365
    phase = 2 * np.pi * np.arange(n) / n
    t = 20.0 + 3.0 * np.sin(phase)
    calm = compliance("ashrae-a1", hourly(n), t, 50.0 + 6.0 * np.sin(phase))
    swinging = compliance("ashrae-a1", hourly(n), t, 50.0 + 14.0 * np.sin(phase))
    assert calm.seasonal.within is True
    assert swinging.seasonal.within is False
    # a 30-day mean of a yearly sine keeps ~98.8 % of its amplitude
    assert swinging.seasonal.rh_up_pct == pytest.approx(14.0 * 0.988, rel=0.01)
    assert calm.seasonal.t_up_k == pytest.approx(3.0 * 0.988, rel=0.01)
    assert calm.seasonal.span_days == pytest.approx(365.0)
    assert compliance("jgj25-paper", hourly(n), t, 50.0 + 0 * t).seasonal.within is None


def test_en15757_band_is_widened_to_ten_percent() -> None:
    n = 24 * 120
    rng = np.random.default_rng(4)
    rh = 50.0 + rng.normal(0, 1.0, n)
    result = compliance("en15757", hourly(n), np.full(n, np.nan), rh)
    assert result.historic_band_pct == pytest.approx((-10.0, 10.0))
    assert result.time_in_band_pct == 100.0


def test_en15757_band_is_the_7th_to_93rd_percentile_of_historic_fluctuations() -> None:
    n = 24 * 120
    rng = np.random.default_rng(5)
    rh = 50.0 + rng.normal(0, 12.0, n)
    result = compliance("en15757", hourly(n), np.full(n, 20.0), rh)
    low, high = result.historic_band_pct or (0.0, 0.0)
    # a normal distribution's 7th/93rd percentiles are ±1.476 σ
    assert low == pytest.approx(-1.476 * 12, rel=0.06)
    assert high == pytest.approx(1.476 * 12, rel=0.06)
    assert result.time_in_band_pct == pytest.approx(86.0, abs=1.0)
    # judged against a calmer reference period, the same series breaches far more often
    calm = 50.0 + rng.normal(0, 3.0, n)
    judged = compliance("en15757", hourly(n), np.full(n, 20.0), rh, reference=(hourly(n), calm))
    assert judged.historic_band_pct == pytest.approx((-10.0, 10.0))
    assert judged.time_in_band_pct < 65.0


def test_profile_object_and_aware_datetimes_are_accepted() -> None:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    times = [start + timedelta(hours=i) for i in range(6)]
    custom = Profile(id="custom", name="custom", source="test", rh_max_pct=60.0)
    result = compliance(custom, times, [np.nan] * 6, [50, 55, 65, 65, 50, 50])
    assert result.time_in_band_pct == pytest.approx(100 * 4 / 6)
    assert result.band_excursions[0].start == np.datetime64("2025-03-01T02:00", "ns")


def test_bad_time_axes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        compliance("bs4971", [datetime(2025, 1, 1), datetime(2025, 1, 2)], [20, 20], [50, 50])
    with pytest.raises(ValueError, match=r"times\[2\]"):
        compliance("bs4971", np.array([T0, T0 + HOUR, T0 + HOUR]), [20] * 3, [50] * 3)
    with pytest.raises(ValueError, match="one length"):
        compliance("bs4971", hourly(3), [20] * 3, [50] * 2)


@settings(max_examples=100, deadline=None)
@given(
    steps=st.lists(st.floats(min_value=0.05, max_value=30.0), min_size=1, max_size=200),
    data=st.data(),
    profile_id=st.sampled_from(sorted(PROFILES)),
)
def test_percentages_sum_to_100_with_gaps(
    steps: list[float], data: st.DataObject, profile_id: str
) -> None:
    n = len(steps) + 1
    offsets = np.concatenate([[0.0], np.cumsum(steps)])
    times = T0 + (offsets * 3.6e12).astype("timedelta64[ns]")
    values = st.one_of(st.floats(-30, 45), st.just(math.nan))
    t = np.array(data.draw(st.lists(values, min_size=n, max_size=n)))
    rh = np.array(
        data.draw(st.lists(st.one_of(st.floats(0, 100), st.just(math.nan)), min_size=n, max_size=n))
    )
    result = compliance(profile_id, times, t, rh)
    span = offsets[-1] + (float(np.median(steps)) if steps else 0.0)
    assert result.covered_hours + result.gap_hours == pytest.approx(span, rel=1e-9, abs=1e-9)
    if result.covered_hours > 0:
        assert result.time_in_band_pct + result.time_out_of_band_pct == pytest.approx(100.0)
        assert 0.0 <= result.time_in_band_pct <= 100.0
        worst = max(
            result.too_cold_pct, result.too_warm_pct, result.too_dry_pct, result.too_damp_pct
        )
        if PROFILES[profile_id].method == "fixed":
            assert worst <= result.time_out_of_band_pct + 1e-9
        assert result.gap_pct + 100 * result.covered_hours / span == pytest.approx(100.0)
    else:
        assert math.isnan(result.time_in_band_pct)
