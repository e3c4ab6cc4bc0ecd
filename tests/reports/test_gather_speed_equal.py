"""The report's faster paths give exactly what the plain ones give: bit for bit, field by field.

- `preservation.compliance.compliances` (several profiles in one pass) against `compliance` of
  each profile; `room_metrics(..., standards=)` and `mould_indices` against `room_metrics`;
- `preservation._series.window_bounds` (counted on a whole-hour grid) against ``searchsorted``;
- the excursions put in order as arrays (`_sorted`) against the list sort they replaced;
- `SQLiteStore.hourly_rows` (Arrow columns) against `rollups` of each sensor;
- a gathered report's standards and mould indices against `compliance` and `room_metrics` of
  its own series, as the report computed them before.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repoclimate.history.sqlite import SQLiteStore
from repoclimate.preservation._series import window_bounds
from repoclimate.preservation.compliance import (
    Excursion,
    _new_excursion,
    _Runs,
    _sorted,
    compliance,
    compliances,
)
from repoclimate.preservation.metrics import mould_indices, room_metrics
from repoclimate.preservation.profiles import PROFILES, ExcursionKind, Quantity, get_profile
from repoclimate.reports.gather import STANDARDS, gather, jgj25_for
from repoclimate.reports.periods import parse_period
from repoclimate.sensors.reading import Reading
from tests.reports.conftest import NOW, Seeded

HOUR_NS = 3_600_000_000_000
PROFILE_IDS = sorted(PROFILES)


def assert_same(a: Any, b: Any, path: str = "value") -> None:
    """``a`` and ``b`` equal bit for bit: dataclasses field by field, arrays of one dtype and
    shape with equal elements (NaN where the other has NaN), floats equal or both NaN."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), f"{path}: {type(a).__name__} vs {type(b).__name__}"
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), f"{path}: array vs {type(b).__name__}"
        assert (a.dtype, a.shape) == (b.dtype, b.shape), f"{path}: {a.dtype}{a.shape}"
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), f"{path}: values differ"
    elif isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b), f"{path}: lengths {len(a)}, {len(b)}"
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{k}]")
    elif isinstance(a, float):
        assert type(a) is type(b), f"{path}: {type(a).__name__} vs {type(b).__name__}"
        assert a == b or (math.isnan(a) and math.isnan(b)), f"{path}: {a!r} vs {b!r}"
    else:
        assert type(a) is type(b) and a == b, f"{path}: {a!r} vs {b!r}"


@st.composite
def series(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times (an hourly grid, or irregular steps with gaps), T and RH with NaN holes, and
    values that cross the profiles' bands and short-term limits."""
    n = draw(st.integers(0, 120))
    if draw(st.booleans()):
        steps = np.ones(n, dtype=np.int64) * 3600
    else:
        steps = np.array(
            draw(
                st.lists(
                    st.sampled_from([300, 900, 3600, 5400, 4 * 3600, 30 * 3600]),
                    min_size=n,
                    max_size=n,
                )
            ),
            dtype=np.int64,
        )
    seconds = 1_767_196_800 + np.cumsum(steps) - (steps[0] if n else 0)
    times = (seconds * 1_000_000_000).astype("datetime64[ns]")
    k = np.arange(n)
    t = 18.0 + draw(st.floats(0, 12)) * np.sin(k / draw(st.floats(1, 30))) + draw(st.floats(-8, 8))
    rh = 50.0 + draw(st.floats(0, 40)) * np.cos(k / draw(st.floats(1, 30)))
    rh = np.clip(rh, 0.0, 100.0)
    holes = draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=n // 4 + 1)) if n else []
    which = draw(st.sampled_from(["t", "rh", "both"]))
    if which in ("t", "both"):
        t[holes] = np.nan
    if which in ("rh", "both"):
        rh[holes] = np.nan
    return times, t, rh


@settings(max_examples=60, deadline=None)
@given(series(), st.lists(st.sampled_from(PROFILE_IDS), min_size=1, max_size=12))
def test_compliances_equal_compliance_of_each_profile(
    data: tuple[np.ndarray, np.ndarray, np.ndarray], ids: list[str]
) -> None:
    times, t, rh = data
    together = compliances(ids, times, t, rh)
    assert len(together) == len(ids)
    for pid, got in zip(ids, together, strict=True):
        assert_same(got, compliance(pid, times, t, rh), pid)


@settings(max_examples=40, deadline=None)
@given(
    series(),
    st.sampled_from([None, *PROFILE_IDS]),
    st.lists(st.sampled_from(PROFILE_IDS), max_size=9),
    st.sampled_from(["paper", "film", "magnetic", "wood"]),
)
def test_room_metrics_standards_and_mould_indices(
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
    profile: str | None,
    standards: list[str],
    holdings: str,
) -> None:
    times, t, rh = data
    plain = room_metrics(times, t, rh, holdings=holdings, profile=profile)
    fast = room_metrics(times, t, rh, holdings=holdings, profile=profile, standards=standards)
    assert_same(dataclasses.replace(fast, standards=()), plain)
    assert plain.standards == ()
    if profile is not None:
        assert plain.compliance is not None
        assert_same(plain.compliance, compliance(profile, times, t, rh))
    for pid, got in zip(standards, fast.standards, strict=True):
        assert_same(got, compliance(pid, times, t, rh), pid)
    mrf, vtt = mould_indices(times, t, rh, holdings=holdings)
    assert_same((mrf, vtt), (plain.mrf, plain.vtt_index))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 400),
    st.booleans(),
    st.one_of(
        st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 23.0, 24.0, 25.0, 720.0, 1e9, math.inf]),
        st.floats(0.0, 2000.0),
    ),
    st.randoms(use_true_random=False),
)
def test_window_bounds_equal_searchsorted(n: int, regular: bool, window: float, rand: Any) -> None:
    if regular:
        times_h = np.arange(n, dtype=np.float64)
    else:
        times_h = np.cumsum([rand.choice([0.25, 1.0, 1.5, 7.0]) for _ in range(n)]) - 0.25
    lo, hi = window_bounds(times_h, window)
    want_lo = np.searchsorted(times_h, times_h - window / 2.0, side="left")
    want_hi = np.searchsorted(times_h, times_h + window / 2.0, side="right")
    assert lo.dtype == want_lo.dtype and hi.dtype == want_hi.dtype
    np.testing.assert_array_equal(lo, want_lo)
    np.testing.assert_array_equal(hi, want_hi)


def _sorted_as_before(parts: list[_Runs]) -> tuple[Excursion, ...]:
    """How the excursions were put in order before they were kept as arrays: each as a
    (first index, 0 for T / 1 for RH, excursion) tuple, the list sorted on the first two."""
    keyed = []
    for p in parts:
        order = 0 if p.quantity == "t" else 1
        keyed += [
            (first, order, Excursion(p.kind, p.quantity, p.start[i], p.end[i], peak, limit))
            for i, (first, peak, limit) in enumerate(
                zip(p.first.tolist(), p.peak.tolist(), p.limit.tolist(), strict=True)
            )
        ]
    keyed.sort(key=lambda item: (item[0], item[1]))
    return tuple(item[2] for item in keyed)


@st.composite
def runs(draw: st.DrawFn) -> _Runs:
    size = draw(st.integers(0, 8))
    first = np.array(sorted(draw(st.lists(st.integers(0, 30), min_size=size, max_size=size))))
    first = first.astype(np.intp)
    start = (first.astype(np.int64) * HOUR_NS).astype("datetime64[ns]")
    length = np.array(draw(st.lists(st.integers(1, 5), min_size=size, max_size=size)))
    end = start + (length.astype(np.int64) * HOUR_NS).astype("timedelta64[ns]")
    peak = np.array(draw(st.lists(st.floats(-20, 20), min_size=size, max_size=size)))
    limit = np.full(size, draw(st.floats(0, 10)))
    kind: ExcursionKind = draw(st.sampled_from(["short_term", "band"]))
    quantity: Quantity = draw(st.sampled_from(["t", "rh"]))
    return _Runs(kind, quantity, first, start, end, peak.astype(np.float64), limit)


@settings(max_examples=150, deadline=None)
@given(st.lists(runs(), max_size=5))
def test_excursions_are_ordered_as_before(parts: list[_Runs]) -> None:
    assert_same(_sorted(parts), _sorted_as_before(parts))


def test_the_fast_excursion_constructor_makes_what_the_class_makes() -> None:
    """In use (the class has the fields it expects), equal, hashed alike, and still frozen."""
    assert _new_excursion is not Excursion
    start = np.datetime64(1_767_196_800_000_000_000, "ns")
    args = ("band", "rh", start, start + np.timedelta64(2, "h"), -3.25, 40.0)
    fast, plain = _new_excursion(*args), Excursion(*args)  # type: ignore[arg-type]
    assert type(fast) is Excursion
    assert (fast, hash(fast), repr(fast), fast.hours) == (plain, hash(plain), repr(plain), 2.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.peak = 1.0  # type: ignore[misc]


def test_hourly_rows_equal_each_sensors_rollups(tmp_path: Path) -> None:
    """The Arrow read gives each bucket's values as `rollups` does: an RH-only sensor (its
    temperature columns all NULL), a sensor with a silent day, several samples an hour, a
    sensor without readings; counts are the larger of T's and RH's."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    readings = []
    for k in range(4 * 24 * 3):
        when = start + timedelta(minutes=15 * k)
        readings.append(Reading("both", when, 15.0 + (k % 7) * 0.37, 40.0 + (k % 11) * 1.1))
        readings.append(Reading("rh-only", when, None, 55.0 - (k % 5) * 0.9))
        if not 96 <= k < 192:  # silent on the second day
            readings.append(Reading("gappy", when, -0.5 + (k % 3) * 0.25, None if k % 4 else 60.0))
    sensors = ["both", "rh-only", "gappy", "never"]
    with SQLiteStore(tmp_path / "h.sqlite") as store:
        store.write(readings)
        lo, hi = start + timedelta(hours=5), start + timedelta(days=3)
        tables = store.hourly_rows(sensors, lo, hi)
        assert store.hourly_rows([], lo, hi) == []
        for sensor, table in zip(sensors, tables, strict=True):
            points = store.rollups("1h", lo, hi, sensor=sensor)
            assert table.dtype == np.float64 and table.shape == (len(points), 8)
            table = table[np.argsort(table[:, 0])]
            want = np.array(
                [
                    (
                        int(p.time.timestamp()) * 1_000_000_000 // HOUR_NS,
                        p.count,
                        p.temperature_mean,
                        p.temperature_min,
                        p.temperature_max,
                        p.humidity_mean,
                        p.humidity_min,
                        p.humidity_max,
                    )
                    for p in points
                ],
                dtype=np.float64,
            ).reshape(len(points), 8)
            np.testing.assert_array_equal(table, want)
        assert tables[3].shape == (0, 8)
        assert np.isnan(tables[1][:, 2:5]).all() and np.isfinite(tables[1][:, 5:8]).all()
        assert len(tables[2]) == 72 - 5 - 24  # the silent day has no buckets


@pytest.mark.parametrize("period", ["2026-11", "2026"])
def test_report_figures_as_computed_before(seeded: Seeded, period: str) -> None:
    """Each room's standards are `compliance` of its series against each standard, its own
    profile's compliance among them, and its mould indices the worst of `room_metrics` of
    each air sensor: what the report computed before it measured them in one pass."""
    report = gather(seeded.sources(), parse_period(period), NOW, site_id="shanghai")
    for room in report.rooms:
        metrics = room.current.metrics
        assert metrics is not None and metrics.compliance is not None
        h = room.hourly
        ids = [jgj25_for(room.room.holdings) if s == "jgj25" else s for s in STANDARDS]
        assert [s.profile_id for s in room.standards] == [get_profile(i).id for i in ids]
        for pid, got in zip(ids, room.standards, strict=True):
            assert_same(got, compliance(pid, h.times, h.t_mean, h.rh_mean), pid)
        own = ids.index(room.profile.id) if room.profile.id in ids else None
        if own is not None:
            assert room.standards[own] is metrics.compliance
        air = [s.id for s in room.room.sensors if not s.surface]
        start, end = room.current.start, room.current.end
        worst_mrf = np.full(h.times.size, np.nan)
        worst_vtt = np.full(h.times.size, np.nan)
        for sensor in air:
            points = seeded.store.rollups("1h", start - timedelta(hours=1), end, sensor=sensor)
            by_hour = {p.time: p for p in points}
            t = np.array([_or_nan(by_hour, x, "temperature_mean") for x in h.times])
            rh = np.array([_or_nan(by_hour, x, "humidity_mean") for x in h.times])
            own_metrics = room_metrics(h.times, t, rh, holdings=room.room.holdings)
            ok = np.isfinite(t) & np.isfinite(rh)
            worst_mrf = np.fmax(worst_mrf, np.where(ok, own_metrics.mrf, np.nan))
            worst_vtt = np.fmax(worst_vtt, np.where(ok, own_metrics.vtt_index, np.nan))
        assert_same(metrics.mrf, worst_mrf)
        assert_same(metrics.vtt_index, worst_vtt)
        expected = room_metrics(
            h.times,
            h.t_mean,
            h.rh_mean,
            holdings=room.room.holdings,
            profile=room.profile,
            mould=(worst_mrf, worst_vtt),
        )
        assert_same(dataclasses.replace(metrics, standards=()), expected)


def _or_nan(by_hour: dict[datetime, Any], when: np.datetime64, name: str) -> float:
    seconds = int(when.astype("datetime64[s]").astype(np.int64))
    point = by_hour.get(datetime.fromtimestamp(seconds, tz=UTC))
    value = None if point is None else getattr(point, name)
    return math.nan if value is None else float(value)
