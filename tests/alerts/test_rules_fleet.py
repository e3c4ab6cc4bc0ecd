"""The across-sensor helpers against their per-sensor namesakes: each segment of a flat array
gives what the per-sensor function gives for that segment alone (the same bits), on random
segments that include empty ones, NaN, ties and runs; and the many-series mould models against
one series at a time."""

from __future__ import annotations

import numpy as np
import pytest

from repoclimate.alerts import fleet_series as fs
from repoclimate.alerts import series as one
from repoclimate.alerts.rules import health
from repoclimate.alerts.rules.base import fresh_steps, since_times
from repoclimate.preservation.mould import (
    MrfState,
    VttState,
    mould_risk_factor,
    mould_risk_factors,
    vtt_mould_index,
    vtt_mould_indices,
)


def segments(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random sensors: (times, values) with steps, NaN, repeated values; some empty."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(12):
        n = 0 if k % 5 == 2 else int(rng.integers(1, 60))
        times = np.sort(1.8e9 + rng.choice(np.arange(0.0, 20_000.0, 50.0), n, replace=False))
        values = np.round(rng.normal(60.0, 6.0, n), 0)  # rounding makes ties and runs
        values[rng.random(n) < 0.15] = np.nan
        out.append((times, values))
    return out


def flat(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[fs.Segments, np.ndarray, np.ndarray]:
    lengths = np.array([t.size for t, _ in parts], dtype=np.int64)
    segs = fs.Segments.from_lengths(lengths)
    times = np.concatenate([t for t, _ in parts])
    values = np.concatenate([v for _, v in parts])
    return segs, times, values


def pieces(segs: fs.Segments, values: np.ndarray) -> list[np.ndarray]:
    return [values[a:b] for a, b in zip(segs.offsets[:-1], segs.offsets[1:], strict=True)]


@pytest.mark.parametrize("seed", range(6))
def test_segmented_helpers_give_the_per_sensor_results(seed: int) -> None:
    parts = segments(seed)
    segs, times, values = flat(parts)
    rng = np.random.default_rng(seed + 100)
    initially = rng.random(segs.count) < 0.5
    enter = np.full(values.size, 64.0)
    clear = np.full(values.size, 61.0)

    on = fs.hysteresis_above(values, enter, clear, segs, initially)
    below = fs.hysteresis_below(values, enter - 8, clear - 2, segs, initially)
    starts = fs.episode_starts(on, segs, initially)
    since = fs.since_times(starts, times, segs)
    runs = fs.run_starts(values, segs)
    last = fs.last_valid(values, segs)
    for k, (t, v) in enumerate(parts):
        a = int(segs.offsets[k])
        expected_on = one.hysteresis_above(v, 64.0, 61.0, bool(initially[k]))
        assert np.array_equal(pieces(segs, on)[k], expected_on)
        assert np.array_equal(
            pieces(segs, below)[k], one.hysteresis_below(v, 56.0, 59.0, bool(initially[k]))
        )
        local = one.episode_starts(expected_on, bool(initially[k]))
        assert np.array_equal(pieces(segs, starts)[k], np.where(local >= 0, local + a, -1))
        assert np.array_equal(pieces(segs, since)[k], since_times(local, t))
        if v.size and not np.all(np.isnan(v)):
            assert np.array_equal(pieces(segs, runs)[k] - a, health._run_starts(v))
        assert np.array_equal(pieces(segs, last)[k], health._last_valid(v), equal_nan=True)


@pytest.mark.parametrize("n_times", [1, 3, 40])
def test_fresh_steps_are_the_per_sensor_ones(n_times: int) -> None:
    parts = segments(7)
    segs, times, _ = flat(parts)
    at = np.sort(np.random.default_rng(1).uniform(1.8e9 - 500, 1.8e9 + 21_000, n_times))
    at[0] = times[3]  # a reading exactly at an evaluation time counts
    max_age = np.linspace(100.0, 3000.0, segs.count)
    index, exists, fresh = fs.fresh_steps(times, segs, at, max_age)
    for k, (t, _) in enumerate(parts):
        expected_index, expected_fresh = fresh_steps(t, at, float(max_age[k]))
        assert np.array_equal(fresh[k], expected_fresh)
        has = np.searchsorted(t, at, side="right") > 0
        assert np.array_equal(exists[k], has)
        assert np.array_equal((index[k] - segs.offsets[k])[has], expected_index[has])


def test_compact_keeps_each_segments_selection() -> None:
    parts = segments(3)
    segs, times, values = flat(parts)
    kept, keep = segs.compact(~np.isnan(values))
    assert kept.count == segs.count
    for k, (t, v) in enumerate(parts):
        assert np.array_equal(pieces(kept, times[keep])[k], t[~np.isnan(v)])


def test_many_series_mould_models_continue_each_series_from_its_state() -> None:
    rng = np.random.default_rng(5)
    hours, series = 200, 6
    t = rng.uniform(5.0, 30.0, (hours, series))
    rh = np.clip(rng.normal(80.0, 12.0, (hours, series)), 0, 100)
    rh[rng.random((hours, series)) < 0.05] = np.nan  # gaps
    mrf_states = [MrfState(0.1 * k, 3.0 * (k % 3)) for k in range(series)]
    vtt_states = [VttState(0.4 * k, 10.0 * (k % 4)) for k in range(series)]
    mrf, mrf_ends = mould_risk_factors(t, rh, 1.0, mrf_states)
    vtt, vtt_ends = vtt_mould_indices(
        t, rh, 1.0, vtt_states, sensitivity="medium_resistant", decline=0.25
    )
    for k in range(series):
        one_mrf, one_mrf_end = mould_risk_factor(
            t[:, k], rh[:, k], 1.0, state=mrf_states[k], return_state=True
        )
        assert np.array_equal(mrf[:, k], one_mrf)  # the same operations: the same bits
        assert mrf_ends[k] == one_mrf_end
        one_vtt, one_vtt_end = vtt_mould_index(
            t[:, k], rh[:, k], 1.0, sensitivity="medium_resistant", decline=0.25,
            state=vtt_states[k], return_state=True,
        )  # fmt: skip
        np.testing.assert_allclose(vtt[:, k], one_vtt, rtol=1e-12, atol=1e-15)
        assert vtt_ends[k].hours_unfavourable == one_vtt_end.hours_unfavourable
        assert vtt_ends[k].index == pytest.approx(one_vtt_end.index, rel=1e-12)
    assert np.nanmax(vtt) > 1.0 and np.nanmax(mrf) > 1.0  # growth, not only decline
    with pytest.raises(ValueError, match="one state per series"):
        mould_risk_factors(t, rh, 1.0, mrf_states[:2])
