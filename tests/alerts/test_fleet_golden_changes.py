"""Golden comparison through changes mid-run: the fleet evaluator (with its hourly means kept
between cycles, `alerts.fleet.HourlyCache`) against the reference, cycle for cycle, when the
registry gains sensors and the rules change (the service builds a new engine over the same
alert state on reload), and when a reading arrives late, inside the settle window."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from repoclimate.alerts.config import RulesConfig
from repoclimate.alerts.engine import AlertEngine
from repoclimate.alerts.evaluate import ArraySource
from repoclimate.alerts.model import from_epoch
from repoclimate.alerts.series import SensorSeries
from repoclimate.alerts.topology import Topology
from tests.alerts.test_golden import (
    END,
    Run,
    alerts_of,
    checkpoints_of,
    due,
    history,
    make_run,
    network,
    rows_of,
    same,
    step,
)

CHANGED_RULES = RulesConfig.from_dict(
    {
        "defaults": {"excursion": {"for_minutes": 30}, "health": {"stuck_hours": 6}},
        "profiles": {"ashrae-a": {"fluctuation": {"enabled": False}}},
    }
)


def rebuilt(run: Run, topology: Topology, rules: RulesConfig, source: ArraySource) -> None:
    """A reload: a new engine over the run's alert state, as `app.services` builds it."""
    kind = "fleet" if type(run.engine.evaluator).__name__ == "FleetEvaluator" else "reference"
    run.engine = AlertEngine(
        run.derived,  # type: ignore[arg-type]
        topology,
        run.state,
        rules,
        source=source,
        evaluator=kind,
    )


def with_late_reading(series: SensorSeries, t: float, rh_pct: float) -> SensorSeries:
    i = int(np.searchsorted(series.times, t))
    return SensorSeries(
        series.sensor,
        np.insert(series.times, i, t),
        np.insert(series.temperature, i, series.temperature[max(i - 1, 0)]),
        np.insert(series.humidity, i, rh_pct),
        np.insert(series.battery, i, np.nan),
        series.start,
    )


def test_the_fleet_agrees_through_a_reload_and_a_late_reading() -> None:
    before = network(sites=2, rooms_per_site=2, sensors_per_room=4)
    after = network(sites=2, rooms_per_site=2, sensors_per_room=5)  # a sensor more per room
    series = history(after, END - timedelta(days=35), END)
    reference = make_run(before, series, "reference")
    fleet = make_run(before, series, "fleet")
    late_sensor = "x0-0-0"
    cycles = 0
    start = END - timedelta(hours=6)
    for t in np.arange(start.timestamp() + 300.0, END.timestamp() + 1.0, 300.0):
        now = from_epoch(float(t))
        if now == start + timedelta(hours=2):
            for run in (reference, fleet):
                rebuilt(run, after, CHANGED_RULES, ArraySource(series))
        if now == start + timedelta(hours=4):
            # a damp reading 25 minutes old arrives now (inside the 1-hour settle window)
            late = with_late_reading(series[late_sensor], float(t) - 1500.0, 99.0)
            for run in (reference, fleet):
                source = run.engine.evaluator.source
                assert isinstance(source, ArraySource)
                source.series[late_sensor] = late
        classes = due(reference.engine, float(t))
        for run in (reference, fleet):
            step(run, now, classes)
        cycles += 1
        assert fleet.transitions[-1] == reference.transitions[-1], f"transitions at {now}"
        assert same(alerts_of(fleet.state), alerts_of(reference.state)), f"alerts at {now}"
        assert same(checkpoints_of(fleet.state), checkpoints_of(reference.state)), now
        assert same(rows_of(fleet.derived.rows), rows_of(reference.derived.rows)), now
    assert cycles == 72
    subjects = {a[1] for a in alerts_of(reference.state)}
    assert any(s.endswith("-4") for s in subjects)  # the added sensors were judged
    # the late reading is in the hourly mean of its hour, written at the hour it arrived
    hour = start + timedelta(hours=3)
    (row,) = [
        r for r in fleet.derived.rows if r.time == hour and r.tags.get("sensor") == late_sensor
    ]

    def mean(s: SensorSeries) -> float:
        inside = s.between(hour.timestamp(), hour.timestamp() + 3599.999).humidity
        return float(np.mean(inside[~np.isnan(inside)]))

    assert row.fields["humidity"] == mean(late) != mean(series[late_sensor])
