"""What to change, on cases checked by hand against IPI's table, the Magnus form and the
profiles' numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from repoclimate.preservation.advice import (
    cooling_makes_mould_worse,
    in_band,
    mould_advice,
    out_of_mould_risk,
    pi_at_least_ok,
    rh_change,
    temperature_change,
    what_to_change,
)
from repoclimate.preservation.decay import preservation_index
from repoclimate.preservation.mould import days_to_mould
from repoclimate.preservation.profiles import get_profile
from repoclimate.preservation.psychrometrics import rh_at_temperature


def test_rh_to_leave_mould_risk_is_down_to_ipis_threshold() -> None:
    # IPI's row for 20 °C: 68 % no risk, 69 % 236 days; read at RH rounded half up, the risk
    # starts at 68.5 %: from 80 % the RH must fall 11.51 % (to 68.49 %, on the 0.01 grid).
    assert days_to_mould(20.0, 68.0) == math.inf and days_to_mould(20.0, 69.0) == 236
    assert rh_change(20.0, 80.0, out_of_mould_risk) == -11.51
    # 10 °C: risk from 80 % (19 days) — from 85 %, 5.51 % lower
    assert rh_change(10.0, 85.0, out_of_mould_risk) == -5.51


def test_warming_the_same_air_to_leave_mould_risk() -> None:
    # 20 °C / 80 %: e = 0.8 · 2333.4 Pa = 1866.8 Pa. At 23.0 °C (e_s 2803.8 Pa) RH is 66.58 %,
    # still at or above 23 °C's threshold of 66.5 %; just past 23.0 °C it falls below.
    dt = temperature_change(20.0, 80.0, out_of_mould_risk)
    assert dt is not None and 3.0 < dt <= 3.1
    rh_then = float(rh_at_temperature(20.0, 80.0, 20.0 + dt))
    assert days_to_mould(20.0 + dt, rh_then) == math.inf
    rh_before = float(rh_at_temperature(20.0, 80.0, 20.0 + dt - 0.01))
    assert math.isfinite(days_to_mould(20.0 + dt - 0.01, rh_before))


def test_no_change_when_already_there() -> None:
    assert rh_change(20.0, 60.0, out_of_mould_risk) == 0.0
    assert temperature_change(20.0, 60.0, out_of_mould_risk) == 0.0
    assert mould_advice(20.0, 60.0) == ""


def test_cooling_a_damp_room_makes_mould_worse() -> None:
    # 12 °C / 92 %: 4 days; 1 K cooler the same air is at 98.3 %, 3 days.
    assert days_to_mould(12.0, 92.0) == 4
    assert cooling_makes_mould_worse(12.0, 92.0)
    text = mould_advice(12.0, 92.0)
    assert text.startswith("lower RH by 15 % (below 77.5 %) to leave mould risk")
    assert "warm the air by 3.5 °C" in text
    assert text.endswith("cooling alone makes it worse")


def test_into_the_band_of_a_profile() -> None:
    a2 = get_profile("ashrae-a2")  # 3–32 °C, 40–60 %RH
    levers = what_to_change(12.0, 92.0, a2).into_band
    assert levers.rh_pct == -32.0  # down to the band's 60 %
    # e = 0.92 · 1400.1 Pa = 1288.1 Pa; 60 % needs e_s = 2146.8 Pa, reached at 18.661 °C
    assert levers.t_k == 6.67
    # ISO 11799 paper (2–18 °C, 30–45 %): at 20 °C no RH alone will do, and cooling the air
    # to 18 °C raises its RH to 91 %: neither lever alone reaches the band
    iso = what_to_change(20.0, 80.0, "iso11799-paper").into_band
    assert iso.rh_pct is None and iso.t_k is None
    assert rh_change(20.0, 30.0, in_band(get_profile("ashrae-a2"))) == 10.0  # humidify to 40 %


def test_to_a_pi_rating_of_at_least_ok() -> None:
    # PI 44.6 years at 20 °C / 50 %, just under OK's 45: a fraction of a percent drier will do
    assert preservation_index(20.0, 50.0) < 45.0 <= preservation_index(20.0, 49.0)
    change = rh_change(20.0, 50.0, pi_at_least_ok)
    assert change is not None and -1.0 < change < 0.0
    assert preservation_index(20.0, 50.0 + change) >= 45.0
    assert preservation_index(20.0, 50.0 + change + 0.01) < 45.0
    assert rh_change(20.0, 45.0, pi_at_least_ok) == 0.0  # 51 years: OK already
    # cooler is longer-lived even though the same air's RH rises
    cooler = temperature_change(20.0, 50.0, pi_at_least_ok)
    assert cooler is not None and cooler < 0.0


def test_goals_are_elementwise() -> None:
    t = np.array([20.0, 20.0, 1.0])
    rh = np.array([60.0, 80.0, 99.0])
    assert out_of_mould_risk(t, rh).tolist() == [True, False, False]  # 1 °C: outside IPI's domain


@pytest.mark.parametrize(("t", "rh"), [(5.0, 95.0), (25.0, 70.0), (35.0, 90.0)])
def test_the_rh_found_is_the_nearest_without_risk(t: float, rh: float) -> None:
    change = rh_change(t, rh, out_of_mould_risk)
    assert change is not None and change < 0
    assert days_to_mould(t, rh + change) == math.inf
    assert math.isfinite(days_to_mould(t, rh + change + 0.01))
