"""`alerts.fleet_fluctuation.RunningSums`: the fluctuation's running sums kept between runs
are the same bits as computed whole — as cycles advance within an hour, when a late reading
changes an hour inside the settle window, when the window's first hour moves, when time moves
back, and when the rows change (a reload with sensors added) — and they keep no window of
hourly values (only its first and last hours, to compare with what the cache recomputed)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

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


def assert_same_bits(a: RunningSums, b: RunningSums) -> None:
    assert a.sums.tobytes() == b.sums.tobytes()
    assert np.array_equal(a.counts, b.counts)


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
        got = fresh.running_sums["humidity"].sums.tobytes()
        assert (got == ev.running_sums["humidity"].sums.tobytes()) is equal


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
