"""`alerts.fleet.RunningSums`: the fluctuation's running sums kept between runs are the same
bits as computed whole — as cycles advance within an hour, when a late reading changes an
hour inside the settle window, when the window's first hour moves, when time moves back, and
when the rows change (a reload with sensors added)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from repoclimate.alerts.config import RulesConfig
from repoclimate.alerts.evaluate import ArraySource
from repoclimate.alerts.fleet import FleetEvaluator, RunningSums, _HourlyRows
from repoclimate.alerts.profiles import band_for
from repoclimate.alerts.series import HourlySeries
from repoclimate.alerts.topology import Topology
from tests.alerts.test_fleet_golden_changes import with_late_reading
from tests.alerts.test_golden import END, history, network

QUANTITIES = ("temperature", "humidity")


def rows_of(n: int, hours: int, seed: int) -> tuple[_HourlyRows, np.ndarray]:
    rng = np.random.default_rng(seed)
    grid = 3600.0 * np.arange(hours, dtype=np.float64)
    values = np.round(rng.normal(20.0, 3.0, (n, hours)), 3)
    values[rng.random((n, hours)) < 0.1] = np.nan
    series = [HourlySeries(grid, values[k], values[k]) for k in range(n)]
    return _HourlyRows.of(series), values


def whole(evaluator: FleetEvaluator, quantity: str) -> RunningSums:
    """The sums of the evaluator's last run computed from nothing."""
    held = evaluator.running_sums[quantity]
    return RunningSums.of(held.sids, _rows(held), held.values)


def _rows(held: RunningSums) -> _HourlyRows:
    series = [HourlySeries(held.grid, v, v) for v in held.values]
    return _HourlyRows.of(series)


def assert_same_bits(a: RunningSums, b: RunningSums) -> None:
    assert a.sums.tobytes() == b.sums.tobytes()
    assert np.array_equal(a.counts, b.counts)


def test_update_continues_from_the_first_changed_hour() -> None:
    rows, values = rows_of(40, 300, seed=1)
    held = RunningSums.of(("x",), rows, values.copy())
    assert held.update(values.copy()) == 300  # nothing changed: nothing computed
    for column in (0, 3, 150, 293, 299):
        changed = values.copy()
        changed[7, column] = np.nan if column % 2 else changed[7, column] + 0.1
        changed[11, -1] += 1e-9
        assert held.update(changed) == column
        assert_same_bits(held, RunningSums.of(("x",), rows, changed))
        values = changed


def test_update_wrong_would_show() -> None:
    """A kept sum not updated past a changed hour differs from the whole one (the check
    above can fail)."""
    rows, values = rows_of(5, 50, seed=2)
    stale = RunningSums.of(("x",), rows, values.copy())
    values[2, 45] += 1.0
    assert stale.sums.tobytes() != RunningSums.of(("x",), rows, values).sums.tobytes()


def evaluator(topology: Topology, source: ArraySource) -> FleetEvaluator:
    return FleetEvaluator(topology, RulesConfig.builtin(), source, band_for)


def run(ev: FleetEvaluator, t: float) -> dict[str, int]:
    results = ev.run(["fluctuation", "mould"], np.array([t]), {})
    return {q: ev.running_sums[q].sums.shape[1] for q in QUANTITIES} | {
        "findings": len(results["fluctuation"].output.findings)
    }


def test_kept_sums_equal_whole_ones_cycle_for_cycle() -> None:
    topology = network(sites=1, rooms_per_site=2, sensors_per_room=4)
    series = history(topology, END - timedelta(days=35), END)
    source = ArraySource(series)
    ev = evaluator(topology, source)
    start = END - timedelta(hours=5)
    times = np.arange(start.timestamp() + 300.0, END.timestamp() + 1.0, 300.0)
    kept: dict[str, RunningSums] = {}
    reused = 0
    for k, t in enumerate(times.tolist()):
        if k == 30:  # a damp reading 25 minutes old arrives (inside the settle window)
            source.series["x0-0-0"] = with_late_reading(series["x0-0-0"], t - 1500.0, 99.0)
        run(ev, t)
        for q in QUANTITIES:
            now = ev.running_sums[q]
            reused += now is kept.get(q)
            kept[q] = now
            assert_same_bits(now, whole(ev, q))
    # within each hour the sums were kept (11 of 12 cycles), not built anew
    assert reused >= 2 * (len(times) - 6)
    # the late reading is in the kept sums: those of a fresh evaluator over the changed
    # history, not those over the history without it
    for history_seen, equal in ((source, True), (ArraySource(series), False)):
        fresh = evaluator(topology, history_seen)
        run(fresh, float(times[-1]))
        got = fresh.running_sums["humidity"].sums.tobytes()
        assert (got == ev.running_sums["humidity"].sums.tobytes()) is equal


def test_window_moving_back_and_rows_changing_rebuild() -> None:
    before = network(sites=1, rooms_per_site=2, sensors_per_room=3)
    after = network(sites=1, rooms_per_site=2, sensors_per_room=4)
    series = history(after, END - timedelta(days=35), END)
    source = ArraySource(series)
    ev = evaluator(before, source)
    t = (END - timedelta(minutes=10)).timestamp()
    run(ev, t)
    for back in (t - 300.0, t - 3600.0, t - 7200.0 - 300.0):  # same hour, hour before…
        run(ev, back)
        for q in QUANTITIES:
            assert_same_bits(ev.running_sums[q], whole(ev, q))
            fresh = evaluator(before, source)
            run(fresh, back)
            assert_same_bits(fresh.running_sums[q], ev.running_sums[q])
    # a reload with a sensor more per room: another evaluator, the rows of the new registry
    reloaded = evaluator(after, source)
    run(reloaded, t)
    assert len(reloaded.running_sums["temperature"].sids) > len(ev.running_sums["temperature"].sids)
    # and an evaluator's sums never serve other rows
    held = ev.running_sums["temperature"]
    assert not held.fits(held.sids[:-1], _rows(held))
