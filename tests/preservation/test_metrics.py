"""The single entry point: one room's series → every metric, consistent with the models and with
the sampling rules (irregular spacing, gaps)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from numpy.testing import assert_allclose

from repoclimate.preservation.compliance import compliance
from repoclimate.preservation.decay import preservation_index
from repoclimate.preservation.metrics import (
    SENSITIVITY_FOR_HOLDINGS,
    fleet_metrics,
    room_metrics,
)
from repoclimate.preservation.mould import days_to_mould
from repoclimate.preservation.psychrometrics import frost_point

T0 = np.datetime64("2025-06-01T00:00", "ns")
HOUR = np.timedelta64(1, "h")


def test_every_registry_holdings_kind_has_a_vtt_class() -> None:
    # registry vocabulary: paper | parchment | photographs | film | magnetic | mixed | wood
    for holdings in ("paper", "parchment", "photographs", "film", "magnetic", "mixed", "wood"):
        assert holdings in SENSITIVITY_FOR_HOLDINGS
    assert SENSITIVITY_FOR_HOLDINGS["paper"] == "sensitive"  # Ojanen et al. (2010)
    assert SENSITIVITY_FOR_HOLDINGS["wood"] == "very_sensitive"


def test_room_metrics_of_a_steady_room() -> None:
    n = 48
    times = T0 + np.arange(n) * HOUR
    m = room_metrics(times, np.full(n, 20.0), np.full(n, 50.0), profile="jgj25-paper")
    # REFERENCE.md §6 at 20 °C / 50 %: dew point 9.26 °C, EMC 9.27 %, LM 1.000
    assert_allclose(m.dew_point, 9.26, atol=0.005)
    assert_allclose(m.emc, 9.27, atol=0.005)
    assert_allclose(m.lifetime_multiplier, 1.0, atol=1e-12)
    assert m.mean_lifetime_multiplier == pytest.approx(1.0)
    assert m.twpi == pytest.approx(45.0, rel=0.02)  # IPI's room-conditions anchor
    assert m.natural_aging == "risk"  # 44.6 years: just under IPI's 45-year OK threshold
    assert np.all(np.isinf(m.days_to_mould))
    assert m.mrf_max == 0.0
    assert m.vtt_max == 0.0
    assert m.emc_range.rating == "ok"
    assert m.covered_hours == 48.0
    assert m.gap_hours == 0.0
    assert m.compliance is not None
    assert m.compliance.time_in_band_pct == 100.0


def test_room_metrics_damp_room_grows_mould() -> None:
    n = 24 * 60
    times = T0 + np.arange(n) * HOUR
    m = room_metrics(times, np.full(n, 22.0), np.full(n, 90.0), holdings="paper")
    days = float(days_to_mould(22.0, 90.0))
    assert m.mrf_last == pytest.approx(n / 24 / days, rel=1e-9)
    assert m.vtt_max > 0.5
    assert m.sensitivity == "sensitive"
    assert m.emc_range.rating == "risk"
    wood = room_metrics(times, np.full(n, 22.0), np.full(n, 90.0), holdings="wood")
    assert wood.vtt_max > m.vtt_max  # very sensitive grows faster


def test_room_metrics_gaps_and_irregular_sampling() -> None:
    times = np.concatenate([T0 + np.arange(10) * HOUR, T0 + (40 + np.arange(10)) * HOUR])
    t = np.full(20, 20.0)
    rh = np.array([50.0] * 19 + [np.nan])
    m = room_metrics(times, t, rh)
    assert m.max_gap_h == pytest.approx(3.0)
    assert m.gap_hours == pytest.approx(30.0 + 1.0)  # the silence and the NaN sample
    assert m.hours[9] == 1.0
    assert m.hours[-1] == 0.0
    assert m.covered_hours == pytest.approx(19.0)


def test_room_metrics_accepts_aware_datetimes() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    times = [start + timedelta(minutes=10 * i) for i in range(12)]
    m = room_metrics(times, [18.0] * 12, [45.0] * 12)
    assert m.times[0] == np.datetime64("2025-01-01T00:00", "ns")
    assert m.covered_hours == pytest.approx(2.0)
    assert m.twpi == pytest.approx(float(preservation_index(18.0, 45.0)))


def test_room_metrics_refuses_bad_input() -> None:
    times = T0 + np.arange(3) * HOUR
    with pytest.raises(ValueError, match="holdings"):
        room_metrics(times, [20] * 3, [50] * 3, holdings="vellum")
    with pytest.raises(KeyError, match="valid ids"):
        room_metrics(times, [20] * 3, [50] * 3, profile="nope")
    with pytest.raises(ValueError, match="one length"):
        room_metrics(times, [20] * 3, [50] * 4)


def test_series_for_influxdb_are_finite_or_nan() -> None:
    times = T0 + np.arange(5) * HOUR
    m = room_metrics(times, [20.0, 20, 20, 20, 20], [50.0, 70, 90, 50, np.nan])
    series = m.series()
    assert set(series) == {
        "dew_point",
        "frost_point",
        "emc",
        "preservation_index",
        "lifetime_multiplier",
        "days_to_mould",
        "mould_risk_factor",
        "vtt_mould_index",
    }
    for values in series.values():
        assert values.shape == (5,)
        assert not np.any(np.isinf(values))
    assert math.isnan(series["days_to_mould"][0])  # no risk at 50 %: inf → NaN
    assert np.all(np.isnan(series["frost_point"]))  # dew points of 9–18 °C: no frost
    assert series["days_to_mould"][1] == pytest.approx(float(days_to_mould(20.0, 70.0)))


def test_a_cold_store_reports_its_frost_point() -> None:
    """Film cold store at −5 °C / 80 %RH: the frost point (over ice) lies above the dew point
    (over water): ASHRAE's and CoolProp's convention below 0 °C."""
    m = room_metrics(T0 + np.arange(2) * HOUR, [-5.0, -5.0], [80.0, 80.0], profile="film-cold")
    frost, dew = m.series()["frost_point"], m.series()["dew_point"]
    assert frost == pytest.approx(float(frost_point(-5.0, 80.0)))
    assert np.all(frost > dew)
    assert frost[0] == pytest.approx(-7.0, abs=0.1)


def test_compliance_is_the_profiles_own_for_an_rh_only_series() -> None:
    # ashrae-d has no temperature rules: samples without a temperature still count
    times = T0 + np.arange(24) * HOUR
    t = np.full(24, np.nan)
    rh = np.full(24, 45.0)
    direct = compliance("ashrae-d", times, t, rh)
    assert direct.time_in_band_pct == pytest.approx(100.0)
    m = room_metrics(times, t, rh, profile="ashrae-d")
    assert m.compliance == direct


def test_mould_indices_integrated_elsewhere_are_taken_as_given() -> None:
    times = T0 + np.arange(3) * HOUR
    carried = ([0.5, np.nan, 0.7], [1.0, 1.1, np.nan])
    m = room_metrics(times, [22.0] * 3, [90.0] * 3, mould=carried)
    assert_allclose(m.series()["mould_risk_factor"], carried[0])
    assert_allclose(m.series()["vtt_mould_index"], carried[1])
    assert m.mrf_max == pytest.approx(0.7)
    with pytest.raises(ValueError, match="mould indices"):
        room_metrics(times, [22.0] * 3, [90.0] * 3, mould=([0.0], [0.0]))


def test_fleet_metrics_agree_with_room_metrics() -> None:
    rng = np.random.default_rng(12)
    n, sensors = 48, 7
    t = rng.uniform(12, 30, (n, sensors))
    rh = rng.uniform(30, 98, (n, sensors))
    rh[5, 2] = np.nan
    fleet = fleet_metrics(t, rh, holdings="film")
    times = T0 + np.arange(n) * HOUR
    for j in range(sensors):
        room = room_metrics(times, t[:, j], rh[:, j], holdings="film")
        assert_allclose(fleet.mrf[:, j], room.mrf, rtol=1e-12)
        assert_allclose(fleet.vtt_index[:, j], room.vtt_index, rtol=1e-12, atol=1e-15)
        assert_allclose(fleet.dew_point[:, j], room.dew_point, rtol=1e-12, equal_nan=True)
        assert fleet.twpi[j] == pytest.approx(room.twpi, rel=1e-12)
        assert fleet.emc_max[j] == pytest.approx(room.emc_range.emc_max_pct, rel=1e-12)
    with pytest.raises(ValueError, match="2-D"):
        fleet_metrics(t[:, 0], rh[:, 0])


def test_empty_and_single_sample_series_give_nan_summaries() -> None:
    empty = room_metrics(np.array([], dtype="datetime64[ns]"), [], [], profile="ashrae-a")
    assert math.isnan(empty.twpi)
    assert empty.natural_aging is None
    assert empty.compliance is not None
    assert math.isnan(empty.compliance.time_in_band_pct)
    # one sample stands for no known interval: nothing is covered
    single = room_metrics(T0 + np.arange(1) * HOUR, [20.0], [50.0], profile="en15757")
    assert single.covered_hours == 0.0
    assert single.dew_point[0] == pytest.approx(9.26, abs=0.005)
    assert single.compliance is not None
    assert single.compliance.historic_band_pct == (-10.0, 10.0)
