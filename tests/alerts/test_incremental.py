"""The incremental store source against the plain one: over a real SQLite store that receives
the network's readings as time goes on (some of them late), an engine reading only what arrived
gives the alerts and derived rows of one reading whole windows, cycle for cycle, and reads a
small part of what the other reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from repoclimate.alerts.config import RulesConfig
from repoclimate.alerts.engine import AlertEngine
from repoclimate.alerts.evaluate import StoreSource
from repoclimate.alerts.incremental import IncrementalStoreSource
from repoclimate.alerts.model import from_epoch
from repoclimate.alerts.series import SensorSeries
from repoclimate.alerts.state import AlertStore
from repoclimate.history import StoreSettings, open_store
from repoclimate.history.store import Store
from repoclimate.sensors.reading import Reading
from tests.alerts.test_golden import END, Derived, alerts_of, due, history, network, rows_of, same

SETTLE_S = 1800.0


class CountingSource(StoreSource):
    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.readings_read = 0

    def raw(self, sensor: str, start: float, end: float) -> SensorSeries:
        found = super().raw(sensor, start, end)
        self.readings_read += len(found)
        return found


def readings(s: SensorSeries, site: str, room: str, lo: float, hi: float) -> list[Reading]:
    """The readings of ``s`` with ``lo < time <= hi``."""
    keep = (s.times > lo) & (s.times <= hi)
    return [
        Reading(
            s.sensor,
            datetime.fromtimestamp(float(t), UTC),
            None if np.isnan(a) else float(a),
            None if np.isnan(b) else float(b),
            None if np.isnan(c) else float(c),
            site=site,
            room=room,
        )
        for t, a, b, c in zip(
            s.times[keep], s.temperature[keep], s.humidity[keep], s.battery[keep], strict=True
        )
    ]


def test_reading_only_what_arrived_gives_the_alerts_of_reading_whole_windows(
    tmp_path: Path,
) -> None:
    topology = network(sites=2, rooms_per_site=2, sensors_per_room=4)
    first = END - timedelta(hours=8)
    series = history(topology, END - timedelta(days=6), END)
    place = {s.id: (s.site, s.room) for s in topology.sensors()}
    store = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp_path / "readings.sqlite"))
    begin = (END - timedelta(days=7)).timestamp()
    for sid, s in series.items():
        store.write(readings(s, *place[sid], begin, first.timestamp()))

    whole = CountingSource(store)
    incremental = IncrementalStoreSource(store, settle_s=SETTLE_S)
    runs = []
    for source in (whole, incremental):
        derived = Derived()
        state = AlertStore(":memory:")
        engine = AlertEngine(
            derived,  # type: ignore[arg-type]
            topology,
            state,
            RulesConfig.builtin(),
            source=source,
        )
        runs.append((engine, state, derived))
    late = "x0-0-2"  # this sensor (its damp spell)'s readings reach the store twenty minutes late
    written = {sid: first.timestamp() for sid in series}
    for t in np.arange(first.timestamp() + 300.0, END.timestamp() + 1.0, 300.0):
        for sid, s in series.items():
            upto = float(t) - (1200.0 if sid == late else 0.0)
            store.write(readings(s, *place[sid], written[sid], upto))
            written[sid] = max(written[sid], upto)
        now = from_epoch(float(t))
        classes = due(runs[0][0], float(t))
        for engine, _, _ in runs:
            engine.run(now, classes)
        assert same(alerts_of(runs[1][1]), alerts_of(runs[0][1])), now
        assert same(rows_of(runs[1][2].rows), rows_of(runs[0][2].rows)), now
    assert len(alerts_of(runs[0][1])) > 10
    assert runs[0][2].rows
    # the first cycle reads the windows whole; then each reads about the settle window
    assert incremental.readings_read < whole.readings_read / 5
    store.close()
