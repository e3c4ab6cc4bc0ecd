"""A value against a profile's band: ok / near / out / missing, at and around each limit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from repoclimate.preservation.profiles import PROFILES
from repoclimate.preservation.status import (
    NEAR_RH_PCT,
    NEAR_T_K,
    Band,
    Status,
    classify,
    profile_band,
    worst,
)

INF = math.inf


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (15.9, "out"),  # below the lower limit
        (16.0, "near"),  # on the limit: inside, and near it
        (16.4, "near"),  # inside, within the margin
        (16.5, "ok"),  # exactly the margin away: ok
        (20.0, "ok"),
        (24.5, "ok"),
        (24.6, "near"),
        (25.0, "near"),  # on the upper limit: inside
        (25.1, "out"),
        (float("nan"), "missing"),
    ],
)
def test_values_at_inside_near_and_outside_each_limit(value: float, expected: str) -> None:
    assert classify(value, 16.0, 25.0, 0.5) == expected
    assert Band(16.0, 25.0, 0.5).status(value) == Status(expected)


def test_vectorised_keeps_the_shape() -> None:
    values = np.array([[15.0, 16.2], [20.0, np.nan]])
    result = classify(values, 16.0, 25.0, 0.5)
    assert result.shape == (2, 2)
    assert result.tolist() == [["out", "near"], ["ok", "missing"]]
    assert classify([], 16.0, 25.0, 0.5).shape == (0,)


@pytest.mark.parametrize("open_limit", [None, float("nan"), -INF])
def test_missing_lower_limit_is_open(open_limit: float | None) -> None:
    assert classify([-40.0, 24.8, 26.0], open_limit, 25.0, 0.5).tolist() == ["ok", "near", "out"]


@pytest.mark.parametrize("open_limit", [None, float("nan"), INF])
def test_missing_upper_limit_is_open(open_limit: float | None) -> None:
    assert classify([1.0, 2.1, 99.0], 2.0, open_limit, 0.5).tolist() == ["out", "near", "ok"]


def test_no_limits_every_value_is_ok_and_nan_missing() -> None:
    assert classify([-1e9, 0.0, 1e9, np.nan], None, None, 2.0).tolist() == [
        "ok",
        "ok",
        "ok",
        "missing",
    ]
    assert Band().is_open


def test_zero_margin_only_the_limit_itself_is_not_ok() -> None:
    # value − low < 0 never holds inside the band: on the limit is ok with no margin
    assert classify([16.0, 16.01, 25.0], 16.0, 25.0, 0.0).tolist() == ["ok", "ok", "ok"]


def test_inverted_band_and_bad_margin_are_refused() -> None:
    with pytest.raises(ValueError, match=r"lower limit 25\.0 is above its upper limit 16\.0"):
        classify(20.0, 25.0, 16.0, 0.5)
    with pytest.raises(ValueError, match="near margin"):
        classify(20.0, 16.0, 25.0, -1.0)
    with pytest.raises(ValueError, match="near margin"):
        classify(20.0, 16.0, 25.0, float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        Band(float("nan"), 25.0)


def test_profile_band_reads_the_profile_with_the_rules_margins() -> None:
    paper = PROFILES["iso11799-paper"]  # 2–18 °C, 30–45 %RH
    assert profile_band(paper, "t") == Band(2.0, 18.0, NEAR_T_K)
    assert profile_band(paper, "rh") == Band(30.0, 45.0, NEAR_RH_PCT)
    assert profile_band(paper, "rh").status(44.0) is Status.NEAR
    assert profile_band(paper, "t").status(18.5) is Status.OUT


def test_profile_band_open_limits() -> None:
    damp = PROFILES["ashrae-d"]  # RH below 75 %, no temperature rule, no lower RH limit
    assert profile_band(damp, "t").is_open
    rh = profile_band(damp, "rh")
    assert (rh.low, rh.high) == (-INF, 75.0)
    assert rh.status(1.0) is Status.OK  # 0 %RH is no limit: nothing is "near" it
    assert rh.status(74.0) is Status.NEAR
    assert profile_band(None, "rh").status(99.0) is Status.OK  # a room without a profile


def test_worst() -> None:
    assert worst(Status.OK, Status.OUT, Status.NEAR) is Status.OUT
    assert worst(Status.MISSING, Status.OK) is Status.OK
    assert worst() is Status.MISSING
