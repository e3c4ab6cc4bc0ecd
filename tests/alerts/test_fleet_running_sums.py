"""`alerts.fleet_fluctuation.RunningSums`: the fluctuation's running sums kept between runs
are the same bits as computed whole — as cycles advance within an hour, when a late reading
changes an hour inside the settle window, when the window's first hour moves, when time moves
back, and when the rows change (a reload with sensors added) — and they keep no window of
hourly values (only its first and last hours, to compare with what the cache recomputed)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from repoclimate.alerts.config import RulesConfig
from repoclimate.alerts.evaluate import ArraySource
from repoclimate.alerts.fleet import FleetEvaluator
from repoclimate.alerts.fleet_fluctuation import RunningSums, _Hourly
from repoclimate.alerts.profiles import band_for
from repoclimate.alerts.series import HourlySeries
from repoclimate.alerts.topology import Topology
from tests.alerts.test_fleet_fluctuation_carry import thinned
from tests.alerts.test_fleet_golden_changes import with_late_reading
from tests.alerts.test_golden import END, history, network

QUANTITIES = ("temperature", "humidity")
CLASSES = ["fluctuation", "mould"]


def hourly_of(values: np.ndarray) -> _Hourly:
    grid = 3600.0 * np.arange(values.shape[1], dtype=np.float64)
    return _Hourly.of_series([HourlySeries(grid, v, v) for v in values])


def rows_of(n: int, hours: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(20.0, 3.0, (n, hours)), 3)
    values[rng.random((n, hours)) < 0.1] = np.nan
    return values


def whole(values: np.ndarray) -> RunningSums:
    hourly = hourly_of(values)
    return RunningSums(("x",), hourly.grid, hourly.pad, values, hourly, "temperature")


def held_bits(a: RunningSums, first: np.ndarray) -> tuple[bytes, bytes]:
    """The sums' and counts' bits of every row from its column ``first[r]`` on."""
    end = a.grid.size + 1
    rows = range(len(a.sids))
    sums = b"".join(a.flat_sums[a.zero[r] + first[r] : a.zero[r] + end].tobytes() for r in rows)
    counts = b"".join(a.flat_counts[a.zero[r] + first[r] : a.zero[r] + end].tobytes() for r in rows)
    return sums, counts


def assert_same_bits(a: RunningSums, b: RunningSums) -> None:
    """The same bits in every column both hold."""
    first = np.maximum(a.first, b.first)
    assert held_bits(a, first) == held_bits(b, first)


def test_update_continues_from_the_first_changed_hour() -> None:
    values = rows_of(40, 300, seed=1)
    held = whole(values.copy())
    for column in (0, 3, 150, 293, 299):
        changed = values.copy()
        changed[7, column] = np.nan if column % 2 else changed[7, column] + 0.1
        changed[11, -1] += 1e-9
        hourly = hourly_of(changed)
        held.update(column, hourly.block("temperature", column, 300), hourly, "temperature")
        assert_same_bits(held, whole(changed))
        values = changed
    # what is held of the values: the first and last hours, not the window
    assert held.lead.shape[1] + held.tail.shape[1] <= 12 + 24


def test_update_wrong_would_show() -> None:
    """A kept sum not updated past a changed hour differs from the whole one (the check
    above can fail)."""
    values = rows_of(5, 50, seed=2)
    stale = whole(values.copy())
    values[2, 45] += 1.0
    assert stale.sums.tobytes() != whole(values).sums.tobytes()


def evaluator(topology: Topology, source: ArraySource) -> FleetEvaluator:
    return FleetEvaluator(topology, RulesConfig.builtin(), source, band_for)


def assert_as_fresh(ev: FleetEvaluator, topology: Topology, source: ArraySource, t: float) -> None:
    """The evaluator's sums are those of a new evaluator's first run at ``t`` (whole)."""
    fresh = evaluator(topology, source)
    fresh.run(CLASSES, np.array([t]), {})
    for q in QUANTITIES:
        assert_same_bits(ev.running_sums[q], fresh.running_sums[q])


def test_kept_sums_equal_whole_ones_cycle_for_cycle() -> None:
    topology = network(sites=1, rooms_per_site=2, sensors_per_room=4)
    # hourly readings before the last day: the window's first hour keeps its mean
    series = thinned(history(topology, END - timedelta(days=35), END), 26 * 3600.0)
    source = ArraySource(dict(series))
    ev = evaluator(topology, source)
    start = END - timedelta(hours=5)
    times = np.arange(start.timestamp() + 300.0, END.timestamp() + 1.0, 300.0)
    kept: dict[str, RunningSums] = {}
    reused = partly = 0
    late_row = -1
    for k, t in enumerate(times.tolist()):
        if k == 30:  # a damp reading 25 minutes old arrives (inside the settle window)
            source.series["x0-0-0"] = with_late_reading(series["x0-0-0"], t - 1500.0, 99.0)
        ev.run(CLASSES, np.array([t]), {})
        for q in QUANTITIES:
            now = ev.running_sums[q]
            reused += now is kept.get(q)
            partly += bool(now is kept.get(q) and now.changed.min() > 0)
            kept[q] = now
        if k == 30:
            held = ev.running_sums["humidity"]
            late_row = held.sids.index("site0/room0/x0-0-0")
            hour = np.searchsorted(held.grid, np.floor((t - 1500.0) / 3600.0) * 3600.0)
            # that row's sums were added up again from the late reading's hour
            assert held.changed[late_row] <= hour
        assert_as_fresh(ev, topology, source, t)
        for q in QUANTITIES:  # no window of values held: its first and last hours
            held = ev.running_sums[q]
            assert held.lead.shape[1] + held.tail.shape[1] <= 12 + 24 < held.grid.size / 10
    assert late_row >= 0
    # within each hour the sums were kept (11 of 12 cycles), not built anew, and mostly
    # added up again only over the last hours
    assert reused >= 2 * (len(times) - 6)
    assert partly >= 2 * (len(times) - 12)
    # the late reading is in the kept sums: those of a fresh evaluator over the changed
    # history, not those over the history without it
    for history_seen, equal in ((source, True), (ArraySource(series), False)):
        fresh = evaluator(topology, history_seen)
        fresh.run(CLASSES, np.array([float(times[-1])]), {})
        new, held = fresh.running_sums["humidity"], ev.running_sums["humidity"]
        first = np.maximum(new.first, held.first)
        assert (held_bits(new, first) == held_bits(held, first)) is equal


def test_window_moving_back_and_rows_changing_rebuild() -> None:
    before = network(sites=1, rooms_per_site=2, sensors_per_room=3)
    after = network(sites=1, rooms_per_site=2, sensors_per_room=4)
    series = history(after, END - timedelta(days=35), END)
    source = ArraySource(series)
    ev = evaluator(before, source)
    t = (END - timedelta(minutes=10)).timestamp()
    ev.run(CLASSES, np.array([t]), {})
    for back in (t - 300.0, t - 3600.0, t - 7200.0 - 300.0):  # same hour, hour before…
        ev.run(CLASSES, np.array([back]), {})
        assert_as_fresh(ev, before, source, back)
        # the cache computed its means anew (time went back): nothing is taken as kept
        assert not ev.running_sums["temperature"].changed.any()
    # a reload with a sensor more per room: another evaluator, the rows of the new registry
    reloaded = evaluator(after, source)
    reloaded.run(CLASSES, np.array([t]), {})
    assert len(reloaded.running_sums["temperature"].sids) > len(ev.running_sums["temperature"].sids)
    # and an evaluator's sums never serve other rows
    held = ev.running_sums["temperature"]
    assert not held.fits(held.sids[:-1], held.grid, held.pad)


def test_sums_held_from_later_hours_are_the_whole_ones_there() -> None:
    """Rows held from their own first columns on (the first hour a live run's trailing
    windows of each read): the same bits as the whole sums' columns there, before and after
    updates; an update from a column no row holds is refused."""
    values = rows_of(30, 200, seed=4)
    hourly = hourly_of(values)
    full = whole(values)
    first = np.array([0, 1, 57, 199, 200] * 6, dtype=np.int64)
    for held in (
        RunningSums(("x",), hourly.grid, hourly.pad, values, hourly, "temperature", 57),
        RunningSums(("x",), hourly.grid, hourly.pad, values, hourly, "temperature", first),
    ):
        assert held.flat_sums.size == int((201 - held.first).sum())  # only the columns held
        for r in range(30):
            f = int(held.first[r])
            mine = held.flat_sums[held.zero[r] + f : held.zero[r] + 201]
            assert mine.tobytes() == full.sums[r, f:].tobytes()
            counted = held.flat_counts[held.zero[r] + f : held.zero[r] + 201]
            assert np.array_equal(counted, full.counts[r, f:])
    assert held.columns(200)[0].tobytes() == full.sums[:, 200:].tobytes()
    with pytest.raises(ValueError, match="not held by every row"):
        held.columns(199)
    held = RunningSums(("x",), hourly.grid, hourly.pad, values, hourly, "temperature", first // 2)
    for column in (100, 150, 199):
        changed = values.copy()
        changed[first // 2 <= column, column] += 0.25  # in the rows holding that column
        changed[9, -1] = np.nan
        hourly = hourly_of(changed)
        held.update(column, hourly.block("temperature", column, 200), hourly, "temperature")
        sums, counts = held.columns(100)
        assert sums.tobytes() == whole(changed).sums[:, 100:].tobytes()
        assert np.array_equal(counts, whole(changed).counts[:, 100:])
        values = changed
    held = RunningSums(("x",), hourly.grid, hourly.pad, values, hourly, "temperature", 120)
    with pytest.raises(ValueError, match="held from hour 120"):
        held.update(119, hourly.block("temperature", 119, 200), hourly, "temperature")


def test_live_sums_hold_only_the_hours_read_and_equal_whole_ones() -> None:
    """With the decay's long hour grid, a live run holds each row's sums only from the first
    hour its trailing windows reach (far fewer cells than the grid's); cycle for cycle the
    columns held are the bits of a new evaluator's sums there."""
    topology = network(sites=1, rooms_per_site=3, sensors_per_room=3)
    series = thinned(history(topology, END - timedelta(days=36), END), 26 * 3600.0)
    source = ArraySource(dict(series))
    ev = evaluator(topology, source)
    classes = ["fluctuation", "mould", "decay"]
    start = END - timedelta(hours=2)
    for t in np.arange(start.timestamp() + 300.0, END.timestamp() + 1.0, 600.0).tolist():
        ev.run(classes, np.array([t]), {})
        fresh = evaluator(topology, source)
        fresh.run(classes, np.array([t]), {})
        for q in QUANTITIES:
            held, new = ev.running_sums[q], fresh.running_sums[q]
            assert np.array_equal(held.grid, new.grid)
            assert np.all(held.first <= new.first) and held.first.min() > 0
            # the rows of 24-h windows hold a few days, not the grid's weeks
            assert held.flat_sums.size < 0.8 * len(held.sids) * (held.grid.size + 1)
            k = int(new.first.max())
            assert held.columns(k)[0].tobytes() == new.columns(k)[0].tobytes()
            assert np.array_equal(held.columns(k)[1], new.columns(k)[1])
            for r in range(len(held.sids)):  # every column each row holds
                f = int(new.first[r])
                a = held.flat_sums[held.zero[r] + f : held.zero[r] + held.grid.size + 1]
                b = new.flat_sums[new.zero[r] + f : new.zero[r] + new.grid.size + 1]
                assert a.tobytes() == b.tobytes()
