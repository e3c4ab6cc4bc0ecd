"""Benchmark of the preservation science: every metric for one sensor over 10 years of hourly data
(and a year of minute data), and for 10 000 sensors over their last 24 hours — against a plain
Python loop of the same equations, measured in the same run.

Run: ``python bench/science.py`` (add ``--quick`` for a smaller, faster run). Prints one line
per measurement and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from repoclimate.preservation.ipi_mould_table import IPI_DAYS_TO_MOULD
from repoclimate.preservation.metrics import fleet_metrics, room_metrics
from repoclimate.preservation.profiles import get_profile

HOUR = np.timedelta64(1, "h")
MINUTE = np.timedelta64(1, "m")


def synthetic_room(n: int, step_h: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A storeroom with a yearly cycle (damp enough in summer to grow mould), a daily ripple and
    sensor noise."""
    rng = np.random.default_rng(seed)
    hours = np.arange(n) * step_h
    year = 2 * np.pi * hours / (24 * 365.25)
    day = 2 * np.pi * hours / 24
    t = 17 + 4 * np.sin(year) + 0.5 * np.sin(day) + rng.normal(0, 0.2, n)
    rh = 64 + 15 * np.sin(year - 0.5) + 2 * np.sin(day) + rng.normal(0, 1.5, n)
    return t, np.clip(rh, 1, 100)


# --- the same equations, one sample at a time, in plain Python ---------------------------------


def plain_python_metrics(
    t_list: list[float], rh_list: list[float], step_h: float, band: tuple[float, ...]
) -> dict[str, float]:
    """Every per-sample metric, the cumulative models and the summaries, sample by sample."""
    n = len(t_list)
    exp, log = math.exp, math.log
    dew, emc_l, pi_l, lm_l, days_l = [], [], [], [], []
    for t, rh in zip(t_list, rh_list, strict=True):
        gamma = log(rh / 100) + 17.625 * t / (243.04 + t)
        dew.append(243.04 * gamma / (17.625 - gamma))
        h = rh / 100
        w = 349 + 1.29 * t + 0.0135 * t * t
        k = 0.805 + 0.000736 * t - 0.00000273 * t * t
        k1 = 6.27 - 0.00938 * t - 0.000303 * t * t
        k2 = 1.91 + 0.0407 * t - 0.000293 * t * t
        kh = k * h
        emc_l.append(
            1800
            / w
            * (kh / (1 - kh) + (k1 * kh + 2 * k1 * k2 * kh**2) / (1 + k1 * kh + k1 * k2 * kh**2))
        )
        pi_l.append(exp((95220 - 134.9 * rh) / (8.314 * (t + 273.15)) + 0.0284 * rh - 28.023) / 365)
        lm_l.append((50 / rh) ** 1.3 * exp(100e3 / 8.314 * (1 / (t + 273.15) - 1 / 293.15)))
        cell = (
            IPI_DAYS_TO_MOULD[math.floor(t + 0.5) - 2][math.floor(rh + 0.5) - 65]
            if 2 <= t <= 45 and 65 <= rh <= 100
            else 0
        )
        days_l.append(float(cell) if cell else math.inf)
    # MRF with the 24 h reset
    mrf, dry_h, mrf_max = 0.0, 0.0, 0.0
    for days in days_l:
        if days == math.inf:
            dry_h += step_h
            if dry_h >= 24:
                mrf = 0.0
        else:
            dry_h = 0.0
            mrf += step_h / 24 / days
        mrf_max = max(mrf_max, mrf)
    # VTT, sensitive class, decline 0.25
    m, since, vtt_max = 0.0, 0.0, 0.0
    for t, rh in zip(t_list, rh_list, strict=True):
        crit = max(-0.00267 * t**3 + 0.16 * t**2 - 3.13 * t + 100, 80) if 0 < t < 50 else 100
        if 0 < t < 50 and rh >= crit:
            x = (crit - rh) / (crit - 100)
            cap = max(0.3 + 6 * x - x * x, 0.0)
            if m < cap:
                k2 = 1 - exp(2.3 * (m - cap))
                rate = step_h / 24 / (7 * exp(-0.68 * log(t) - 13.9 * log(rh) + 66.02))
                m = min(m + rate * (0.578 if m < 1 else 0.386) * k2, cap)
            since = 0.0
        else:
            first = max(min(since + step_h, 6) - since, 0)
            late = max(since + step_h - max(since, 24), 0)
            m = max(m - 0.25 * (0.032 / 24 * first + 0.016 / 24 * late), 0.0)
            since += step_h
        vtt_max = max(vtt_max, m)
    # summaries: TWPI, mean LM, EMC extremes, time in band, 24 h and 30 d centred means
    twpi = n / sum(1 / p for p in pi_l)
    mean_lm = n / sum(1 / v for v in lm_l)
    t_lo, t_hi, rh_lo, rh_hi = band
    in_band = sum(
        1
        for t, rh in zip(t_list, rh_list, strict=True)
        if t_lo <= t <= t_hi and rh_lo <= rh <= rh_hi
    )
    breaches = 0
    for window_h, values in ((24.0, rh_list), (720.0, rh_list)):
        half = int(window_h / step_h / 2)
        running = sum(values[: half + 1])
        lo, hi = 0, half
        for i in range(n):
            while hi + 1 < n and hi + 1 <= i + half:
                hi += 1
                running += values[hi]
            while lo < i - half:
                running -= values[lo]
                lo += 1
            if abs(values[i] - running / (hi - lo + 1)) > 5:
                breaches += 1
    return {
        "twpi": twpi,
        "mean_lm": mean_lm,
        "mrf_max": mrf_max,
        "vtt_max": vtt_max,
        "emc_min": min(emc_l),
        "emc_max": max(emc_l),
        "in_band_pct": 100 * in_band / n,
        "breach_samples": breaches,
        "dew_min": min(dew),
        "days_min": min(days_l),
    }


def timed(func: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best wall-clock time of ``repeat`` runs [s] and the last result."""
    best, result = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 year / 1 000 sensors")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    years = 1 if args.quick else 10
    sensors = 1_000 if args.quick else 10_000
    profile = get_profile("jgj25-paper")
    band = (profile.t_min_c, profile.t_max_c, profile.rh_min_pct, profile.rh_max_pct)
    results: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
    }

    # 1. one sensor, 10 years of hourly data
    n = int(years * 365.25 * 24)
    t, rh = synthetic_room(n, 1.0, seed=1)
    times = np.datetime64("2015-01-01T00:00", "ns") + np.arange(n) * HOUR
    vec_s, metrics = timed(
        lambda: room_metrics(times, t, rh, holdings="paper", profile=profile), args.repeat
    )
    py_s, plain = timed(lambda: plain_python_metrics(t.tolist(), rh.tolist(), 1.0, band), 1)
    results["one_sensor_hourly"] = {
        "samples": n,
        "room_metrics_s": round(vec_s, 4),
        "plain_python_s": round(py_s, 3),
        "speedup": round(py_s / vec_s, 1),
        "twpi": round(metrics.twpi, 2),
        "twpi_plain": round(plain["twpi"], 2),
        "vtt_max": round(metrics.vtt_max, 4),
        "vtt_max_plain": round(plain["vtt_max"], 4),
        "mrf_max": round(metrics.mrf_max, 4),
        "mrf_max_plain": round(plain["mrf_max"], 4),
        "emc_max": round(metrics.emc_range.emc_max_pct, 3),
        "emc_max_plain": round(plain["emc_max"], 3),
        "time_in_band_pct": round(metrics.compliance.time_in_band_pct, 2)
        if metrics.compliance
        else None,
        "time_in_band_pct_plain": round(plain["in_band_pct"], 2),
    }
    print(
        f"1 sensor × {years} y hourly ({n} samples): room_metrics {vec_s:.3f} s, "
        f"plain Python {py_s:.2f} s, ×{py_s / vec_s:.0f}",
        flush=True,
    )

    # 1b. one sensor, a year of minute data
    n_min = 365 * 24 * 60
    t_m, rh_m = synthetic_room(n_min, 1 / 60, seed=2)
    times_m = np.datetime64("2024-01-01T00:00", "ns") + np.arange(n_min) * MINUTE
    vec_m, _ = timed(lambda: room_metrics(times_m, t_m, rh_m, profile=profile), args.repeat)
    py_m, _ = timed(lambda: plain_python_metrics(t_m.tolist(), rh_m.tolist(), 1 / 60, band), 1)
    results["one_sensor_year_of_minutes"] = {
        "samples": n_min,
        "room_metrics_s": round(vec_m, 4),
        "plain_python_s": round(py_m, 3),
        "speedup": round(py_m / vec_m, 1),
    }
    print(
        f"1 sensor × 1 y of minutes ({n_min} samples): room_metrics {vec_m:.3f} s, "
        f"plain Python {py_m:.2f} s, ×{py_m / vec_m:.0f}",
        flush=True,
    )

    # 2. 10 000 sensors, last 24 hours (hourly)
    rng = np.random.default_rng(3)
    t_f = 18 + rng.normal(0, 2, (24, sensors))
    rh_f = np.clip(60 + rng.normal(0, 10, (24, sensors)), 10, 95)
    fleet_s, fleet = timed(lambda: fleet_metrics(t_f, rh_f, holdings="paper"), args.repeat)
    times_24 = np.datetime64("2025-01-01T00:00", "ns") + np.arange(24) * HOUR
    t_cols = [np.ascontiguousarray(t_f[:, j]) for j in range(sensors)]
    rh_cols = [np.ascontiguousarray(rh_f[:, j]) for j in range(sensors)]

    def per_room() -> list[float]:
        return [
            room_metrics(times_24, t_cols[j], rh_cols[j], profile=profile).twpi
            for j in range(sensors)
        ]

    rooms_s, twpis = timed(per_room, 1)
    t_lists, rh_lists = t_f.T.tolist(), rh_f.T.tolist()
    py_f, plain_twpi = timed(
        lambda: [
            plain_python_metrics(t_lists[j], rh_lists[j], 1.0, band)["twpi"] for j in range(sensors)
        ],
        1,
    )
    results["fleet_last_24h"] = {
        "sensors": sensors,
        "samples_per_sensor": 24,
        "fleet_metrics_s": round(fleet_s, 4),
        "room_metrics_each_s": round(rooms_s, 3),
        "room_metrics_per_call_ms": round(1000 * rooms_s / sensors, 3),
        "plain_python_s": round(py_f, 3),
        "speedup_fleet": round(py_f / fleet_s, 1),
        "speedup_room_metrics_each": round(py_f / rooms_s, 2),
        "twpi_max_abs_diff": float(
            max(abs(a - b) for a, b in zip(fleet.twpi.tolist(), plain_twpi, strict=True))
        ),
        "twpi_median": round(statistics.median(twpis), 2),
    }
    print(
        f"{sensors} sensors × 24 h: fleet_metrics {fleet_s:.3f} s, room_metrics each "
        f"{rooms_s:.2f} s ({1000 * rooms_s / sensors:.2f} ms/call), plain Python {py_f:.2f} s",
        flush=True,
    )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
