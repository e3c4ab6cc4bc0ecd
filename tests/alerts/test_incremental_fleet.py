"""The fleet evaluator's bulk fetch from the store (`alerts.fleet_mould.fetch_store`: every
sensor's new readings in one query, the store's hourly means as `HourlyCache` blocks carried
between cycles) against the reference evaluator reading whole windows (`StoreSource`), cycle
for cycle, on the SQLite store: the alerts, the derived rows and every window the fleet
evaluated (bit for bit) — through readings arriving late inside the settle window, a sensor's
gap (and one silent, one never heard: the golden network's), a registry change (a sensor
removed, the source kept) and a restart (source and engine new, the alert state kept). The
carries must be used: the hourly blocks continue the last run's in most cycles, and the
fluctuation's and the excursion's carried state is kept for this source as for arrays."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np

from repoclimate.alerts.config import RULE_CLASSES, RulesConfig
from repoclimate.alerts.engine import AlertEngine
from repoclimate.alerts.evaluate import StoreSource
from repoclimate.alerts.fleet import FleetEvaluator
from repoclimate.alerts.incremental import IncrementalStoreSource
from repoclimate.alerts.model import from_epoch
from repoclimate.alerts.state import AlertStore
from repoclimate.alerts.topology import SiteNode, Topology
from repoclimate.history import StoreSettings, open_store
from repoclimate.history.store import Store
from tests.alerts.test_golden import END, Derived, alerts_of, due, history, network, rows_of, same
from tests.alerts.test_incremental import readings, same_hourly, same_raw

SETTLE_S = 1800.0
LATE = "x0-0-2"
"""Its readings reach the store twenty minutes late (inside the settle window)."""


def without(topology: Topology, sensor: str) -> Topology:
    """The registry with ``sensor`` removed from its room."""
    sites = []
    for site in topology.sites:
        rooms = tuple(
            replace(room, sensors=tuple(s for s in room.sensors if s.id != sensor))
            for room in site.rooms
        )
        sites.append(SiteNode(site.id, site.zone, rooms))
    return Topology(sites)


def windows_are_the_stores(engine: AlertEngine, store: Store, end: float) -> int:
    """Assert that every window the fleet evaluator evaluated is `StoreSource`'s; how many."""
    evaluator = engine.evaluator
    assert isinstance(evaluator, FleetEvaluator)
    whole = StoreSource(store)
    checked = 0
    for data in evaluator.rooms:
        for sensor, series in data.raw.items():
            assert same_raw(series, whole.raw(sensor, series.start, end)), sensor
            checked += 1
    for sensor, (_, lookback, start, block_end, gap) in _hourly_asked(evaluator).items():
        assert block_end == end
        found = next(d.hourly[sensor] for d in evaluator.rooms if sensor in d.hourly)
        assert same_hourly(found, whole.hourly(sensor, start, end, gap)), sensor
        assert lookback == end - start
        checked += 1
    return checked


def _hourly_asked(evaluator: FleetEvaluator) -> dict[str, tuple[str, float, float, float, int]]:
    """The hourly windows of the last run, by sensor, from the cache's blocks."""
    asked = {}
    for block in evaluator.hourly_cache.blocks:
        lookback = block.end - block.start
        gap = next(k[1] for k, b in evaluator.hourly_cache._blocks.items() if b is block)
        for sensor in block.sensors:
            asked[sensor] = (sensor, lookback, block.start, block.end, gap)
    return asked


def test_bulk_store_fetch_gives_the_reference_cycle_for_cycle(tmp_path: Path) -> None:
    topology = network(sites=2, rooms_per_site=2, sensors_per_room=4)
    first = END - timedelta(hours=4)
    series = history(topology, END - timedelta(days=6), END)
    place = {s.id: (s.site, s.room) for s in topology.sensors()}
    store = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp_path / "readings.sqlite"))
    begin = (END - timedelta(days=7)).timestamp()
    for sid, s in series.items():
        store.write(readings(s, *place[sid], begin, first.timestamp()))
    states = (AlertStore(tmp_path / "reference.sqlite"), AlertStore(tmp_path / "fleet.sqlite"))
    derived = (Derived(), Derived())

    def engines(topo: Topology, source: IncrementalStoreSource) -> tuple[AlertEngine, ...]:
        reference = AlertEngine(
            derived[0],  # type: ignore[arg-type]
            topo,
            states[0],
            RulesConfig.builtin(),
            source=StoreSource(store),
            evaluator="reference",
        )
        fleet = AlertEngine(
            derived[1],  # type: ignore[arg-type]
            topo,
            states[1],
            RulesConfig.builtin(),
            source=source,
        )
        return reference, fleet

    source = IncrementalStoreSource(store, settle_s=SETTLE_S)
    reference, fleet = engines(topology, source)
    written = {sid: first.timestamp() for sid in series}
    times = np.arange(first.timestamp() + 300.0, END.timestamp() + 1.0, 300.0)
    continued = cycles = carried = 0
    for n, t in enumerate(times.tolist()):
        if n == 20:  # the registry changes: a new engine, the source (and what it holds) kept
            topology = without(topology, "x1-1-1")
            reference, fleet = engines(topology, source)
        if n == 34:  # a restart: nothing held, the alert state kept
            source = IncrementalStoreSource(store, settle_s=SETTLE_S)
            reference, fleet = engines(topology, source)
        for sid, s in series.items():
            upto = t - (1200.0 if sid == LATE else 0.0)
            store.write(readings(s, *place[sid], written[sid], upto))
            written[sid] = max(written[sid], upto)
        classes = [name for name in due(reference, t) if name in RULE_CLASSES]
        now = from_epoch(t)
        reference.run(now, classes)
        queries, asked = source.queries, source.arrival_queries
        fleet.run(now, classes)
        assert same(alerts_of(states[1]), alerts_of(states[0])), now
        assert same(rows_of(derived[1].rows), rows_of(derived[0].rows)), now
        assert windows_are_the_stores(fleet, store, t) > 0
        assert isinstance(fleet.evaluator, FleetEvaluator)
        blocks = fleet.evaluator.hourly_cache.blocks
        if blocks:  # the classes with hourly means were due
            cycles += 1
            # the fluctuation's hysteresis is carried for the store's source too
            carried += fleet.evaluator.fluctuation_carry is not None
        if blocks and all(b.previous >= 0 and b.recomputed_from > b.head for b in blocks):
            continued += 1
            # raw, and means per block; what arrived asked once, again by a block held from
            # an earlier cycle
            asked = source.arrival_queries - asked
            assert source.queries - queries - asked == 1 + len(blocks)
            assert 1 <= asked <= 1 + len(blocks)
    assert len(alerts_of(states[0])) > 5
    assert derived[0].rows
    assert continued >= cycles * 2 // 3
    assert carried == cycles
    kept = fleet.evaluator.excursion_kept
    assert kept is not None and kept.runs_carried >= 10  # since the restart
    for state in states:
        state.close()
    store.close()
